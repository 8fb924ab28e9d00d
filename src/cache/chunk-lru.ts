/**
 * The chunk cache's live state: which chunks it holds, in least-recently-used order, and the bytes
 * they take under the cap. It lives apart from ChunkCache (which reads, writes and checks the chunk
 * files) so that the rule of the hard cap is kept in one place: room is reserved *before* a chunk
 * file is written, evicting the least recently used chunks, and the bytes of an evicted chunk are
 * released only once its file is gone. Every change of a row goes to the IndexWriter from here, so
 * the SQLite index follows this map (written behind, in batches).
 */
import { rmSync } from "node:fs";
import { unlink } from "node:fs/promises";
import type { IndexRow, IndexWriter } from "./cache-index.js";

/** What ChunkLru reports to the cache's counters and metrics. */
export interface LruEvents {
  evicted(): void;
  /** The bytes used changed (a chunk came or went). */
  size(bytes: number): void;
}

export class ChunkLru {
  /** Least recently used first: a use moves the row to the end. */
  private readonly entries = new Map<string, IndexRow>();
  /** Bytes of chunk files on disk or being written (reserved); never above `budget`. */
  private used = 0;
  /** Last-use times are strictly increasing, so the LRU order survives a restart without ties. */
  private clock = 0;
  /** Chunks whose file this process wrote or has checked; others are checked on first use. */
  private readonly verified = new Set<string>();

  constructor(
    /** The cap for chunk files (the configured capacity less the index allowance). */
    readonly budget: number,
    private readonly writer: IndexWriter,
    private readonly pathOf: (key: string) => string,
    private readonly events: LruEvents,
  ) {}

  get(key: string): IndexRow | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get chunks(): number {
    return this.entries.size;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Every row, least recently used first (a live view: copy it before removing rows). */
  rows(): IterableIterator<IndexRow> {
    return this.entries.values();
  }

  isVerified(key: string): boolean {
    return this.verified.has(key);
  }

  markVerified(key: string): void {
    this.verified.add(key);
  }

  /** A row the index (or a rebuild) had at open; its file is already on disk. */
  adopt(row: IndexRow): void {
    this.clock = Math.max(this.clock, row.atime);
    if (this.entries.has(row.id)) return;
    this.entries.set(row.id, row);
    this.used += row.charged;
  }

  /** A chunk whose file was just written into room reserved for it: most recently used, and verified. */
  add(row: Omit<IndexRow, "atime">): void {
    const entry: IndexRow = { ...row, atime: this.tick() };
    this.entries.set(entry.id, entry);
    this.verified.add(entry.id);
    this.writer.upsert(entry);
    this.events.size(this.used);
  }

  /** The chunk was used: it becomes the most recently used. */
  touch(key: string, entry: IndexRow): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.atime = this.tick();
    this.writer.touch(key, entry.atime);
  }

  /** Reserves `bytes` if they fit without evicting anything (no turn of the event loop); false otherwise. */
  reserveNow(bytes: number): boolean {
    if (this.used + bytes > this.budget) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Makes room for `bytes` within the cap, evicting least recently used chunks. The bytes count
   * as used from here on; evicted bytes are released only once their file is gone.
   */
  async reserve(bytes: number): Promise<boolean> {
    if (bytes > this.budget) return false;
    while (this.used + bytes > this.budget) {
      const oldest = this.entries.keys().next();
      if (oldest.done) return false; // everything else is reserved by fills in progress
      await this.remove(oldest.value, true);
    }
    this.used += bytes;
    return true;
  }

  /** Returns a reservation whose chunk was not added (a failed write, a duplicate, a close). */
  release(bytes: number): void {
    this.used -= bytes;
  }

  /** Synchronous trim at open (a smaller cap than last time). */
  trimTo(limit: number): void {
    for (const [key, entry] of this.entries) {
      if (this.used <= limit) break;
      this.entries.delete(key);
      rmSync(this.pathOf(key), { force: true });
      this.used -= entry.charged;
      this.writer.delete(key);
    }
  }

  async remove(key: string, eviction = false): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.verified.delete(key);
    this.writer.delete(key);
    await unlink(this.pathOf(key)).catch(() => undefined);
    this.used -= entry.charged;
    if (eviction) this.events.evicted();
    this.events.size(this.used);
  }

  private tick(): number {
    this.clock = Math.max(this.clock + 1, Date.now());
    return this.clock;
  }
}
