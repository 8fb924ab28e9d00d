/**
 * The persistent chunk cache: one file per (store, key, ETag, chunk index) under `<dir>/chunks`,
 * a SQLite index beside them, a hard byte cap with true LRU eviction.
 *
 * - Live state is in memory: a Map in least-recently-used order (a hit moves the entry to the
 *   end; chunk-lru.ts). The index is written behind, in batches (cache-index.ts).
 * - The cap is hard: space is reserved (evicting LRU chunks, waiting for their unlink) *before*
 *   a chunk file is written, so the directory never holds more than the cap, even while many
 *   fills run at once. A chunk is charged its size on disk rounded up to the block size, and an
 *   allowance is kept for the index itself.
 * - Writes go to `<dir>/tmp` and are renamed into place, so a crash never leaves a torn chunk
 *   under a real name; `tmp` is emptied on open (cache-open.ts).
 * - Reads verify the file (header identity, CRC32 of data, and the CRC the index recorded); a
 *   missing or bad file is dropped and reported as a miss, never served.
 * - One process owns a cache directory at a time (`<dir>/lock` holds its pid).
 */
import { mkdirSync, rmSync } from "node:fs";
import { readFile as readFileCallback } from "node:fs";
import { unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { IndexWriter, type CacheIndex } from "./cache-index.js";
import { openCacheDir } from "./cache-open.js";
import { CacheBusyError, lockHolder } from "./cache-lock.js";
import { ChunkFormatError, dataChecksum, encodeHeader, verifyChunk, type ChunkIdentity } from "./chunk-format.js";
import { chargedSize, chunkId, writeFileAtomically } from "./chunk-files.js";
import { ChunkLru } from "./chunk-lru.js";
import { cachedChunks, type CachedChunks, type FillSlot } from "./native-chunks.js";

export { chargedSize, chunkId };
export type { CachedChunks, FillSlot };

/**
 * Callback readFile: one fstat and one read of the whole file. fs/promises' readFile reads in
 * 512 KiB pieces, i.e. two reads per chunk file, and costs more main-thread time.
 */
const readFile = promisify(readFileCallback);

export { CacheBusyError, lockHolder };

export interface ChunkCacheOptions {
  capacityBytes: number;
  /** Called for problems worth a log line (bad chunk files, index errors); never thrown. */
  warn?: (message: string, detail: Record<string, unknown>) => void;
  /** Counters for metrics: hits, misses, evictions. */
  observer?: CacheObserver;
  /** Transforms whole chunk files on their way to and from disk (`--encrypt-cache`, src/security). */
  codec?: ChunkFileCodec;
}

/** Seals a chunk file's bytes before they are written and opens them after they are read. */
export interface ChunkFileCodec {
  /** Bytes a sealed file takes beyond its plain bytes (for the size cap). */
  readonly overhead: number;
  seal(parts: Buffer[], chunkName: string): Buffer[];
  /** Throws if the file was altered or sealed under another key (then it is a miss). */
  open(file: Buffer, chunkName: string): Buffer;
}

export interface CacheObserver {
  hit(): void;
  miss(): void;
  evicted(): void;
  size(bytes: number): void;
}

export interface CacheStats {
  dir: string;
  capacityBytes: number;
  usedBytes: number;
  chunks: number;
  hits: number;
  misses: number;
  evictions: number;
  corrupt: number;
  index: { batches: number; rows: number; millis: number };
}

/** Room kept for the SQLite files inside the cap: 1/64 of it, at most 64 MiB. */
export function indexAllowance(capacityBytes: number): number {
  return Math.min(Math.floor(capacityBytes / 64), 64 * 1024 * 1024);
}

export class ChunkCache {
  /** The chunks held, in LRU order, and the bytes they take under the cap (chunk-lru.ts). */
  private readonly lru: ChunkLru;
  private readonly writer: IndexWriter;
  private tmpCounter = 0;
  private readonly subdirs = new Set<string>();
  private closed = false;
  private readonly counters = { hits: 0, misses: 0, evictions: 0, corrupt: 0 };

  private constructor(
    readonly dir: string,
    private readonly index: CacheIndex,
    private readonly options: ChunkCacheOptions,
  ) {
    this.writer = new IndexWriter(index, (err) => this.warn("cache index write failed", { err }));
    this.lru = new ChunkLru(
      Math.max(0, options.capacityBytes - indexAllowance(options.capacityBytes)),
      this.writer,
      (key) => this.pathOf(key),
      { evicted: () => this.count("evictions"), size: (bytes) => this.options.observer?.size(bytes) },
    );
  }

  /**
   * Opens the cache in `dir` (created with mode 0700), takes its lock, loads the index (or
   * rebuilds it from the chunk files if it is missing or unreadable) and trims it to the cap.
   */
  static open(dir: string, options: ChunkCacheOptions): ChunkCache {
    const { index, rows } = openCacheDir(
      dir,
      (message, detail) => options.warn?.(message, detail),
      (bytes, name) => decode(options.codec, bytes, name),
    );
    const cache = new ChunkCache(dir, index, options);
    for (const row of rows) cache.lru.adopt(row);
    cache.lru.trimTo(cache.lru.budget);
    cache.options.observer?.size(cache.lru.usedBytes);
    return cache;
  }

  get capacityBytes(): number {
    return this.options.capacityBytes;
  }

  has(id: ChunkIdentity): boolean {
    return this.lru.has(chunkId(id));
  }

  /** The chunk's verified data, or undefined (a miss: absent, evicted, missing file, or bad). */
  async get(id: ChunkIdentity): Promise<Buffer | undefined> {
    const key = chunkId(id);
    const entry = this.lru.get(key);
    if (!entry) {
      this.count("misses");
      return undefined;
    }
    let data: Buffer;
    try {
      data = verifyChunk(decode(this.options.codec, await readFile(this.pathOf(key)), key), {
        ...id,
        crc: entry.crc,
        length: entry.length,
      });
    } catch (err) {
      if (this.lru.get(key) === entry) {
        if (err instanceof ChunkFormatError) this.count("corrupt");
        this.warn("chunk file missing or bad: refetching", { chunk: key, err: (err as Error).message });
        await this.lru.remove(key);
      }
      this.count("misses");
      return undefined;
    }
    this.lru.touch(key, entry);
    this.lru.markVerified(key);
    this.count("hits");
    return data;
  }

  /**
   * Stores a chunk. Returns false if it could not be cached (no room within the cap, or an I/O
   * error); the caller has the data anyway, so that is never an error for a read.
   */
  async put(id: ChunkIdentity, offset: number, data: Buffer): Promise<boolean> {
    if (this.closed) return false;
    const key = chunkId(id);
    if (this.lru.has(key)) return true;
    const crc = dataChecksum(data);
    const header = encodeHeader({ ...id, offset, length: data.length, crc });
    const charged = chargedSize(header.length + data.length + (this.options.codec?.overhead ?? 0));
    if (!(await this.lru.reserve(charged))) return false;
    const tmp = this.tmpPath();
    try {
      this.ensureSubdir(key);
      await writeFileAtomically(
        tmp,
        this.pathOf(key),
        this.options.codec ? this.options.codec.seal([header, data], key) : [header, data],
      );
    } catch (err) {
      this.lru.release(charged);
      await unlink(tmp).catch(() => undefined);
      this.warn("could not write a chunk file", { chunk: key, err: (err as Error).message });
      return false;
    }
    if (this.closed || this.lru.has(key)) {
      // Closed meanwhile, or a concurrent put of the same chunk won: keep one copy accounted.
      this.lru.release(charged);
      return true;
    }
    this.lru.add({ id: key, ...id, offset, length: data.length, charged, crc });
    return true;
  }

  /**
   * The chunk files of one version that are in the cache, for the native read path; undefined
   * when chunk files are sealed (`--encrypt-cache`: only JavaScript can open them).
   */
  localChunks(
    version: Omit<ChunkIdentity, "index">,
    size: number,
    chunkSize: number,
    range = { first: 0, last: Infinity },
  ): CachedChunks | undefined {
    if (this.options.codec || this.closed || size <= 0) return undefined;
    return cachedChunks(this.lru, join(this.dir, "chunks"), version, size, chunkSize, range);
  }

  /** After a native-served file closes: its chunks were used (LRU) and checked; bad ones go. */
  async nativeReadsDone(
    version: Omit<ChunkIdentity, "index">,
    served: Iterable<number>,
    bad: Iterable<number>,
  ): Promise<void> {
    for (const index of served) {
      const key = chunkId({ ...version, index });
      const entry = this.lru.get(key);
      if (!entry) continue;
      this.lru.touch(key, entry);
      this.lru.markVerified(key);
      this.count("hits");
    }
    for (const index of bad) {
      const key = chunkId({ ...version, index });
      if (!this.lru.has(key)) continue;
      this.count("corrupt");
      this.warn("chunk file bad (checked by the native read path): dropped", { chunk: key });
      await this.lru.remove(key);
    }
  }

  /**
   * Reserves room (evicting as `put` does) and names for a chunk the native filler will write;
   * undefined if it is cached already or cannot be (no room, sealed files).
   */
  async reserveFill(id: ChunkIdentity, offset: number, length: number): Promise<FillSlot | undefined> {
    if (this.closed || this.options.codec) return undefined;
    const key = chunkId(id);
    if (this.lru.has(key)) return undefined;
    const header = encodeHeader({ ...id, offset, length, crc: 0 });
    const charged = chargedSize(header.length + length);
    // With room to spare no eviction is needed: reserve without a turn of the event loop.
    if (!this.lru.reserveNow(charged) && !(await this.lru.reserve(charged))) return undefined;
    this.ensureSubdir(key);
    return { id, key, offset, length, tmp: this.tmpPath(), path: this.pathOf(key), header, charged };
  }

  /** The filler wrote the chunk file with this data checksum: it is cached (and verified). */
  commitFill(slot: FillSlot, crc: number): void {
    if (this.closed || this.lru.has(slot.key)) {
      this.lru.release(slot.charged);
      if (this.closed) void unlink(slot.path).catch(() => undefined); // no index row would ever own it
      return;
    }
    const { offset, length, charged } = slot;
    this.lru.add({ id: slot.key, ...slot.id, offset, length, charged, crc: crc >>> 0 });
  }

  /** The filler failed (it removed its files): the reservation is returned. */
  abandonFill(slot: FillSlot): void {
    this.lru.release(slot.charged);
  }

  /** Chunks the caller did not look up because it knew they were absent: misses all the same. */
  countMisses(chunks: number): void {
    for (let i = 0; i < chunks; i++) this.count("misses");
  }

  /** Drops every chunk of `source`/`key` whose ETag is not in `keep` (the object changed; open versions stay). */
  async dropOtherVersions(source: string, key: string, keep: string | ReadonlySet<string>): Promise<number> {
    const kept = typeof keep === "string" ? new Set([keep]) : keep;
    const stale = [...this.lru.rows()].filter((e) => e.source === source && e.key === key && !kept.has(e.etag));
    for (const entry of stale) await this.lru.remove(entry.id);
    return stale.length;
  }

  /** Re-reads and re-checksums every chunk; drops the bad ones. */
  async verifyAll(progress?: (done: number, total: number) => void): Promise<{ checked: number; bad: string[] }> {
    const all = [...this.lru.rows()];
    const bad: string[] = [];
    for (let i = 0; i < all.length; i++) {
      const entry = all[i];
      try {
        verifyChunk(decode(this.options.codec, await readFile(this.pathOf(entry.id)), entry.id), entry);
      } catch {
        bad.push(`${entry.key} (etag ${entry.etag}, chunk ${entry.index})`);
        await this.lru.remove(entry.id);
      }
      progress?.(i + 1, all.length);
    }
    return { checked: all.length, bad };
  }

  /** Removes every chunk. */
  async clear(): Promise<void> {
    for (const { id } of [...this.lru.rows()]) await this.lru.remove(id);
  }

  stats(): CacheStats {
    return {
      dir: this.dir,
      capacityBytes: this.options.capacityBytes,
      usedBytes: this.lru.usedBytes,
      chunks: this.lru.chunks,
      ...this.counters,
      index: { ...this.writer.stats },
    };
  }

  /** Writes pending index changes and releases the directory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.flush();
    this.index.close();
    rmSync(join(this.dir, "lock"), { force: true });
  }

  /** Index changes not yet written, written now (tests, shutdown). */
  flushIndex(): void {
    this.writer.flush();
  }

  private pathOf(key: string): string {
    return join(this.dir, "chunks", key.slice(0, 2), key);
  }

  /** A fresh name under `tmp/`, where chunk files are written before they are renamed into place. */
  private tmpPath(): string {
    return join(this.dir, "tmp", `${process.pid}-${this.tmpCounter++}`);
  }

  /** Chunk files are spread over 256 subdirectories (by the first hex byte of their id). */
  private ensureSubdir(key: string): void {
    const sub = key.slice(0, 2);
    if (this.subdirs.has(sub)) return;
    mkdirSync(join(this.dir, "chunks", sub), { recursive: true, mode: 0o700 });
    this.subdirs.add(sub);
  }

  private count(what: keyof ChunkCache["counters"]): void {
    this.counters[what]++;
    const observer = this.options.observer;
    if (what === "hits") observer?.hit();
    else if (what === "misses") observer?.miss();
    else if (what === "evictions") observer?.evicted();
  }

  private warn(message: string, detail: Record<string, unknown>): void {
    this.options.warn?.(message, detail);
  }
}

/** The plain chunk file bytes (identity without a codec). */
function decode(codec: ChunkFileCodec | undefined, file: Buffer, chunkName: string): Buffer {
  return codec ? codec.open(file, chunkName) : file;
}
