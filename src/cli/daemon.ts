/**
 * The mount process: preflight checks, the composition root (store → filesystem → FUSE
 * adapter), readiness, and an orderly shutdown that uploads unsaved data before unmounting.
 * In background mode it reports readiness (or the error) to the launching process over IPC.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { releaseLock, takeLock } from "../cache/cache-lock.js";
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import { FuseAdapter } from "../fuse/adapter.js";
import { createSession, resolveBinding, unmountPath } from "../fuse/binding.js";
import { createLogger, type Logger } from "../log/logger.js";
import { createReadChain, type ReadChain, type ReadChainOptions } from "../read/read-chain.js";
import { createFilesystem, Filesystem, type MountedFilesystem } from "../vfs/index.js";
import { defaultCacheDir, readCacheDir, stagingDirFor, uploadJournalPathFor, attributesPathFor } from "../mount/dirs.js";
import { isMountpoint, removeMountRecord, writeExitReport, writeMountRecord } from "./mount-table.js";
import { checkFuseDevice, checkMountpoint, checkStoreAccess } from "./preflight.js";
import { openIdcForMount } from "./idc-command.js";
import { createMountService, type MountService } from "../mount/service.js";
import { createStore } from "../mount/stores.js";
import { openMountSecurity } from "../security/index.js";
import type { ChunkFileCodec } from "../cache/chunk-cache.js";

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
  let fs: MountedFilesystem;
  let service: MountService | undefined;
  let chain: ReadChain | undefined;
  try {
    checkFuseDevice();
    checkMountpoint(mountpoint, req.fuseOptions.includes("nonempty"));
    const security = openMountSecurity(req.source, req.config);
    service = createMountService({ source: req.source.url, mountpoint, config: req.config }, await createStore(req.source, req.config), log);
    const store = service.store;
    await checkStoreAccess(store, req.config.endpoint, req.source.scheme);
    const binding = resolveBinding(req.config.fuseBinding, (message) => log.warn(message));
    const nativeFill = binding.kind === "native" ? {
      fill: binding.addon.fill, caFile: req.config.caBundle, timeoutSeconds: Math.max(1, Math.ceil(req.config.requestTimeout / 1000)),
      observe: (bytes: number, ms: number, ok: boolean) => service?.store.nativeGet(bytes, ms, ok),
    } : undefined;
    chain = openReadChain(req, service, log, security.atRest?.chunkCodec, nativeFill);
    fs = req.source.scheme === "idc" ? await openIdcForMount(req.config, store, chain, log) : createFilesystem({
      store, prefix: req.source.prefix, log, readOnly: req.config.readOnly,
      stagingDir: lockStaging(stagingDirFor(req.config.cacheDir ?? defaultCacheDir(), req.source.url)),
      stagingOpener: security.atRest?.stagingOpener,
      journalPath: uploadJournalPathFor(req.config.cacheDir ?? defaultCacheDir(), req.source.url),
      // Under --encrypt-cache no object key may be stored in clear: the table then lives in memory.
      attributesPath: security.atRest ? undefined : attributesPathFor(req.config.cacheDir ?? defaultCacheDir(), req.source.url),
      uid: req.config.uid, gid: req.config.gid, metadataTtlMs: req.config.metadataTtl,
      upload: { partSize: req.config.partSize, concurrency: req.config.uploadConcurrency },
      maxDirtyBytes: req.config.maxDirty,
      reader: chain.reader, fill: chain.fill, prefetch: { budget: chain.budget },
    });
    service.setSigner((path, seconds) => security.signPath(path, seconds));
    await service.start(fs);
    if (fs instanceof Filesystem) await startUploadJournal(fs, service, log);
    const ops = new FuseAdapter(security.wrap(fs), log, service.metrics.fuseOperation).operations();
    const served = fs;
    const accelerator = served.readVersion && chain.chunkLocator?.((fh) => served.readVersion?.(fh), served.prepareCached?.bind(served), served.readAheadPoint?.bind(served));
    const session = createSession(mountpoint, ops, fuseOptionsFor(req), binding, { accelerator, observe: service.metrics.fuseOperation });
    await session.mount();
    if (session.nativeStats) service.metrics.watchNativeReads(session.nativeStats);
    log.info({ binding: session.binding }, "FUSE binding");
  } catch (err) {
    chain?.close();
    service?.stop();
    ready(err instanceof Error ? err.message : String(err));
    throw err;
  }
  writeMountRecord({ pid: process.pid, source: req.source.url, mountpoint, startedAt: new Date().toISOString(), logFile: req.config.logFile });
  log.info({ source: req.source.url, mountpoint }, "mounted");
  service.ready();
  ready();
  installShutdown(fs, mountpoint, log, service);
}

/**
 * One live daemon per staging area and upload journal: a second mount of the same source on the
 * same cache directory would adopt the first one's journaled files, upload them and delete their
 * staging files under it. Released at exit; a killed daemon's lock is taken over.
 */
