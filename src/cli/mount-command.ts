/**
 * `bucketfs mount` and `bucketfs unmount`. Loaded only when one of them runs (main.ts imports it
 * at the command boundary): the daemon, the FUSE binding and the store clients stay out of
 * `bucketfs --version`, `list` and `status`.
 */
import { fileURLToPath } from "node:url";
import { collectMountOptions } from "../config/raw-options.js";
import { parseSource } from "../config/source.js";
import { defaultLogFile, setDaemonTitle, spawnDaemon, type PendingDaemon } from "./background.js";
import type { DaemonRequest } from "./daemon.js";
import { daemonAlive } from "./mount-health.js";
import { isMountpoint, readMountRecord, removeMountRecord, takeExitReport, UploadsFailedError } from "./mount-table.js";
import { processAlive } from "../os/process-alive.js";
import { realpathOr } from "./paths.js";
import { UsageError } from "./preflight.js";

const ENTRY = fileURLToPath(new URL("../../bin/bucketfs.js", import.meta.url));

export async function mount(source: string, mountpoint: string, flags: Record<string, unknown>): Promise<void> {
  const { options, ...rest } = flags;
  const dashO = (options as string[] | undefined) ?? [];
  const path = realpathOr(mountpoint);
  const collected = collectMountOptions(rest, dashO);
  const early = startEarly(source, path, collected.raw);
  let req: DaemonRequest;
  try {
    // The option checks (zod) load only now, while the early daemon starts Node and its modules.
    const { checkMountOptions } = await import("../config/load.js");
    const { config, fuseOptions } = checkMountOptions(collected);
    req = { source: parseSource(source), mountpoint: path, config, fuseOptions };
  } catch (err) {
    early?.cancel();
    throw err;
  }
  if (req.config.foreground) {
    early?.cancel();
    setDaemonTitle(req);
    // The daemon (FUSE, stores, caches) is loaded only here: in background mode its own process loads it.
    const { runDaemon } = await import("./daemon.js");
    await runDaemon(req, (error) => {
      if (!error) console.error(`bucketfs: ${req.source.url} mounted on ${req.mountpoint}`);
    });
    return;
  }
  const logFile = req.config.logFile ?? defaultLogFile(req.config.cacheDir, path);
  let daemon = early;
  if (daemon?.logFile !== logFile) {
    // The checked options put the log elsewhere than their raw values said: start over, there.
    daemon?.cancel();
    daemon = spawnDaemon(source, path, logFile, ENTRY);
  }
  const { pid } = await daemon.start(req);
  console.log(`bucketfs: ${req.source.url} mounted on ${req.mountpoint} (daemon pid ${pid}, log ${logFile})`);
}

/**
 * The daemon, started before the options are checked, so the two processes overlap on two cores
 * (docs/benchmarks.md, "Startup"). Its log file must be known at start: it comes from the raw
 * options here, and mount() starts over in the rare case the checked ones disagree. Not for
 * --foreground, nor when the raw options cannot even say where the log goes.
 */
function startEarly(source: string, mountpoint: string, raw: Record<string, unknown>): PendingDaemon | undefined {
  try {
    if (raw.foreground !== undefined) return undefined;
    const { cacheDir, logFile } = raw;
    if (cacheDir !== undefined && (typeof cacheDir !== "string" || cacheDir === "")) return undefined;
    const log = logFile ?? defaultLogFile(cacheDir, mountpoint);
    if (typeof log !== "string" || log === "") return undefined;
    return spawnDaemon(source, mountpoint, log, ENTRY);
  } catch {
    return undefined; // e.g. the log directory cannot be made: mount() reports it with the checked options
  }
}

export async function unmount(mountpoint: string, opts: { lazy?: boolean }): Promise<void> {
  const { unmountPath } = await import("../fuse/binding.js");
  const path = realpathOr(mountpoint);
  const record = readMountRecord(path);
  if (record && daemonAlive(record.pid)) {
    // The daemon uploads unsaved data, unmounts and exits; wait for it so data is safe on return.
    process.kill(record.pid, "SIGTERM");
    for (let waited = 0; processAlive(record.pid); waited += 100) {
      if (waited > 10 * 60_000) throw new UsageError(`daemon ${record.pid} did not stop within 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = takeExitReport(path);
    if (report) {
      if (isMountpoint(path)) await unmountPath(path, true);
      removeMountRecord(path);
      throw new UploadsFailedError(
        `unmounted ${path}, but ${report.failed.length} file(s) could not be uploaded: ${report.failed.join(", ")}; their data is kept in the staging directory (see the daemon log)`,
      );
    }
  } else if (isMountpoint(path)) {
    // No live daemon serves this mount: it is stale ("Transport endpoint is not connected").
    // A lazy unmount detaches it at once; a plain one could block or fail while programs hold it.
    console.error(`bucketfs: no daemon serves ${path}; removing the stale mount`);
    await unmountPath(path, true);
  }
  if (isMountpoint(path)) await unmountPath(path, opts.lazy);
  removeMountRecord(path);
  console.log(`bucketfs: unmounted ${path}`);
}
