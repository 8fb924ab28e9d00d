/**
 * The global memory budget of the read path (`--max-memory`): bytes of prefetched data that are
 * in flight or buffered, across every open file. Prefetchers ask before reading ahead and back
 * off when the budget is spent, so many open files (or one very fast reader) cannot grow RSS
 * without bound. Data a reader is waiting for right now is always allowed (`force`), so reads
 * never deadlock on the budget; only read-ahead is refused.
 */
export class MemoryBudget {
  private used = 0;
  /** Highest `used` seen (the benchmark and tests check it against the limit). */
  peak = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** Takes `bytes` if they fit; read-ahead that does not fit is simply not issued. */
  tryAcquire(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.take(bytes);
    return true;
  }

  /** Takes `bytes` even past the limit: for data a read is blocked on. */
  force(bytes: number): void {
    this.take(bytes);
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  private take(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }
}
