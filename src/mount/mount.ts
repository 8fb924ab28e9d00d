/**
 * A Mount: everything one mounted source needs, built from its config once, here — the store
 * (measured), the security layer, the read chain, the Filesystem over the source's Namespace
 * (the bucket's tree with write-back, or IDC's index tree read-only), and the service (status,
 * control socket, metrics). It owns the lifecycle: open → start → (served by FUSE) → drain →
 * close, which closes every resource in the reverse order of opening (Resources). FUSE itself is
 * the daemon's business: the Mount hands it `served` and `accelerator()`.
 */
import { mkdirSync } from "node:fs";
import { releaseLock, takeLock } from "../cache/cache-lock.js";
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import type { Logger } from "../log/logger.js";
import { BucketfsMetrics } from "../metrics/registry.js";
import type { NativeFill } from "../read/native-fill.js";
import type { CachedChunkLocator } from "../read/native-reads.js";
import { createReadChain, type ReadChain } from "../read/read-chain.js";
import { openMountSecurity, type MountSecurity } from "../security/index.js";
import { MeteredStore } from "../store/metered-store.js";
import type { ReadableStore } from "../store/object-store.js";
import { nativeHeadOf, type NativeHead } from "../vfs/native-heads.js";
import { createFilesystem, type Filesystem, type MountedFilesystem } from "../vfs/index.js";
import { attributesPathFor, defaultCacheDir, readCacheDir, stagingDirFor, uploadJournalPathFor } from "./dirs.js";
import { Resources } from "./resources.js";
import { createMountService, type MountService } from "./service.js";
import { createBucketStore, createIdcStore } from "./stores.js";

export interface MountRequest {
  source: Source;
  /** Absolute path. */
  mountpoint: string;
  config: MountConfig;
}

export interface MountOptions {
  log: Logger;
  /** The native binding's cache filler, when that binding serves the mount. */
  nativeFill?: NativeFill;
  /** The native binding's HEAD threads (readdir attributes on S3), when that binding serves the mount. */
  nativeHead?: NativeHead;
  /** Checked on the store before anything else opens (preflight: endpoint, credentials). */
  checkAccess?: (store: ReadableStore) => Promise<void>;
}

/** The store of a mount, measured: one bucket (writable) or IDC's buckets (read-only). */
type MountStore = { kind: "bucket"; store: MeteredStore } | { kind: "idc"; store: ReadableStore };

export class Mount {
  /** Nothing can change through this mount (--read-only, or a read-only namespace such as IDC's). */
  readonly readOnly: boolean;
  /** The tree never changes while mounted (an IDC index version): the kernel may cache names long. */
  readonly immutable: boolean;

  private constructor(
    readonly request: MountRequest,
    readonly metrics: BucketfsMetrics,
    /** The one Filesystem, unwrapped (drain, status). */
    readonly fs: Filesystem,
    /** What FUSE serves: the filesystem inside the security layer (audit, URL attribute). */
    readonly served: MountedFilesystem,
    private readonly chain: ReadChain,
    private readonly service: MountService,
    private readonly resources: Resources,
    private readonly log: Logger,
    kind: MountStore["kind"],
  ) {
    this.immutable = kind === "idc";
    this.readOnly = request.config.readOnly || this.immutable;
  }

  /** Builds everything; on failure closes what was opened and rethrows. */
  static async open(request: MountRequest, options: MountOptions): Promise<Mount> {
    const { log } = options;
    const resources = new Resources(log);
    try {
      return await Mount.build(request, options, resources);
    } catch (err) {
      await resources.closeAll();
      throw err;
    }
  }

  private static async build(request: MountRequest, options: MountOptions, resources: Resources): Promise<Mount> {
    const { source, config } = request;
    const { log } = options;
    const cacheDir = config.cacheDir ?? defaultCacheDir();
    const security = resources.add("security (audit log)", openMountSecurity(source, config), (s: MountSecurity) =>
      s.close(),
    );
    const metrics = new BucketfsMetrics();
    metrics.mountInfo.set({ source: source.url, mountpoint: request.mountpoint }, 1);
    const mountStore = await openStore(source, config, metrics);
    await options.checkAccess?.(mountStore.store);
    const chain = resources.add(
      "read cache",
      openReadChain(mountStore, config, cacheDir, metrics, log, security, options.nativeFill),
      (c) => c.close(),
    );
    const fs =
      mountStore.kind === "idc"
        ? await openIdcFilesystem(config, cacheDir, mountStore.store, chain, log)
        : createBucketFilesystem(request, cacheDir, mountStore.store, chain, security, resources, options.nativeHead);
    resources.add(
      mountStore.kind === "idc" ? "filesystem (IDC index and listings)" : "filesystem (upload journal, attributes)",
      fs,
      (f) => f.close(),
    );
    const sentBytes =
      mountStore.kind === "bucket" ? (key: string) => mountStore.store.uploads.sentBytes(key) : undefined;
    const service = createMountService(
      {
        source: source.url,
        mountpoint: request.mountpoint,
        config,
        metrics,
        uploads: fs.uploadStatus(sentBytes),
        sign: (path, seconds) => security.signPath(path, seconds),
      },
      log,
    );
    resources.add("service", service, (s) => s.stop());
    return new Mount(request, metrics, fs, security.wrap(fs), chain, service, resources, log, mountStore.kind);
  }

  /** Starts the service, and adopts the uploads a previous run left in the journal before FUSE serves. */
  async start(): Promise<void> {
    await this.service.start();
    const { done } = await this.fs.recoverUploads();
    void done.then(({ failed }) => {
      if (failed > 0)
        this.log.error({ failed }, "some uploads left by a previous run failed again; bucketfs status lists them");
    });
  }

