/**
 * Builds the shared part of the read chain for a mount: chunk cache → direct ranged GET, plus
 * the global read-ahead budget that every handle's Prefetcher draws on. (The per-handle
 * Prefetcher sits in front of this; the filesystem creates one per open file.)
 *
 * The disk cache is optional: `--cache-size 0` turns it off, and if another live mount owns the
 * cache directory this mount runs without one (with a warning) rather than corrupt its accounting.
 */
import { CacheBusyError, ChunkCache, type CacheObserver, type ChunkFileCodec } from "../cache/chunk-cache.js";
import type { Logger } from "../log/logger.js";
import type { ReadableStore } from "../store/object-store.js";
import { CachingReader } from "./cached-reader.js";
import { MemoryBudget } from "./memory-budget.js";
import { NativeChunkFiller, type NativeFillOptions } from "./native-fill.js";
import { CachedChunkLocator } from "./native-reads.js";
import { DirectReader, type ObjectVersion, type RangeReader } from "./range-reader.js";
import { VersionPins } from "./version-pins.js";

export interface ReadChainOptions {
  store: ReadableStore;
  /** Directory of the chunk cache (its own: lock, index, chunks). */
  cacheDir: string;
  cacheSizeBytes: number;
  maxMemoryBytes: number;
  log: Logger;
  observer?: CacheObserver;
  /** Encrypts chunk files at rest (`--encrypt-cache`). */
  codec?: ChunkFileCodec;
  /** The native binding's cache filler (omitted: JavaScript fetches every chunk itself). */
  nativeFill?: Omit<NativeFillOptions, "sign" | "timeoutSeconds"> & { timeoutSeconds?: number };
}

export interface ReadChain {
  reader: RangeReader;
  budget: MemoryBudget;
  cache?: ChunkCache;
  /** Versions open files read: the cache keeps their chunks while they are open. */
  pins: VersionPins;
  /** For the native binding: where an open file's cached chunks are (no disk cache: undefined). */
  chunkLocator?(
    versionOf: (fh: number) => ObjectVersion | undefined,
    prepare?: CachedChunkLocator["prepare"],
    readAheadPoint?: CachedChunkLocator["readAheadPoint"],
  ): CachedChunkLocator;
  /** Fills ranges into the disk cache natively (when a filler was given and the cache is on). */
  fill?: (version: ObjectVersion, offset: number, length: number) => Promise<void>;
  /** Waits for chunk writes in flight (each holds a temporary file open), then closes the cache. */
  close(): Promise<void>;
}

export function createReadChain(options: ReadChainOptions): ReadChain {
  const direct = new DirectReader(options.store);
  const budget = new MemoryBudget(options.maxMemoryBytes);
  const pins = new VersionPins();
  const cache = options.cacheSizeBytes > 0 ? openCache(options) : undefined;
  if (!cache) return { reader: direct, budget, pins, close: async () => undefined };
  const sign = options.store.signRangeGet?.bind(options.store);
  const filler =
    options.nativeFill && sign && !options.codec
      ? new NativeChunkFiller(cache, options.store.description, { timeoutSeconds: 30, ...options.nativeFill, sign })
      : undefined;
  const reader = new CachingReader(cache, direct, {
    source: options.store.description,
    filler,
    pins,
    // Fetched bytes waiting for their cache write share the memory budget's order of magnitude.
    maxPendingWriteBytes: Math.max(8 * 1024 * 1024, Math.floor(options.maxMemoryBytes / 4)),
  });
  const close = async (): Promise<void> => {
    await reader.writesSettled();
    cache.close();
    // How much event-loop time the synchronous SQLite index cost (the benchmark reports it).
    const stats = cache.stats();
    options.log.info(
      {
        chunks: stats.chunks,
        usedBytes: stats.usedBytes,
        hits: stats.hits,
        misses: stats.misses,
        indexBatches: stats.index.batches,
        indexRows: stats.index.rows,
        indexMillis: Math.round(stats.index.millis),
      },
      "read cache closed",
    );
  };
  const chunkLocator = (
    versionOf: (fh: number) => ObjectVersion | undefined,
    prepare?: CachedChunkLocator["prepare"],
    readAheadPoint?: CachedChunkLocator["readAheadPoint"],
  ): CachedChunkLocator =>
    new CachedChunkLocator(
      reader,
      cache,
      options.store.description,
      reader.chunkSize,
      versionOf,
      prepare,
      readAheadPoint,
    );
  const fill = reader.fills
    ? (version: ObjectVersion, offset: number, length: number) => reader.fill(version, offset, length)
    : undefined;
  return { reader, budget, cache, pins, chunkLocator, fill, close };
}

function openCache(options: ReadChainOptions): ChunkCache | undefined {
  try {
    return ChunkCache.open(options.cacheDir, {
      capacityBytes: options.cacheSizeBytes,
      observer: options.observer,
      codec: options.codec,
      warn: (message, detail) => options.log.warn(detail, message),
    });
  } catch (err) {
    if (!(err instanceof CacheBusyError)) throw err;
    options.log.warn(
      { dir: err.dir, pid: err.pid },
      "read cache in use by another mount: this mount reads without a disk cache",
    );
    return undefined;
  }
}
