/**
 * `bucketfs mount` and `bucketfs unmount`. Loaded only when one of them runs (main.ts imports it
 * at the command boundary): the daemon, the FUSE binding and the store clients stay out of
 * `bucketfs --version`, `list` and `status`.
 */
import { fileURLToPath } from "node:url";
import { resolveMountOptions } from "../config/load.js";
import { parseSource } from "../config/source.js";
import { setDaemonTitle, startInBackground } from "./background.js";
import type { DaemonRequest } from "./daemon.js";
import { daemonAlive } from "./mount-health.js";
import {
  isMountpoint,
  processAlive,
  readMountRecord,
  removeMountRecord,
  takeExitReport,
  UploadsFailedError,
} from "./mount-table.js";
import { realpathOr } from "./paths.js";
import { UsageError } from "./preflight.js";

const ENTRY = fileURLToPath(new URL("../../bin/bucketfs.js", import.meta.url));

export async function mount(source: string, mountpoint: string, flags: Record<string, unknown>): Promise<void> {
  const { options, ...rest } = flags;
  const { config, fuseOptions } = resolveMountOptions(rest, (options as string[] | undefined) ?? []);
  const req: DaemonRequest = { source: parseSource(source), mountpoint: realpathOr(mountpoint), config, fuseOptions };
  if (config.foreground) {
    setDaemonTitle(req);
    // The daemon (FUSE, stores, caches) is loaded only here: in background mode its own process loads it.
    const { runDaemon } = await import("./daemon.js");
    await runDaemon(req, (error) => {
      if (!error) console.error(`bucketfs: ${req.source.url} mounted on ${req.mountpoint}`);
    });
    return;
  }
  const { pid, logFile } = await startInBackground(req, ENTRY);
  console.log(`bucketfs: ${req.source.url} mounted on ${req.mountpoint} (daemon pid ${pid}, log ${logFile})`);
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
