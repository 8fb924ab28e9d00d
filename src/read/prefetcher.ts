/**
 * Per-open-file sequential prefetcher (the mountpoint-s3 design, simplified).
 *
 * While reads are sequential it keeps a window of ranged GETs in flight ahead of the reader and
 * doubles the window on every block consumed, from `initialWindow` up to `maxWindow`; each GET is
 * at most `blockSize` so several run in parallel. A read outside the buffered blocks is random
 * access: it goes straight to the next reader for exactly the bytes asked, and the window resets.
 *
 * Small seeks (within `seekTolerance` of where the last read ended, e.g. the kernel's readahead
 * arriving out of order) keep the window; larger jumps reset it.
 *
 * A shared MemoryBudget (`--max-memory`) bounds read-ahead across all handles: a block the reader
 * is waiting for is always fetched, but a block purely ahead of it is issued only if the budget
 * has room, so prefetch backs off instead of growing RSS. A block's bytes return to the budget
 * once it is dropped and its GET has settled.
 *
 * INVARIANT: `blocks` are contiguous, ascending, and cover [blocks[0].start, nextFetch).
 * Memory held by one handle is bounded by maxWindow + blockSize.
 */
import type { MemoryBudget } from "./memory-budget.js";
import type { ObjectVersion, RangeReader } from "./range-reader.js";

export interface PrefetcherConfig {
  /** First window after a sequential read is detected: small, so `head`/`file` stay cheap. */
  initialWindow: number;
  /** Largest window: enough to keep ~8 GETs in flight at a few ms each on a fast link. */
  maxWindow: number;
  /** Largest single GET; parallelism comes from several of these. */
  blockSize: number;
  /** Jumps at most this far from the last read's end still count as sequential. */
  seekTolerance?: number;
  /** A run must be this long before reading ahead (a 256 KiB slide tile arrives as two reads). */
  minRunBeforeReadAhead?: number;
  /** A random read fetches at least this much (0: exactly what was asked). */
  firstRequestSize?: number;
  /** Shared read-ahead budget; without one, read-ahead is bounded per handle only. */
  budget?: MemoryBudget;
}

export const DEFAULT_PREFETCHER_CONFIG: PrefetcherConfig = {
  initialWindow: 1024 * 1024,
  maxWindow: 64 * 1024 * 1024,
  blockSize: 8 * 1024 * 1024,
  // Linux readahead may deliver a run's reads slightly out of order; 1 MiB covers its window.
  seekTolerance: 1024 * 1024,
  // Random tile reads (OpenSlide: 256 KiB = two 128 KiB FUSE reads) must not trigger read-ahead;
  // a real sequential reader passes 512 KiB within four reads and loses almost nothing.
  minRunBeforeReadAhead: 512 * 1024,
  // A random read's first request: 256 KiB costs ~6.7 ms vs ~5.1 ms for 64 KiB (loopback RGW),
  // and covers the second half of a 256 KiB tile, which would otherwise be a second round trip.
  firstRequestSize: 256 * 1024,
};

interface Block {
  start: number;
  end: number;
  data: Promise<Buffer>;
  /** Returns the block's bytes to the budget (idempotent). */
  release: () => void;
}

export class Prefetcher {
  private blocks: Block[] = [];
  private nextFetch = 0;
  private window: number;
  private lastEnd = -1;
  /** Where the current sequential run began. */
  private runStart = 0;

