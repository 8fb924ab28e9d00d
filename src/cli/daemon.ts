/**
 * The mount process, thin: preflight, Mount.open (src/mount builds everything), bind FUSE,
 * report readiness, wait for a signal or an external unmount, then drain (upload unsaved data),
 * unmount and Mount.close. In background mode it reports readiness (or the error) to the
 * launching process over IPC.
 */
import { resolve } from "node:path";
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import { FuseAdapter } from "../fuse/adapter.js";
import { createSession, resolveBinding, unmountPath } from "../fuse/binding.js";
import { createLogger, type Logger } from "../log/logger.js";
import { Mount } from "../mount/mount.js";
import { isMountpoint, removeMountRecord, writeExitReport, writeMountRecord } from "./mount-table.js";
import { checkFuseDevice, checkMountpoint, checkStoreAccess } from "./preflight.js";

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
  let mount: Mount | undefined;
  try {
    checkFuseDevice();
    checkMountpoint(mountpoint, req.fuseOptions.includes("nonempty"));
    const binding = await resolveBinding(req.config.fuseBinding, (message) => log.warn(message));
    mount = await Mount.open(
      { source: req.source, mountpoint, config: req.config },
      {
        log,
        nativeFill: binding.kind === "native" ? binding.addon.fill : undefined,
        nativeHead: binding.kind === "native" ? binding.addon.head : undefined,
        checkAccess: (store) => checkStoreAccess(store, req.config.endpoint, req.source.scheme),
      },
    );
    await mount.start();
    const ops = new FuseAdapter(
      mount.served,
      log,
      mount.metrics.fuseOperation,
      mount.served.pageCacheMode?.bind(mount.served),
    ).operations();
    const session = createSession(mountpoint, ops, fuseOptionsFor(req, mount), binding, {
      accelerator: mount.accelerator(),
      observe: mount.metrics.fuseOperation,
    });
    await session.mount();
    if (session.nativeStats) mount.metrics.watchNativeReads(session.nativeStats);
    log.info({ binding: session.binding }, "FUSE binding");
  } catch (err) {
    await mount?.close();
    ready(err instanceof Error ? err.message : String(err));
    throw err;
  }
  writeMountRecord({
    pid: process.pid,
    source: req.source.url,
    mountpoint,
    startedAt: new Date().toISOString(),
    logFile: req.config.logFile,
  });
  log.info({ source: req.source.url, mountpoint }, "mounted");
  mount.ready();
  ready();
  installShutdown(mount, mountpoint, log);
}

function fuseOptionsFor(req: DaemonRequest, mount: Mount): string[] {
  const options = [
    `fsname=${req.source.url}`,
    "subtype=bucketfs",
    "big_writes",
    "max_write=131072",
    "max_read=131072",
    ...pageCacheOptions(mount),
    ...(mount.readOnly ? ["ro"] : []),
    // An immutable tree (an IDC index version): let the kernel keep names and attributes for an hour.
    ...(mount.immutable ? ["entry_timeout=3600", "attr_timeout=3600", "negative_timeout=60"] : []),
    ...(req.config.allowOther ? ["allow_other", "default_permissions"] : []),
  ];
  for (const option of req.fuseOptions) if (!options.includes(option)) options.push(option);
  return options;
}

/**
 * The kernel's page cache is one per file, shared by every open: both bindings decide per open
 * whether it may be kept, must be dropped or bypassed (src/vfs/page-cache.ts), so a reader keeps
 * the version it opened while another open reads a newer one. auto_cache would override that.
 * An immutable tree (IDC) never changes: there the cache is kept while size and mtime are unchanged.
 */
function pageCacheOptions(mount: Mount): string[] {
  return mount.immutable ? ["auto_cache"] : [];
}

function installShutdown(mount: Mount, mountpoint: string, log: Logger): void {
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) {
      log.warn({ reason }, "second signal: exiting now; unsaved data stays in the staging directory");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "unmounting: uploading unsaved data first");
    const failed = await mount.drain();
    if (failed.length > 0) {
      log.error({ failed }, "some files could not be uploaded; their data is kept in the staging directory");
      writeExitReport(mountpoint, { failed });
    }
    log.info({ failed: failed.length }, "unsaved data handled: detaching the mount, then closing");
    if (isMountpoint(mountpoint))
      await unmountPath(mountpoint)
        .catch(() => unmountPath(mountpoint, true))
        .catch((err: unknown) => log.error({ err }, "unmount failed"));
    removeMountRecord(mountpoint);
    await mount.close();
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
