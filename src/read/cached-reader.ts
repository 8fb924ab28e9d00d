/**
 * The chunk-cache link of the read chain: a RangeReader that answers from the on-disk chunk cache
 * and fetches what is missing from the next reader, in whole chunks.
 *
 * - A read is cut into chunks. Chunks already being fetched (by any reader) are awaited, not
 *   fetched again (single flight); cached chunks are read from disk and verified; each run of
 *   consecutive missing chunks becomes ONE ranged GET (nearby ranges merged), so a random 256 KiB
 *   tile read costs one GET of at most two chunks.
 * - Fetched chunks are written to the cache behind the read (write-behind): the reader gets its
 *   bytes as soon as the GET completes. Bytes waiting to be written are bounded; past the bound
 *   the read waits for the writes (backpressure rather than memory growth).
 * - Chunks are keyed by the ETag the file was opened with, and GETs carry If-Match, so a cached
 *   chunk can never mix versions; a version without an ETag bypasses the cache.
 */
import type { ChunkCache } from "../cache/chunk-cache.js";
import type { ChunkIdentity } from "../cache/chunk-format.js";
import type { FilledListener, NativeChunkFiller } from "./native-fill.js";
import type { ObjectVersion, RangeReader } from "./range-reader.js";
import type { VersionPins } from "./version-pins.js";

/**
 * 2 MiB. Each chunk is a file and an index row, and with the native data plane a cold sequential
 * read's CPU is dominated by per-chunk costs (ext4 creating and renaming one file per chunk, one
 * row, one completion): 1 GiB cold through the mount, same run, loaded machine, two rounds:
 * 512 KiB 2.48/2.53 CPU-s/GiB, 1 MiB 2.25/2.36, 2 MiB 2.00/2.19. Random reads were the reason for
 * 512 KiB (a ranged GET costs ~5 ms before its first byte, 2 MiB ~16 ms on loopback), but
 * OpenSlide's 200 random regions measured no slower with 2 MiB chunks (cold 2.0–2.6 s against
 * 2.8–3.5 s with 512 KiB, in alternation): tiles cluster, and one larger GET serves its neighbours.
 */
export const DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024;

export interface CachingReaderOptions {
  /** Store description (bucket and endpoint), so two buckets never share chunks. */
  source: string;
  chunkSize?: number;
  /** Fetched bytes allowed to wait for their cache write before reads wait too. */
  maxPendingWriteBytes?: number;
  /** Writes fetched chunks straight into the cache without JavaScript (native binding). */
  filler?: NativeChunkFiller;
  /** Versions open files read: never dropped as "older" while open. */
  pins?: VersionPins;
}

/** Chunks per native transfer: 8 MiB GETs, like the prefetcher's blocks. */
const FILL_RUN_CHUNKS = 16;

export class CachingReader implements RangeReader {
  readonly chunkSize: number;
  private readonly maxPendingWrite: number;
  /** Chunks being fetched or written, by chunk id: concurrent readers share one GET. */
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private pendingWriteBytes = 0;
  private readonly writesDrained: (() => void)[] = [];
  /** Chunk writes into the cache and drops of older versions not yet finished. */
  private readonly writing = new Set<Promise<void>>();
  private readonly seenVersions = new Set<string>();
  /** Chunks being written into the cache by the native filler, by chunk id. */
  private readonly filling = new Map<string, Promise<void>>();
  /** GETs issued to the next reader (tests and the benchmark). */
  fetches = 0;

  constructor(
    private readonly cache: ChunkCache,
    private readonly next: RangeReader,
    private readonly options: CachingReaderOptions,
  ) {
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.maxPendingWrite = options.maxPendingWriteBytes ?? 64 * 1024 * 1024;
  }

  async read(version: ObjectVersion, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const end = Math.min(offset + length, version.size);
    if (end <= offset) return Buffer.alloc(0);
    if (!version.etag) return this.next.read(version, offset, end - offset, signal);
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((end - 1) / this.chunkSize);
    const parts = this.chunkPromises(version, first, last);
    const chunks = await Promise.all(parts);
    if (this.pendingWriteBytes > this.maxPendingWrite) await this.drainWrites();
    return this.assemble(chunks, first, offset, end);
  }

