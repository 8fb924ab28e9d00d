/**
 * The mount process: preflight checks, the composition root (store → filesystem → FUSE
 * adapter), readiness, and an orderly shutdown that uploads unsaved data before unmounting.
 * In background mode it reports readiness (or the error) to the launching process over IPC.
 */
import { resolve } from "node:path";
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import { FuseAdapter } from "../fuse/adapter.js";
import { FuseSession, unmountPath } from "../fuse/binding.js";
import { createLogger, type Logger } from "../log/logger.js";
import { createFilesystem, type Filesystem } from "../vfs/index.js";
import { defaultCacheDir, stagingDirFor } from "./dirs.js";
import { isMountpoint, removeMountRecord, writeMountRecord } from "./mount-table.js";
import { checkFuseDevice, checkMountpoint, checkStoreAccess } from "./preflight.js";
import { createStore } from "./store-factory.js";

export interface DaemonRequest {
  source: Source;
  mountpoint: string;
  config: MountConfig;
  fuseOptions: string[];
}

/** How often the daemon checks that its mount still exists (someone may fusermount -u it). */
const MOUNT_WATCH_MS = 2_000;

export async function runDaemon(req: DaemonRequest, ready: (error?: string) => void): Promise<void> {
  const log = createLogger({ level: req.config.logLevel });
  const mountpoint = resolve(req.mountpoint);
  let fs: Filesystem;
  try {
    checkFuseDevice();
    checkMountpoint(mountpoint, req.fuseOptions.includes("nonempty"));
    const store = createStore(req.source, req.config);
    await checkStoreAccess(store, req.config.endpoint);
    fs = createFilesystem({
      store, prefix: req.source.prefix, log, readOnly: req.config.readOnly,
      stagingDir: stagingDirFor(req.config.cacheDir ?? defaultCacheDir(), req.source.url),
      uid: req.config.uid, gid: req.config.gid, metadataTtlMs: req.config.metadataTtl,
      upload: { partSize: req.config.partSize, concurrency: req.config.uploadConcurrency },
    });
    const session = new FuseSession(mountpoint, new FuseAdapter(fs, log).operations(), fuseOptionsFor(req));
    await session.mount();
  } catch (err) {
    ready(err instanceof Error ? err.message : String(err));
    throw err;
  }
  writeMountRecord({ pid: process.pid, source: req.source.url, mountpoint, startedAt: new Date().toISOString(), logFile: req.config.logFile });
  log.info({ source: req.source.url, mountpoint }, "mounted");
  ready();
  installShutdown(fs, mountpoint, log);
}

function fuseOptionsFor(req: DaemonRequest): string[] {
  const options = [
    `fsname=${req.source.url}`, "subtype=bucketfs", "big_writes", "max_write=131072", "max_read=131072",
    // Keep page cache across opens while size and mtime are unchanged (re-reads stay local).
    "auto_cache",
    ...(req.config.readOnly ? ["ro"] : []),
    ...(req.config.allowOther ? ["allow_other", "default_permissions"] : []),
  ];
  for (const option of req.fuseOptions) if (!options.includes(option)) options.push(option);
  return options;
}

function installShutdown(fs: Filesystem, mountpoint: string, log: Logger): void {
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) {
      log.warn({ reason }, "second signal: exiting now; unsaved data stays in the staging directory");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "unmounting: uploading unsaved data first");
    const failed = await fs.flushAll();
    if (failed.length > 0) log.error({ failed }, "some files could not be uploaded; their data is kept in the staging directory");
    if (isMountpoint(mountpoint)) await unmountPath(mountpoint).catch(() => unmountPath(mountpoint, true)).catch((err: unknown) => log.error({ err }, "unmount failed"));
    removeMountRecord(mountpoint);
    log.info("unmounted");
    process.exit(failed.length > 0 ? 1 : 0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => void stop("SIGHUP"));
  const watch = setInterval(() => {
    if (!stopping && !isMountpoint(mountpoint)) void stop("unmounted externally");
  }, MOUNT_WATCH_MS);
  watch.unref();
  // Any stray exception must not kill a mount with data in flight: log it and carry on.
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
}
