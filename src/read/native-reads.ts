/**
 * Tells the native FUSE binding which chunks of an open file it may read from the disk cache
 * itself, and hands back what it did: chunks it served (LRU order, verified) and chunks whose
 * check failed (dropped, so the next read refetches them).
 */
import type { CachedChunks, ChunkCache } from "../cache/chunk-cache.js";
import type { CachingReader } from "./cached-reader.js";
import type { ObjectVersion } from "./range-reader.js";

export class CachedChunkLocator {
  constructor(
    private readonly reader: CachingReader,
    private readonly cache: ChunkCache,
    private readonly source: string,
    private readonly chunkSize: number,
    /** The version a read-only handle reads, or undefined when JavaScript must answer its reads. */
    private readonly versionOf: (fh: number) => ObjectVersion | undefined,
    /** Puts a read's range into the cache (Filesystem.prepareCached); false: JavaScript reads it. */
    readonly prepare: (fh: number, offset: number, length: number) => Promise<boolean> = () => Promise.resolve(false),
    /** Extends read-ahead for reads served natively (Filesystem.readAheadPoint); returns the next point. */
    readonly readAheadPoint: (fh: number, reached: number) => number = () => -1,
  ) {}

  /** Present chunks of the handle's version; with a byte range, only the chunks it touches. */
  cachedChunks(fh: number, bytes?: { start: number; end: number }): CachedChunks | undefined {
    const version = this.versionOf(fh);
    if (!version?.etag) return undefined;
    const range = bytes && {
      first: Math.floor(bytes.start / this.chunkSize),
      last: Math.floor(Math.max(bytes.start, bytes.end - 1) / this.chunkSize),
    };
    return this.cache.localChunks(
      { source: this.source, key: version.key, etag: version.etag },
      version.size,
      this.chunkSize,
      range,
    );
  }

  /** Whether `fh` reads the version identified by `key` and `etag`. */
  reads(fh: number, version: ObjectVersion): boolean {
    const mine = this.versionOf(fh);
    return mine !== undefined && mine.key === version.key && mine.etag === version.etag;
  }

  /** Byte ranges of versions the native filler has just put into the cache. */
  onFilled(listener: (version: ObjectVersion, start: number, end: number) => void): void {
    this.reader.onFilled(listener);
  }

  report(fh: number, served: Uint32Array, bad: Uint32Array): void {
    const version = this.versionOf(fh);
    if (!version?.etag) return;
    // Bookkeeping only: a failure here costs LRU accuracy, never data.
    void this.cache
      .nativeReadsDone({ source: this.source, key: version.key, etag: version.etag }, served, bad)
      .catch(() => undefined);
  }
}
