/**
 * Background mode: `bucketfs mount` starts the daemon as a detached child and returns only when
 * the mount is ready (exit 0) or has failed (the error printed, exit 1), like s3fs and rclone.
 * The request travels as JSON in an environment variable; readiness comes back over IPC.
 */
import { spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import { defaultCacheDir, idOf } from "../mount/dirs.js";
import type { DaemonRequest } from "./daemon.js";

export const DAEMON_ENV = "BUCKETFS_DAEMON_REQUEST";
const READY_TIMEOUT_MS = 60_000;

interface ReadyMessage {
  ready: boolean;
  error?: string;
}

export function defaultLogFile(req: DaemonRequest): string {
  return join(req.config.cacheDir ?? defaultCacheDir(), "logs", `${idOf(req.mountpoint)}.log`);
}

/** `--log-file -`: the daemon writes to the stderr `bucketfs mount` was given (journald under systemd). */
export const LOG_TO_STDERR = "-";

/**
 * V8's young generation grows to 3 × 16 MiB semi-spaces by default; the daemon's garbage is
 * short-lived and small (bulk bytes stay in native memory), so 4 MiB semi-spaces keep the peak
 * resident size down at no measured cost in CPU.
 */
const DAEMON_NODE_FLAGS = ["--max-semi-space-size=4"];

export function startInBackground(req: DaemonRequest, entryScript: string): Promise<{ pid: number; logFile: string }> {
  const logFile = req.config.logFile ?? defaultLogFile(req);
  if (logFile !== LOG_TO_STDERR) mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  const out = logFile === LOG_TO_STDERR ? "inherit" : openSync(logFile, "a", 0o600);
  const request: DaemonRequest = { ...req, config: { ...req.config, logFile } };
  // The source and mountpoint on the command line make room for the title (daemonTitle) and let
  // `pgrep -f /mnt/x` find the daemon even before it sets it.
  const child = spawn(
    process.execPath,
    [...DAEMON_NODE_FLAGS, entryScript, "__daemon", req.source.url, req.mountpoint],
    {
      detached: true,
      stdio: ["ignore", out === "inherit" ? "ignore" : out, out, "ipc"],
      env: { ...process.env, [DAEMON_ENV]: JSON.stringify(request) },
    },
  );
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
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the mount daemon exited (code ${code}) before it was ready; see ${logFile}`));
    });
  });
}

/**
 * What ps and pgrep -f show for a mount's daemon, like s3fs's command line: `bucketfs SOURCE
 * MOUNTPOINT`, so an admin tells daemons apart. Linux keeps the title in the space of the
 * original command line, which holds both (startInBackground puts them there).
 */
export function setDaemonTitle(req: Pick<DaemonRequest, "source" | "mountpoint">): void {
  process.title = `bucketfs ${req.source.url} ${req.mountpoint}`;
}

/** In the daemon child: report readiness to the parent, then detach from it. */
export function reportToParent(error?: string): void {
  if (!process.send) return;
  process.send({ ready: !error, error } satisfies ReadyMessage, () => process.disconnect?.());
}
