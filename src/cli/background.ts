/**
 * Background mode: `bucketfs mount` starts the daemon as a detached child and returns only when
 * the mount is ready (exit 0) or has failed (the error printed, exit 1), like s3fs and rclone.
 * The request and the readiness travel over IPC.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { defaultCacheDir, idOf } from "../mount/dirs.js";
import type { DaemonRequest } from "./daemon.js";

const READY_TIMEOUT_MS = 60_000;

interface ReadyMessage {
  ready: boolean;
  error?: string;
}

/** The one message the launching process sends: what to mount. */
interface RequestMessage {
  request: DaemonRequest;
}

/** Where the daemon of `mountpoint` writes its log by default: under the cache dir. */
export function defaultLogFile(cacheDir: string | undefined, mountpoint: string): string {
  return join(cacheDir ?? defaultCacheDir(), "logs", `${idOf(mountpoint)}.log`);
}

/** `--log-file -`: the daemon writes to the stderr `bucketfs mount` was given (journald under systemd). */
export const LOG_TO_STDERR = "-";

/**
 * V8's young generation grows to 3 × 16 MiB semi-spaces by default; the daemon's garbage is
 * short-lived and small (bulk bytes stay in native memory), so 4 MiB semi-spaces keep the peak
 * resident size down at no measured cost in CPU.
 */
const DAEMON_NODE_FLAGS = ["--max-semi-space-size=4"];

/** A daemon process started before its request is known: it loads its modules meanwhile. */
export interface PendingDaemon {
  /** Where its stdout and stderr go (fixed when it was started). */
  readonly logFile: string;
  /** Sends the request; resolves once the mount is ready, rejects with the daemon's error. */
  start(req: DaemonRequest): Promise<{ pid: number; logFile: string }>;
  /** Stops it (it has done nothing yet) and removes the log file if it made an empty one. */
  cancel(): void;
}

/**
 * Starts the daemon as a detached child, its stdout and stderr on `logFile`. The source and
 * mountpoint on its command line make room for the title (setDaemonTitle) and let `pgrep -f
 * /mnt/x` find it even before it sets it. The request follows over IPC (start), so the child's
 * Node start and module loading overlap the launching process's option checks.
 */
export function spawnDaemon(source: string, mountpoint: string, logFile: string, entryScript: string): PendingDaemon {
  const toStderr = logFile === LOG_TO_STDERR;
  const madeLog = !toStderr && !existsSync(logFile);
  if (!toStderr) mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  const out = toStderr ? undefined : openSync(logFile, "a", 0o600);
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, entryScript, "__daemon", source, mountpoint], {
    detached: true,
    stdio: ["ignore", out ?? "ignore", out ?? "inherit", "ipc"],
  });
  if (out !== undefined) closeSync(out); // the child has its own copy
  // Made at once, so an exit before start() (a crash while loading) is not missed.
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    logFile,
    start: (req) => {
      const request: DaemonRequest = { ...req, config: { ...req.config, logFile } };
      // With a callback, a child that already died reports through its exit, not an 'error' event.
      if (child.connected) child.send({ request } satisfies RequestMessage, () => undefined);
      return readiness(child, logFile, exited);
    },
    cancel: () => {
      child.kill("SIGKILL");
      if (child.connected) child.disconnect();
      child.unref();
      if (madeLog && statSync(logFile, { throwIfNoEntry: false })?.size === 0) rmSync(logFile, { force: true });
    },
  };
}

function readiness(
  child: ChildProcess,
  logFile: string,
  exited: Promise<number | null>,
): Promise<{ pid: number; logFile: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the mount did not become ready within ${READY_TIMEOUT_MS / 1000} s; see ${logFile}`)),
      READY_TIMEOUT_MS,
    );
    child.once("message", (message: ReadyMessage) => {
      clearTimeout(timer);
      child.disconnect();
      child.unref();
      if (message.ready) resolve({ pid: child.pid ?? 0, logFile });
      else reject(new Error(message.error ?? "mount failed"));
    });
    // After a ready message this rejects a settled promise: no effect.
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the mount daemon exited (code ${code}) before it was ready; see ${logFile}`));
    });
  });
}

/**
 * What ps and pgrep -f show for a mount's daemon, like s3fs's command line: `bucketfs SOURCE
 * MOUNTPOINT`, so an admin tells daemons apart. Linux keeps the title in the space of the
 * original command line, which holds both (spawnDaemon puts them there).
 */
export function setDaemonTitle(req: Pick<DaemonRequest, "source" | "mountpoint">): void {
  process.title = `bucketfs ${req.source.url} ${req.mountpoint}`;
}

/**
 * In the daemon child: the request from the launching process. If that process goes away first
 * (killed, or it found the options invalid), the channel closes and the daemon ends.
 */
export function requestFromParent(): Promise<DaemonRequest> {
  return new Promise((resolve) => {
    const gone = (): never => process.exit(1);
    process.once("disconnect", gone);
    process.once("message", (message: RequestMessage) => {
      process.off("disconnect", gone);
      resolve(message.request);
    });
  });
}

/** In the daemon child: report readiness to the parent, then detach from it. */
export function reportToParent(error?: string): void {
  if (!process.send) return;
  process.send({ ready: !error, error } satisfies ReadyMessage, () => process.disconnect?.());
}
