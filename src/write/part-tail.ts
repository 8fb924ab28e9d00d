/**
 * The in-memory end of a file being written front to back: sequential writes are copied here
 * (no staging write, no allocation per write) until a whole part is collected, which then goes
 * to the staging file and to the streaming upload from the same buffer. This keeps a FUSE write
 * to one memcpy on the event loop.
 */
/**
 * Part buffers are reused: a fresh 8 MiB buffer per part makes V8 run full garbage collections
 * every few parts (external memory pressure); GC took ~2 s of a 1 GiB copy in a profile that
 * still allocated per part and per write.
 */
const pool: Buffer[] = [];
const POOL_MAX = 12;

export class PartTail {
  private buffer: Buffer;
  private length = 0;
  private recycled = false;

  /** `start` is where the part begins in the file (a multiple of `partSize`). */
  constructor(readonly start: number, partSize: number) {
    const index = pool.findIndex((b) => b.length === partSize);
    this.buffer = index >= 0 ? pool.splice(index, 1)[0]! : Buffer.allocUnsafeSlow(partSize);
  }

  /** Gives the buffer back for another part; call once nothing reads `bytes()` any more. */
  recycle(): void {
    if (pool.length < POOL_MAX) pool.push(this.buffer);
    this.buffer = Buffer.alloc(0);
    this.length = 0;
    this.recycled = true;
  }

  /** Copies as much of `data` (from `from`) as the part still takes; returns the bytes taken. */
  take(data: Buffer, from: number): number {
    const taken = data.copy(this.buffer, this.length, from);
    this.length += taken;
    return taken;
  }

  get full(): boolean {
    return this.length === this.buffer.length;
  }

  /** The bytes collected so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /**
   * Copies the bytes it holds of the file range starting at `offset` into `out`; false if the
   * buffer was recycled (its bytes are in staging then).
   */
  overlay(out: Buffer, offset: number): boolean {
    if (this.recycled) return false;
    const from = Math.max(this.start, offset);
    const to = Math.min(this.start + this.length, offset + out.length);
    if (to > from) this.buffer.copy(out, from - offset, from - this.start, to - this.start);
    return true;
  }
}