  private chunkPromises(version: ObjectVersion, first: number, last: number): Promise<Buffer>[] {
    const parts: Promise<Buffer>[] = [];
    let runStart = -1;
    const flushRun = (upTo: number): void => {
      if (runStart < 0) return;
      parts.push(...this.fetchRun(version, runStart, upTo));
      runStart = -1;
    };
    for (let index = first; index <= last; index++) {
      const id = this.identity(version, index);
      const key = chunkKey(id);
      const filling = this.filling.get(key);
      if (filling) {
        flushRun(index - 1);
        // Once the filler is done the chunk is read from its file; if it failed, fetched here.
        parts.push(
          filling.then(
            () => this.fromCache(version, id),
            () => this.fromCache(version, id),
          ),
        );
        continue;
      }
      const shared = this.inflight.get(key);
      if (shared || this.cache.has(id)) {
        flushRun(index - 1);
        parts.push(shared ?? this.track(key, this.fromCache(version, id)));
      } else if (runStart < 0) {
        runStart = index;
      }
    }
    flushRun(last);
    return parts;
  }

  /** Called with each byte range the native filler has put into the cache. */
  onFilled(listener: FilledListener): void {
    this.options.filler?.onFilled(listener);
  }

  /** Whether `fill` can put chunks into the cache without JavaScript reading them. */
  get fills(): boolean {
    return this.options.filler !== undefined;
  }

  /**
   * Makes sure the chunks of [offset, offset+length) are in the disk cache, for reads the
   * native binding serves from the files. Chunks being fetched by JavaScript are awaited;
   * missing ones are filled natively. Rejects if a transfer failed (the caller reads instead).
   */
  async fill(version: ObjectVersion, offset: number, length: number): Promise<void> {
    const end = Math.min(offset + length, version.size);
    if (end <= offset || !version.etag || !this.options.filler) return;
    const waits: Promise<unknown>[] = [];
    let runStart = -1;
    const flushRun = (upTo: number): void => {
      for (let from = runStart; runStart >= 0 && from <= upTo; from += FILL_RUN_CHUNKS) {
        waits.push(this.startFill(version, from, Math.min(upTo, from + FILL_RUN_CHUNKS - 1)));
      }
      runStart = -1;
    };
    for (let index = Math.floor(offset / this.chunkSize); index <= Math.floor((end - 1) / this.chunkSize); index++) {
      const id = this.identity(version, index);
      const pending = this.filling.get(chunkKey(id)) ?? this.inflight.get(chunkKey(id));
      if (pending || this.cache.has(id)) {
        flushRun(index - 1);
        if (pending) waits.push(pending);
      } else if (runStart < 0) {
        runStart = index;
      }
    }
    flushRun(Math.floor((end - 1) / this.chunkSize));
    await Promise.all(waits);
  }

  private startFill(version: ObjectVersion, from: number, to: number): Promise<void> {
    void this.inBackground(this.dropOlderVersions(version)).catch(() => undefined);
    this.cache.countMisses(to - from + 1);
    const done = this.options.filler!.fillRun(version, this.chunkSize, from, to);
    done.catch(() => undefined); // the read that needs these chunks reports the failure
    for (let index = from; index <= to; index++) {
      const key = chunkKey(this.identity(version, index));
      this.filling.set(key, done);
      const forget = (): void => {
        if (this.filling.get(key) === done) this.filling.delete(key);
      };
      done.then(forget, forget);
    }
    return done;
  }

  /** A cached chunk; if its file turns out bad or gone, it is fetched again. */
  private async fromCache(version: ObjectVersion, id: ChunkIdentity): Promise<Buffer> {
    const data = await this.cache.get(id);
    if (data) return data;
    const [refetched] = this.fetchRun(version, id.index, id.index, true);
    return refetched;
  }

