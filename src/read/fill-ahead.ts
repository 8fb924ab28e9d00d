/**
 * Per-open-file read-ahead for the native read path: the Prefetcher's policy, but what it reads
 * ahead goes into the disk cache (native fills) instead of memory, so a sequential reader costs
 * no JavaScript heap and the FUSE READs are answered from the chunk files.
 *
 * - While reads are sequential (each within `seekTolerance` of where the reading reached), fills
 *   run ahead of the reader in blocks of `blockSize`; the window doubles with every block issued,
 *   from `initialWindow` to `maxWindow`, as mountpoint-s3's does.
 * - A read elsewhere is random access: only its own range (at least `firstRequestSize`) is
 *   filled and the window starts small again, so a slide viewer's tiles cost one GET each.
 * - Only a run of `minRunBeforeReadAhead` bytes earns read-ahead (a 256 KiB tile is two reads).
 */
import type { PrefetcherConfig } from "./prefetcher.js";
import type { ObjectVersion } from "./range-reader.js";

export type RangeFill = (version: ObjectVersion, offset: number, length: number) => Promise<void>;

/**
 * The kernel's readahead on a native mount is 16 MiB (native-binding.ts raises it), so its READs
 * run that far ahead of the reader: a window smaller than that would leave them to start small
 * transfers of their own. Read-ahead lands on disk, not in memory, so the window costs no heap.
 */
const KERNEL_READ_AHEAD = 16 * 1024 * 1024;

export function fillAheadConfig(prefetch: PrefetcherConfig): PrefetcherConfig {
  return {
    ...prefetch,
    initialWindow: Math.max(prefetch.initialWindow, KERNEL_READ_AHEAD),
    maxWindow: Math.max(prefetch.maxWindow, 4 * KERNEL_READ_AHEAD),
  };
}

export class FillAhead {
  private window: number;
  /** Where the reading has reached (the end of the furthest read), -1 before the first. */
  private reached = -1;
  private runStart = 0;
  /** Everything below this is filled or being filled, from `runStart` on. */
  private filledTo = 0;

  constructor(
    private readonly version: ObjectVersion,
    private readonly fill: RangeFill,
    private readonly config: PrefetcherConfig,
  ) {
    this.window = config.initialWindow;
  }

  /** Resolves once [offset, offset+length) is in the cache; read-ahead continues behind it. */
  ensure(offset: number, length: number): Promise<void> {
    const end = Math.min(offset + length, this.version.size);
    if (end <= offset) return Promise.resolve();
    const tolerance = this.config.seekTolerance ?? 0;
    const sequential = offset === 0 || (this.reached >= 0 && Math.abs(offset - this.reached) <= tolerance);
    if (!sequential) this.restart(offset);
    this.reached = Math.max(this.reached, end);
    // Read-ahead first, so the read itself joins a whole block's transfer instead of starting a small one.
    if (sequential && end - this.runStart >= (this.config.minRunBeforeReadAhead ?? 0)) this.readAhead(end);
    return this.fill(
      this.version,
      offset,
      Math.max(end, sequential ? end : offset + (this.config.firstRequestSize ?? 0)) - offset,
    );
  }

  /**
   * Where the reader should be reported back (the native binding serves READs without telling
   * us): half way into the filled window, so the next blocks are issued well before they are
   * needed. -1 when everything up to the end of the object is filled or being filled.
   */
  notifyPoint(): number {
    if (this.filledTo >= this.version.size || this.reached < 0) return -1;
    return Math.max(this.reached, this.filledTo - Math.floor(this.window / 2));
  }

  /** The reader reached `offset` through reads served natively: keep the read-ahead going. */
  advance(offset: number): void {
    if (this.reached < 0 || offset < this.reached) return;
    this.reached = offset;
    if (offset - this.runStart >= (this.config.minRunBeforeReadAhead ?? 0)) this.readAhead(offset);
  }

  private restart(offset: number): void {
    this.runStart = offset;
    this.filledTo = offset;
    this.window = this.config.initialWindow;
  }

  /**
   * Issues fills from where the last one ended (covering the current read too) up to
   * `end + window`, in blocks aligned to `blockSize`; failures surface on the read that needs them.
   */
  private readAhead(end: number): void {
    const block = this.config.blockSize;
    const target = Math.min(this.version.size, end + this.window);
    let from = Math.max(this.filledTo, this.runStart);
    while (from < target) {
      const blockEnd = Math.min((Math.floor(from / block) + 1) * block, this.version.size);
      this.fill(this.version, from, blockEnd - from).catch(() => undefined);
      from = blockEnd;
      this.window = Math.min(this.window * 2, this.config.maxWindow);
    }
    this.filledTo = Math.max(this.filledTo, from);
  }
}