  constructor(
    private readonly version: ObjectVersion,
    private readonly next: RangeReader,
    private readonly config: PrefetcherConfig = DEFAULT_PREFETCHER_CONFIG,
  ) {
    this.window = config.initialWindow;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.version.size);
    if (end <= offset) return Buffer.alloc(0);
    const covered = this.covers(offset);
    const tolerance = this.config.seekTolerance ?? 0;
    const near = offset === 0 || (this.lastEnd >= 0 && Math.abs(offset - this.lastEnd) <= tolerance);
    if (!covered && !near) {
      this.lastEnd = end;
      this.runStart = offset;
      this.reset(offset);
      if (!this.config.firstRequestSize) return this.next.read(this.version, offset, end - offset);
      // One small request for the whole tile: the kernel splits a 256 KiB read into two.
      this.fill(end, Math.max(end, offset + this.config.firstRequestSize), true);
      return this.copyOut(offset, end);
    }
    this.lastEnd = Math.max(this.lastEnd, end);
    if (!covered && this.blocks.length > 0 && offset < this.blocks[0].start) {
      // A straggler just behind the buffered run (reads arriving out of order): serve it
      // without disturbing the run.
      return this.next.read(this.version, offset, end - offset);
    }
    if (!covered) this.restartAt(offset);
    // Keep a tail of `tolerance` bytes behind the reader for stragglers.
    this.dropBefore(offset - tolerance);
    const readAhead = end - this.runStart >= (this.config.minRunBeforeReadAhead ?? 0) ? this.window : 0;
    this.fill(end, end + readAhead, readAhead === 0);
    return this.copyOut(offset, end);
  }

  /** Drops buffered data, e.g. when the handle closes. */
  close(): void {
    this.dropAll();
  }

  private dropAll(): void {
    for (const block of this.blocks) settleThenRelease(block);
    this.blocks = [];
  }

  private covers(offset: number): boolean {
    return this.blocks.length > 0 && offset >= this.blocks[0].start && offset < this.nextFetch;
  }

  /** Random access: forget buffered data and start the window small again. */
  private reset(offset: number): void {
    this.restartAt(offset);
    this.window = this.config.initialWindow;
  }

  /** A sequential run continues past what was buffered: keep the window it earned. */
  private restartAt(offset: number): void {
    this.dropAll();
    this.nextFetch = offset;
  }

  private dropBefore(offset: number): void {
    let dropped = 0;
    while (this.blocks.length > 0 && this.blocks[0].end <= offset) {
      settleThenRelease(this.blocks.shift()!);
      dropped++;
    }
    // Each block consumed is evidence of a long sequential run: widen the window.
    for (let i = 0; i < dropped; i++) this.window = Math.min(this.window * 2, this.config.maxWindow);
  }

  /**
   * Issues GETs until everything below `target` is requested (the read plus the window ahead).
   * Blocks below `needed` are for the current read and always go; the rest need budget.
   */
  private fill(needed: number, target: number, exact = false): void {
    target = Math.min(this.version.size, target);
    const budget = this.config.budget;
    while (this.nextFetch < target) {
      const start = this.nextFetch;
      // Without read-ahead, fetch only up to the target (a tile, or the start of a run).
      const size = Math.min(this.config.blockSize, this.window, exact ? target - start : Infinity);
      const blockEnd = Math.min(start + size, this.version.size);
      const bytes = blockEnd - start;
      if (budget) {
        if (start < needed) budget.force(bytes);
        else if (!budget.tryAcquire(bytes)) return; // back off: the budget is spent
      }
      let released = !budget;
      const release = (): void => {
        if (!released) budget!.release(bytes);
        released = true;
      };
      const data = this.next.read(this.version, start, bytes);
      data.catch(() => undefined); // a failure is reported to the read that needs this block
      this.blocks.push({ start, end: blockEnd, data, release });
      this.nextFetch = blockEnd;
    }
  }

  private async copyOut(offset: number, end: number): Promise<Buffer> {
    // Most reads (128 KiB) fall inside one block: hand out a view; FUSE copies it anyway.
    const single = this.blocks.find((b) => b.start <= offset && end <= b.end);
    if (single) {
      const data = await this.awaitBlock(single);
      if (data.length === single.end - single.start) return data.subarray(offset - single.start, end - single.start);
    }
    const out = Buffer.allocUnsafe(end - offset);
    let position = offset;
    // A snapshot: concurrent reads on the same handle (FUSE is multi-threaded) may shift or
    // replace `blocks` while this read awaits; the blocks it captured stay valid.
    for (const block of [...this.blocks]) {
      if (block.end <= position) continue;
      if (block.start >= end) break;
      const data = await this.awaitBlock(block);
      if (data.length !== block.end - block.start) {
        this.reset(block.start);
        throw new Error(
          `short read of ${this.version.key} at ${block.start}: ${data.length} of ${block.end - block.start} bytes`,
        );
      }
      const from = position - block.start;
      const to = Math.min(end, block.end) - block.start;
      data.copy(out, position - offset, from, to);
      position = block.start + to;
      if (position >= end) break;
    }
    return out.subarray(0, position - offset);
  }

  private async awaitBlock(block: Block): Promise<Buffer> {
    try {
      return await block.data;
    } catch (err) {
      // Forget the failed block and everything after it, so the next read retries.
      this.reset(block.start);
      throw err;
    }
  }
}

/** A dropped block's memory is free only once its GET has finished. */
function settleThenRelease(block: Block): void {
  block.data.then(block.release, block.release);
}
