/**
 * The persistent chunk cache: one file per (store, key, ETag, chunk index) under `<dir>/chunks`,
 * a SQLite index beside them, a hard byte cap with true LRU eviction.
 *
 * - Live state is in memory: a Map in least-recently-used order (a hit moves the entry to the
 *   end). The index is written behind, in batches (cache-index.ts).
 * - The cap is hard: space is reserved (evicting LRU chunks, waiting for their unlink) *before*
 *   a chunk file is written, so the directory never holds more than the cap, even while many
 *   fills run at once. A chunk is charged its size on disk rounded up to the block size, and an
 *   allowance is kept for the index itself.
 * - Writes go to `<dir>/tmp` and are renamed into place, so a crash never leaves a torn chunk
 *   under a real name; `tmp` is emptied on open.
 * - Reads verify the file (header identity, CRC32 of data, and the CRC the index recorded); a
 *   missing or bad file is dropped and reported as a miss, never served.
 * - One process owns a cache directory at a time (`<dir>/lock` holds its pid).
 */
import { existsSync, mkdirSync, rmSync, chmodSync } from "node:fs";
import { readFile as readFileCallback } from "node:fs";
import { unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { join } from "node:path";
import { CacheIndex, IndexWriter, type IndexRow } from "./cache-index.js";
import { CacheBusyError, lockHolder, takeLock } from "./cache-lock.js";
import { ChunkFormatError, dataChecksum, encodeHeader, verifyChunk, type ChunkIdentity } from "./chunk-format.js";
import { chargedSize, chunkId, scanChunkFiles, writeFileAtomically } from "./chunk-files.js";

export { chargedSize, chunkId };

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

/** Where the cached chunks of one object version are, for reads served outside JavaScript. */
export interface CachedChunks {
  /** Path prefix of the chunk files; chunk `i` is `${base}${i}`. */
  base: string;
  /** Bytes before the data in each chunk file (the same for every chunk of a version). */
  headerLength: number;
  chunkSize: number;
  size: number;
  indexes: Uint32Array;
  /** CRC32 of each chunk's data, from the index. */
  crcs: Uint32Array;
  /** 1 where this process has already checked the file against its CRC. */
  verified: Uint8Array;
}

/** Space and names reserved for a chunk that another writer (the native filler) writes itself. */
export interface FillSlot {
  id: ChunkIdentity;
  key: string;
  offset: number;
  length: number;
  /** Written here first, renamed to `path` when complete. */
  tmp: string;
  path: string;
  /** The chunk header with zero checksums; the writer fills both in. */
  header: Buffer;
  charged: number;
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
  private readonly entries = new Map<string, IndexRow>();
  /** Bytes of chunk files on disk or being written (reserved); never above `budget`. */
  private used = 0;
  private readonly budget: number;
  private readonly writer: IndexWriter;
  private tmpCounter = 0;
  private readonly subdirs = new Set<string>();
  /** Last-use times are strictly increasing, so the LRU order survives a restart without ties. */
  private clock = 0;
  private closed = false;
  private readonly counters = { hits: 0, misses: 0, evictions: 0, corrupt: 0 };
  /** Chunks whose file this process wrote or has checked; others are checked on first use. */
  private readonly verified = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly index: CacheIndex,
    private readonly options: ChunkCacheOptions,
  ) {
    this.budget = Math.max(0, options.capacityBytes - indexAllowance(options.capacityBytes));
    this.writer = new IndexWriter(index, (err) => this.warn("cache index write failed", { err }));
  }

  /**
   * Opens the cache in `dir` (created with mode 0700), takes its lock, loads the index (or
   * rebuilds it from the chunk files if it is missing or unreadable) and trims it to the cap.
   */
  static open(dir: string, options: ChunkCacheOptions): ChunkCache {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    takeLock(dir);
    const chunksDir = join(dir, "chunks");
    mkdirSync(chunksDir, { recursive: true, mode: 0o700 });
    rmSync(join(dir, "tmp"), { recursive: true, force: true });
    mkdirSync(join(dir, "tmp"), { mode: 0o700 });
    const dbPath = join(dir, "index.sqlite");
    let index: CacheIndex;
    let rebuild = !existsSync(dbPath);
    try {
      index = new CacheIndex(dbPath);
    } catch (err) {
      options.warn?.("cache index unreadable: rebuilding it from the chunk files", { err });
      for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
      index = new CacheIndex(dbPath);
      rebuild = true;
    }
    const cache = new ChunkCache(dir, index, options);
    const rows = rebuild
      ? scanChunkFiles(
          chunksDir,
          (file) => cache.warn("dropped unreadable chunk file", { file }),
          (bytes, name) => cache.decode(bytes, name),
        )
      : index.all();
    if (rebuild) index.replaceAll(rows);
    for (const row of rows) cache.adopt(row);
    cache.clock = rows.reduce((max, row) => Math.max(max, row.atime), 0);
    cache.trimTo(cache.budget);
    cache.options.observer?.size(cache.used);
    return cache;
  }

  /** The plain chunk file bytes (identity without a codec). */
  private decode(file: Buffer, chunkName: string): Buffer {
    return this.options.codec ? this.options.codec.open(file, chunkName) : file;
  }

  get capacityBytes(): number {
    return this.options.capacityBytes;
  }

  has(id: ChunkIdentity): boolean {
    return this.entries.has(chunkId(id));
  }

  /** The chunk's verified data, or undefined (a miss: absent, evicted, missing file, or bad). */
  async get(id: ChunkIdentity): Promise<Buffer | undefined> {
    const key = chunkId(id);
    const entry = this.entries.get(key);
    if (!entry) {
      this.count("misses");
      return undefined;
    }
    let data: Buffer;
    try {
      data = verifyChunk(this.decode(await readFile(this.pathOf(key)), key), {
        ...id,
        crc: entry.crc,
        length: entry.length,
      });
    } catch (err) {
      if (this.entries.get(key) === entry) {
        if (err instanceof ChunkFormatError) this.count("corrupt");
        this.warn("chunk file missing or bad: refetching", { chunk: key, err: (err as Error).message });
        await this.remove(key);
      }
      this.count("misses");
      return undefined;
    }
    this.touch(key, entry);
    this.verified.add(key);
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
    if (this.entries.has(key)) return true;
    const crc = dataChecksum(data);
    const header = encodeHeader({ ...id, offset, length: data.length, crc });
    const charged = chargedSize(header.length + data.length + (this.options.codec?.overhead ?? 0));
    if (!(await this.reserve(charged))) return false;
    const tmp = join(this.dir, "tmp", `${process.pid}-${this.tmpCounter++}`);
    try {
      this.ensureSubdir(key);
      await writeFileAtomically(
        tmp,
        this.pathOf(key),
        this.options.codec ? this.options.codec.seal([header, data], key) : [header, data],
      );
    } catch (err) {
      this.used -= charged;
      await unlink(tmp).catch(() => undefined);
      this.warn("could not write a chunk file", { chunk: key, err: (err as Error).message });
      return false;
    }
    if (this.closed || this.entries.has(key)) {
      // Closed meanwhile, or a concurrent put of the same chunk won: keep one copy accounted.
      this.used -= charged;
      return true;
    }
    const row: IndexRow = { id: key, ...id, offset, length: data.length, charged, crc, atime: this.tick() };
    this.entries.set(key, row);
    this.verified.add(key);
    this.writer.upsert(row);
    this.options.observer?.size(this.used);
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
    const prefix = chunkId({ ...version, index: 0 }).slice(0, -2); // "<hash>.0" → "<hash>"
    const count = Math.min(Math.ceil(size / chunkSize), range.last + 1);
    const found: IndexRow[] = [];
    const fits = (row: IndexRow): boolean =>
      row.index >= range.first &&
      row.offset === row.index * chunkSize &&
      row.length === Math.min(chunkSize, size - row.offset);
    if (count - range.first <= this.entries.size) {
      for (let index = range.first; index < count; index++) {
        const row = this.entries.get(`${prefix}.${index}`);
        if (row && fits(row)) found.push(row);
      }
    } else {
      for (const row of this.entries.values())
        if (row.id.startsWith(`${prefix}.`) && row.index < count && fits(row)) found.push(row);
    }
    // Even with no chunk yet, the geometry lets the binding wait for transfers it is told about.
    return {
      base: join(this.dir, "chunks", prefix.slice(0, 2), `${prefix}.`),
      headerLength: encodeHeader({ ...version, index: 0, offset: 0, length: 0, crc: 0 }).length,
      chunkSize,
      size,
      indexes: Uint32Array.from(found, (row) => row.index),
      crcs: Uint32Array.from(found, (row) => row.crc >>> 0),
      verified: Uint8Array.from(found, (row) => (this.verified.has(row.id) ? 1 : 0)),
    };
  }

  /** After a native-served file closes: its chunks were used (LRU) and checked; bad ones go. */
  async nativeReadsDone(
    version: Omit<ChunkIdentity, "index">,
    served: Iterable<number>,
    bad: Iterable<number>,
  ): Promise<void> {
    for (const index of served) {
      const key = chunkId({ ...version, index });
      const entry = this.entries.get(key);
      if (!entry) continue;
      this.touch(key, entry);
      this.verified.add(key);
      this.count("hits");
    }
    for (const index of bad) {
      const key = chunkId({ ...version, index });
      if (!this.entries.has(key)) continue;
      this.count("corrupt");
      this.warn("chunk file bad (checked by the native read path): dropped", { chunk: key });
      await this.remove(key);
    }
  }

  /**
   * Reserves room (evicting as `put` does) and names for a chunk the native filler will write;
   * undefined if it is cached already or cannot be (no room, sealed files).
   */
  async reserveFill(id: ChunkIdentity, offset: number, length: number): Promise<FillSlot | undefined> {
    if (this.closed || this.options.codec) return undefined;
    const key = chunkId(id);
    if (this.entries.has(key)) return undefined;
    const header = encodeHeader({ ...id, offset, length, crc: 0 });
    const charged = chargedSize(header.length + length);
    // With room to spare no eviction is needed: reserve without a turn of the event loop.
    if (this.used + charged <= this.budget) this.used += charged;
    else if (!(await this.reserve(charged))) return undefined;
    this.ensureSubdir(key);
    const tmp = join(this.dir, "tmp", `${process.pid}-${this.tmpCounter++}`);
    return { id, key, offset, length, tmp, path: this.pathOf(key), header, charged };
  }

  /** The filler wrote the chunk file with this data checksum: it is cached (and verified). */
  commitFill(slot: FillSlot, crc: number): void {
    if (this.closed || this.entries.has(slot.key)) {
      this.used -= slot.charged;
      if (this.closed) void unlink(slot.path).catch(() => undefined); // no index row would ever own it
      return;
    }
    const row: IndexRow = {
      id: slot.key,
      ...slot.id,
      offset: slot.offset,
      length: slot.length,
      charged: slot.charged,
      crc: crc >>> 0,
      atime: this.tick(),
    };
    this.entries.set(slot.key, row);
    this.verified.add(slot.key);
    this.writer.upsert(row);
    this.options.observer?.size(this.used);
  }

  /** The filler failed (it removed its files): the reservation is returned. */
  abandonFill(slot: FillSlot): void {
    this.used -= slot.charged;
  }

  /** Chunks the caller did not look up because it knew they were absent: misses all the same. */
  countMisses(chunks: number): void {
    for (let i = 0; i < chunks; i++) this.count("misses");
  }

  /** Drops every chunk of `source`/`key` whose ETag is not in `keep` (the object changed; open versions stay). */
  async dropOtherVersions(source: string, key: string, keep: string | ReadonlySet<string>): Promise<number> {
    const kept = typeof keep === "string" ? new Set([keep]) : keep;
    const stale = [...this.entries.values()].filter((e) => e.source === source && e.key === key && !kept.has(e.etag));
    for (const entry of stale) await this.remove(entry.id);
    return stale.length;
  }

  /** Re-reads and re-checksums every chunk; drops the bad ones. */
  async verifyAll(progress?: (done: number, total: number) => void): Promise<{ checked: number; bad: string[] }> {
    const all = [...this.entries.values()];
    const bad: string[] = [];
    for (let i = 0; i < all.length; i++) {
      const entry = all[i];
      try {
        verifyChunk(this.decode(await readFile(this.pathOf(entry.id)), entry.id), entry);
      } catch {
        bad.push(`${entry.key} (etag ${entry.etag}, chunk ${entry.index})`);
        await this.remove(entry.id);
      }
      progress?.(i + 1, all.length);
    }
    return { checked: all.length, bad };
  }

  /** Removes every chunk. */
  async clear(): Promise<void> {
    for (const id of [...this.entries.keys()]) await this.remove(id);
  }

  stats(): CacheStats {
    return {
      dir: this.dir,
      capacityBytes: this.options.capacityBytes,
      usedBytes: this.used,
      chunks: this.entries.size,
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

  private tick(): number {
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.clock;
  }

  private pathOf(key: string): string {
    return join(this.dir, "chunks", key.slice(0, 2), key);
  }

  private adopt(row: IndexRow): void {
    if (this.entries.has(row.id)) return;
    this.entries.set(row.id, row);
    this.used += row.charged;
  }

  /** Chunk files are spread over 256 subdirectories (by the first hex byte of their id). */
  private ensureSubdir(key: string): void {
    const sub = key.slice(0, 2);
    if (this.subdirs.has(sub)) return;
    mkdirSync(join(this.dir, "chunks", sub), { recursive: true, mode: 0o700 });
    this.subdirs.add(sub);
  }

  private touch(key: string, entry: IndexRow): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.atime = this.tick();
    this.writer.touch(key, entry.atime);
  }

  /**
   * Makes room for `bytes` within the cap, evicting least recently used chunks. The bytes count
   * as used from here on; evicted bytes are released only once their file is gone.
   */
  private async reserve(bytes: number): Promise<boolean> {
    if (bytes > this.budget) return false;
    while (this.used + bytes > this.budget) {
      const oldest = this.entries.keys().next();
      if (oldest.done) return false; // everything else is reserved by fills in progress
      await this.remove(oldest.value, true);
    }
    this.used += bytes;
    return true;
  }

  /** Synchronous trim at open (a smaller cap than last time). */
  private trimTo(limit: number): void {
    for (const [key, entry] of this.entries) {
      if (this.used <= limit) break;
      this.entries.delete(key);
      rmSync(this.pathOf(key), { force: true });
      this.used -= entry.charged;
      this.writer.delete(key);
    }
  }

  private async remove(key: string, eviction = false): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.verified.delete(key);
    this.writer.delete(key);
    await unlink(this.pathOf(key)).catch(() => undefined);
    this.used -= entry.charged;
    if (eviction) this.count("evictions");
    this.options.observer?.size(this.used);
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
