/**
 * The in-memory end of a file being written front to back: sequential writes are copied here
 * (no staging write, no allocation per write) until a whole part is collected, which then goes
 * to the staging file and to the streaming upload from the same buffer. This keeps a FUSE write
 * to one memcpy on the event loop.
 */
import { partBuffers } from "./buffer-pool.js";

export class PartTail {
  private buffer: Buffer;
  private length = 0;
  /** Bytes from the start already queued to the staging file (see unstaged()). */
  private staged = 0;
  private recycled = false;

  /** `start` is where the part begins in the file (a multiple of `partSize`); the buffer is pooled (buffer-pool.ts). */
  constructor(
    readonly start: number,
    partSize: number,
  ) {
    this.buffer = partBuffers.acquire(partSize);
  }

  /** Gives the buffer back for another part; call once nothing reads `bytes()` any more. */
  recycle(): void {
    if (this.recycled) return;
    partBuffers.release(this.buffer);
    this.buffer = Buffer.alloc(0);
    this.length = 0;
    this.staged = 0;
    this.recycled = true;
  }

  /**
   * The bytes collected since the last call (a view) and their file offset, now counted as
   * queued to staging: a tail staged for a flush is not written to staging again as the part
   * fills up, however many flushes come.
   */
  unstaged(): { bytes: Buffer; offset: number } {
    const from = this.staged;
    this.staged = this.length;
    return { bytes: this.buffer.subarray(from, this.length), offset: this.start + from };
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