  /** One GET for chunks [from, to]; each chunk is tracked and cached on its own. */
  private fetchRun(version: ObjectVersion, from: number, to: number, untracked = false): Promise<Buffer>[] {
    void this.inBackground(this.dropOlderVersions(version)).catch(() => undefined);
    if (!untracked) this.cache.countMisses(to - from + 1); // a failed cache read counted its own miss
    const start = from * this.chunkSize;
    const end = Math.min((to + 1) * this.chunkSize, version.size);
    this.fetches++;
    const whole = this.next.read(version, start, end - start);
    const parts: Promise<Buffer>[] = [];
    for (let index = from; index <= to; index++) {
      const at = index * this.chunkSize - start;
      const chunkEnd = Math.min(at + this.chunkSize, end - start);
      const id = this.identity(version, index);
      const data = whole.then((buf) => {
        if (buf.length !== end - start)
          throw new Error(`short read of ${version.key}: ${buf.length} of ${end - start} bytes at ${start}`);
        return buf.subarray(at, chunkEnd);
      });
      const stored = data.then((chunk) => this.writeBehind(id, index * this.chunkSize, chunk));
      stored.catch(() => undefined); // the read that needs this chunk reports the failure
      const key = chunkKey(id);
      if (untracked) parts.push(data);
      else parts.push(this.track(key, data, stored));
    }
    return parts;
  }

  /** Registers a chunk as in flight until it is fetched and (if fetched) written to the cache. */
  private track(key: string, data: Promise<Buffer>, stored: Promise<unknown> = data): Promise<Buffer> {
    this.inflight.set(key, data);
    const done = (): void => {
      if (this.inflight.get(key) === data) this.inflight.delete(key);
    };
    stored.then(done, done);
    data.catch(() => undefined);
    return data;
  }

  /** Resolves once every chunk fetched so far is written to the cache and older versions dropped. */
  async writesSettled(): Promise<void> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
  }

  private inBackground(run: Promise<void>): Promise<void> {
    this.writing.add(run);
    const done = (): void => void this.writing.delete(run);
    run.then(done, done);
    return run;
  }

  private writeBehind(id: ChunkIdentity, offset: number, chunk: Buffer): Promise<void> {
    return this.inBackground(this.storeChunk(id, offset, chunk));
  }

  private async storeChunk(id: ChunkIdentity, offset: number, chunk: Buffer): Promise<void> {
    this.pendingWriteBytes += chunk.length;
    try {
      await this.cache.put(id, offset, chunk);
    } finally {
      this.pendingWriteBytes -= chunk.length;
      if (this.pendingWriteBytes <= this.maxPendingWrite / 2) for (const wake of this.writesDrained.splice(0)) wake();
    }
  }

  private drainWrites(): Promise<void> {
    return new Promise((resolve) => this.writesDrained.push(resolve));
  }

  /**
   * The first fetch of a version drops cached chunks of other versions of the same object, except
   * versions still open (pinned): their readers must go on reading what they opened. Those are
   * left to the LRU once closed.
   */
  private async dropOlderVersions(version: ObjectVersion): Promise<void> {
    const seen = `${version.key}\0${version.etag}`;
    if (this.seenVersions.has(seen)) return;
    if (this.seenVersions.size > 10_000) this.seenVersions.clear();
    this.seenVersions.add(seen);
    const keep = new Set(this.options.pins?.pinned(version.key));
    keep.add(version.etag);
    await this.cache.dropOtherVersions(this.options.source, version.key, keep);
  }

  private identity(version: ObjectVersion, index: number): ChunkIdentity {
    return { source: this.options.source, key: version.key, etag: version.etag, index };
  }

  private assemble(chunks: Buffer[], first: number, offset: number, end: number): Buffer {
    const base = first * this.chunkSize;
    if (chunks.length === 1) return chunks[0].subarray(offset - base, end - base);
    // Chunks fetched by one GET are adjacent views of one buffer: return a view, not a copy.
    if (
      chunks.every(
        (c, i) =>
          i === 0 ||
          (c.buffer === chunks[0].buffer && c.byteOffset === chunks[i - 1].byteOffset + chunks[i - 1].length),
      )
    ) {
      const from = chunks[0].byteOffset + (offset - base);
      return Buffer.from(
        chunks[0].buffer,
        from,
        Math.min(end - offset, chunks[0].byteOffset + chunks.reduce((n, c) => n + c.length, 0) - from),
      );
    }
    const out = Buffer.allocUnsafe(end - offset);
    let written = 0;
    chunks.forEach((chunk, i) => {
      const chunkStart = base + i * this.chunkSize;
      const from = Math.max(offset, chunkStart) - chunkStart;
      const to = Math.min(end, chunkStart + chunk.length) - chunkStart;
      written += chunk.copy(out, written, from, to);
    });
    return out.subarray(0, written);
  }
}

function chunkKey(id: ChunkIdentity): string {
  return `${id.key}\0${id.etag}\0${id.index}`;
}