function lockStaging(stagingDir: string): string {
  mkdirSync(stagingDir, { recursive: true, mode: 0o700 });
  takeLock(stagingDir, "staging directory");
  process.once("exit", () => releaseLock(stagingDir));
  return stagingDir;
}

/** Status from the upload journal; uploads a previous run left are adopted before the mount serves. */
async function startUploadJournal(fs: Filesystem, service: MountService, log: Logger): Promise<void> {
  service.setUploadStatus(fs.uploadStatus((key) => service.store.uploads.sentBytes(key)));
  const { done } = await fs.recoverUploads();
  void done.then(({ failed }) => {
    if (failed > 0) log.error({ failed }, "some uploads left by a previous run failed again; bucketfs status lists them");
  });
}

/** Chunk cache → direct GET, with the read-ahead budget; the index is flushed and the cache unlocked at exit. */
function openReadChain(req: DaemonRequest, service: MountService, log: Logger, codec?: ChunkFileCodec, nativeFill?: ReadChainOptions["nativeFill"]): ReadChain {
  const metrics = service.metrics;
  const chain = createReadChain({
    store: service.store, cacheDir: readCacheDir(req.config.cacheDir ?? defaultCacheDir()),
    cacheSizeBytes: req.config.cacheSize, maxMemoryBytes: req.config.maxMemory, log, codec, nativeFill,
    observer: { hit: () => metrics.cacheHits.inc(), miss: () => metrics.cacheMisses.inc(), evicted: () => metrics.cacheEvictions.inc(), size: (bytes) => metrics.cacheSizeBytes.set(bytes) },
  });
  metrics.cacheCapacityBytes.set(chain.cache ? req.config.cacheSize : 0);
  process.once("exit", () => chain.close());
  return chain;
}

function fuseOptionsFor(req: DaemonRequest): string[] {
  const options = [
    `fsname=${req.source.url}`, "subtype=bucketfs", "big_writes", "max_write=131072", "max_read=131072",
    // Keep page cache across opens while size and mtime are unchanged (re-reads stay local).
    "auto_cache",
    ...(req.config.readOnly || req.source.scheme === "idc" ? ["ro"] : []),
    // An IDC index version is immutable: let the kernel keep names and attributes for an hour.
    ...(req.source.scheme === "idc" ? ["entry_timeout=3600", "attr_timeout=3600", "negative_timeout=60"] : []),
    ...(req.config.allowOther ? ["allow_other", "default_permissions"] : []),
  ];
  for (const option of req.fuseOptions) if (!options.includes(option)) options.push(option);
  return options;
}

function installShutdown(fs: MountedFilesystem, mountpoint: string, log: Logger, service: MountService): void {
  let stopping = false;
  const stop = async (reason: string): Promise<void> => {
    if (stopping) {
      log.warn({ reason }, "second signal: exiting now; unsaved data stays in the staging directory");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "unmounting: uploading unsaved data first");
    const failed = await fs.flushAll();
    if (failed.length > 0) {
      log.error({ failed }, "some files could not be uploaded; their data is kept in the staging directory");
      writeExitReport(mountpoint, { failed });
    }
    if (isMountpoint(mountpoint)) await unmountPath(mountpoint).catch(() => unmountPath(mountpoint, true)).catch((err: unknown) => log.error({ err }, "unmount failed"));
    removeMountRecord(mountpoint);
    service.stop();
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
