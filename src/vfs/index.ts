/**
 * Public surface of the filesystem core, and its wiring: store → reader chain → write-back →
 * namespace → Filesystem. The CLI builds one of these per mount; tests build one over MemoryStore.
 */
import type { Logger } from "../log/logger.js";
import type { RangeFill } from "../read/fill-ahead.js";
import { DirectReader, type RangeReader } from "../read/range-reader.js";
import { DEFAULT_PREFETCHER_CONFIG, type PrefetcherConfig } from "../read/prefetcher.js";
import type { VersionPins } from "../read/version-pins.js";
import type { ObjectInfo, ObjectStore } from "../store/object-store.js";
import { UploadJournal } from "../write/journal.js";
import { StagingArea, type StagingOpener } from "../write/staging.js";
import { DEFAULT_UPLOADER_CONFIG, Uploader, type UploaderConfig } from "../write/uploader.js";
import { WriteBack, type LocalVersion } from "../write/write-back.js";
import { KnownAttributes } from "./known-attributes.js";
import { Filesystem } from "./filesystem.js";
import { BucketNamespace } from "./bucket-namespace.js";
import type { LocalOverlay, Namespace, NamespaceConfig } from "./namespace.js";
import { OpenFiles } from "./open-files.js";
import { KeyMapper, baseName, parentOf } from "./paths.js";
import type { DirEntry, FileStat } from "./types.js";

export { Filesystem } from "./filesystem.js";
export { FsError, type ErrnoCode } from "./errors.js";
export { TIME_OMIT } from "./tree-operations.js";
export type { DirEntry, FileStat, FsStatfs } from "./types.js";
export type { MountedFilesystem, TreeApi, UnsavedFile, XattrProvider } from "./mounted.js";
export type { PageCacheMode } from "./page-cache.js";
export type { Namespace, WritableNamespace } from "./namespace.js";

export interface FilesystemOptions {
  store: ObjectStore;
  /** Key prefix the mount shows as its root: "" or ending in "/". */
  prefix: string;
  stagingDir: string;
  /** Opens staging files (default: plain 0600 files; `--encrypt-cache` passes an encrypting one). */
  stagingOpener?: StagingOpener;
  /** SQLite upload journal (crash safety); default: in memory, i.e. no recovery after a crash. */
  journalPath?: string;
  /** SQLite table of attributes read per object version (a correct `ls -l` after the TTL); default: in memory. */
  attributesPath?: string;
  log: Logger;
  readOnly?: boolean;
  uid?: number;
  gid?: number;
  metadataTtlMs?: number;
  /** Time source of the metadata TTLs (tests); default: performance. */
  clock?: { now(): number };
  upload?: Partial<UploaderConfig>;
  /** --max-dirty: writers wait for uploads in progress beyond this many staged bytes. */
  maxDirtyBytes?: number;
  prefetch?: Partial<PrefetcherConfig>;
  /** Replaces the direct reader at the end of the read chain (e.g. with a chunk cache). */
  reader?: RangeReader;
  /** Fills the disk cache without reading (the native read path). */
  fill?: RangeFill;
  /** HEADs for readdir sent by the native addon (see native-heads.ts). */
  nativeHead?: (key: string) => Promise<ObjectInfo>;
  /** The read chain's record of open versions (their cached chunks are kept while open). */
  pins?: VersionPins;
}

export function createFilesystem(options: FilesystemOptions): Filesystem {
  const openFiles = new OpenFiles();
  let writes: WriteBack | undefined;
  // Files with local data show their local size and mtime (the write-back answers for them).
  const statOf = (local: LocalVersion): FileStat => ({
    ...namespace.statFromObject(
      { key: local.key, size: local.size, etag: local.etag, lastModified: new Date(local.mtimeMs) },
      local.metadata,
    ),
    mtimeMs: local.mtimeMs,
  });
  const overlay: LocalOverlay = {
    statOf: (path) => {
      const local = writes?.localVersion(path);
      return local && statOf(local);
    },
    entriesIn: (dir): DirEntry[] =>
      (writes?.localVersions() ?? [])
        .filter((v) => parentOf(v.path) === dir)
        .map((v) => ({ name: baseName(v.path), stat: statOf(v) })),
  };
  const namespaceConfig: NamespaceConfig = {
    uid: options.uid ?? process.getuid?.() ?? 0,
    gid: options.gid ?? process.getgid?.() ?? 0,
    fileMode: 0o644,
    dirMode: 0o755,
    metadataTtlMs: options.metadataTtlMs ?? 10_000,
    negativeTtlMs: Math.min(options.metadataTtlMs ?? 10_000, 1_000),
    clock: options.clock,
  };
  const known = new KnownAttributes(options.attributesPath ?? ":memory:");
  const namespace = new BucketNamespace(
    options.store,
    new KeyMapper(options.prefix),
    namespaceConfig,
    options.log,
    overlay,
    known,
    options.nativeHead,
  );
  const reader = options.reader ?? new DirectReader(options.store);
  writes = new WriteBack({
    store: options.store,
    uploader: new Uploader(options.store, { ...DEFAULT_UPLOADER_CONFIG, ...options.upload }),
    staging: new StagingArea(options.stagingDir, options.stagingOpener),
    journal: new UploadJournal(options.journalPath ?? ":memory:"),
    log: options.log,
    keyOf: (path) => namespace.mapper.fileKey(path),
    readBase: (base, start, length) => reader.read(base, start, length),
    saved: (local) => namespace.remember(local.path, statOf(local)),
    stale: (path) => namespace.forget(path),
  });
  const ctx = {
    store: options.store,
    namespace,
    openFiles,
    writes,
    reader,
    fill: options.fill,
    pins: options.pins,
    log: options.log,
    config: {
      readOnly: options.readOnly ?? options.store.capabilities.readOnly,
      prefetch: { ...DEFAULT_PREFETCHER_CONFIG, ...options.prefetch },
      renameConcurrency: 16,
    },
  };
  const reads = {
    namespace,
    openFiles,
    reader: ctx.reader,
    fill: ctx.fill,
    prefetch: ctx.config.prefetch,
    pins: options.pins,
  };
  return new Filesystem(reads, { ctx, maxDirtyBytes: options.maxDirtyBytes });
}

/** A Filesystem over a read-only namespace (IDC's index tree): handles and the read chain, no write-back. */
export function createReadOnlyFilesystem(
  namespace: Namespace,
  options: { reader: RangeReader; prefetch?: Partial<PrefetcherConfig>; fill?: RangeFill },
): Filesystem {
  return new Filesystem({
    namespace,
    openFiles: new OpenFiles(),
    reader: options.reader,
    fill: options.fill,
    prefetch: { ...DEFAULT_PREFETCHER_CONFIG, ...options.prefetch },
  });
}
export { currentCaller, runAs, type Caller } from "./caller.js";