  /** For the native binding: where an open file's cached chunks are (no disk cache: undefined). */
  accelerator(): CachedChunkLocator | undefined {
    const fs = this.fs;
    return this.chain.chunkLocator?.((fh) => fs.readVersion(fh), fs.prepareCached.bind(fs), fs.readAheadPoint.bind(fs));
  }

  /** The mount is serving: writes the pid file. */
  ready(): void {
    this.service.ready();
  }

  /** Uploads every unsaved file; returns the paths that failed (kept in staging and the journal). */
  drain(): Promise<string[]> {
    return this.fs.flushAll();
  }

  /** Closes every resource, last opened first: service, filesystem, staging lock, read cache, security. */
  async close(): Promise<void> {
    const closed = await this.resources.closeAll();
    this.log.info({ closed }, "mount closed");
  }
}

/** The source's store, measured per request; IDC's buckets each through their own meter. */
async function openStore(source: Source, config: MountConfig, metrics: BucketfsMetrics): Promise<MountStore> {
  if (source.scheme === "idc")
    return { kind: "idc", store: createIdcStore(config, (bucket) => new MeteredStore(bucket, metrics)) };
  return { kind: "bucket", store: new MeteredStore(await createBucketStore(source, config), metrics) };
}

/** Chunk cache → direct GET, with the read-ahead budget; built once, for either namespace. */
function openReadChain(
  mountStore: MountStore,
  config: MountConfig,
  cacheDir: string,
  metrics: BucketfsMetrics,
  log: Logger,
  security: MountSecurity,
  nativeFill?: NativeFill,
): ReadChain {
  const metered = mountStore.kind === "bucket" ? mountStore.store : undefined;
  const chain = createReadChain({
    store: mountStore.store,
    cacheDir: readCacheDir(cacheDir),
    cacheSizeBytes: config.cacheSize,
    maxMemoryBytes: config.maxMemory,
    log,
    codec: security.atRest?.chunkCodec,
    nativeFill: nativeFill && {
      fill: nativeFill,
      caFile: config.caBundle,
      timeoutSeconds: Math.max(1, Math.ceil(config.requestTimeout / 1000)),
      observe: (bytes: number, ms: number, ok: boolean) => metered?.nativeGet(bytes, ms, ok),
    },
    observer: {
      hit: () => metrics.cacheHits.inc(),
      miss: () => metrics.cacheMisses.inc(),
      evicted: () => metrics.cacheEvictions.inc(),
      size: (bytes) => metrics.cacheSizeBytes.set(bytes),
    },
  });
  metrics.cacheCapacityBytes.set(chain.cache ? config.cacheSize : 0);
  return chain;
}

/**
 * The bucket's tree with write-back. One live daemon per staging area and upload journal: a
 * second mount of the same source on the same cache directory would adopt the first one's
 * journaled files, upload them and delete their staging files under it. A killed daemon's lock
 * is taken over.
 */
function createBucketFilesystem(
  request: MountRequest,
  cacheDir: string,
  store: MeteredStore,
  chain: ReadChain,
  security: MountSecurity,
  resources: Resources,
  nativeHead?: NativeHead,
): Filesystem {
  const { source, config } = request;
  // BUCKETFS_NATIVE_HEAD=off: readdir HEADs on the event loop as before (escape hatch, benchmark baseline).
  const sign = process.env.BUCKETFS_NATIVE_HEAD === "off" ? undefined : store.signHead;
  const stagingDir = stagingDirFor(cacheDir, source.url);
  mkdirSync(stagingDir, { recursive: true, mode: 0o700 });
  takeLock(stagingDir, "staging directory");
  resources.add("staging lock", stagingDir, releaseLock);
  return createFilesystem({
    store,
    prefix: source.prefix,
    log: resources.logger,
    readOnly: config.readOnly,
    stagingDir,
    stagingOpener: security.atRest?.stagingOpener,
    journalPath: uploadJournalPathFor(cacheDir, source.url),
    // Under --encrypt-cache no object key may be stored in clear: the table then lives in memory.
    attributesPath: security.atRest ? undefined : attributesPathFor(cacheDir, source.url),
    uid: config.uid,
    gid: config.gid,
    metadataTtlMs: config.metadataTtl,
    upload: { partSize: config.partSize, concurrency: config.uploadConcurrency },
    maxDirtyBytes: config.maxDirty,
    reader: chain.reader,
    fill: chain.fill,
    pins: chain.pins,
    prefetch: { budget: chain.budget },
    nativeHead:
      nativeHead && sign
        ? nativeHeadOf({
            head: nativeHead,
            sign,
            caFile: config.caBundle,
            timeoutSeconds: Math.max(1, Math.ceil(config.requestTimeout / 1000)),
          })
        : undefined,
  });
}

/** IDC's index tree, read-only: the index is loaded (or downloaded) first. */
async function openIdcFilesystem(
  config: MountConfig,
  cacheDir: string,
  store: ReadableStore,
  chain: ReadChain,
  log: Logger,
): Promise<Filesystem> {
  const started = Date.now();
  // The index reader and IDC tree are loaded for idc mounts only (start time of bucket mounts).
  const { listOption, openIdc } = await import("../idc/index.js");
  const idc = await openIdc({
    cacheDir,
    indexFile: config.idcIndex,
    version: config.idcVersion,
    baseUrl: config.idcIndexUrl,
    filter: { collections: listOption(config.collections), modalities: listOption(config.modality) },
    store,
    reader: chain.reader,
    prefetch: { budget: chain.budget },
    uid: config.uid ?? process.getuid?.() ?? 0,
    gid: config.gid ?? process.getgid?.() ?? 0,
    onProgress: (message) => log.info(message),
  });
  log.info({ version: idc.index.version, ms: Date.now() - started }, "IDC index ready");
  return idc.fs;
}
