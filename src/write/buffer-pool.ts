/**
 * Reused part buffers for files written front to back (see PartTail).
 *
 * Why: a fresh 8 MiB buffer per part is fresh memory, and on a VM every first touch of a page is
 * a fault (in the host too, when freed pages are handed back to it); V8 also counts each new
 * buffer as external memory, which is what starts its full collections. A 1 GiB write that
 * allocated per part spent ~2 s in GC. Buffers come back here once their part is staged and
 * uploaded, and are handed out again.
 *
 * INVARIANT: a buffer is handed out to one holder at a time: `acquire` never returns a buffer
 * that was acquired and not yet released. Releasing a buffer twice, or one the pool did not hand
 * out, throws (it would be a use-after-release bug in the caller). A holder may also just drop
 * its buffer (a file discarded mid-write); it is then garbage like any other.
 */
export class BufferPool {
  /** Idle buffers by size. */
  private readonly idle = new Map<number, Buffer[]>();
  /** Buffers handed out and not yet released (weak: a dropped one is left to the GC). */
  private readonly busy = new WeakSet<Buffer>();
  private idleCount = 0;

  /** `maxIdle`: idle buffers kept for reuse (memory held while nothing is written). */
  constructor(
    readonly maxIdle: number,
    private readonly allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafeSlow(size),
  ) {}

  /** A buffer of `size` bytes (an idle one if any; contents undefined), nobody else's until released. */
  acquire(size: number): Buffer {
    let buffer = this.idle.get(size)?.pop();
    if (buffer) {
      this.idleCount--;
    } else {
      buffer = this.allocate(size);
      if (buffer.length !== size || this.busy.has(buffer))
        throw new Error("BufferPool: the allocator returned a buffer in use or of the wrong size");
    }
    this.busy.add(buffer);
    return buffer;
  }

  /** Gives `buffer` back; its holder must not touch it afterwards. */
  release(buffer: Buffer): void {
    if (!this.busy.has(buffer)) throw new Error("BufferPool: released a buffer that is not in use");
    this.busy.delete(buffer);
    if (this.idleCount >= this.maxIdle) return;
    const list = this.idle.get(buffer.length);
    if (list) list.push(buffer);
    else this.idle.set(buffer.length, [buffer]);
    this.idleCount++;
  }

  /** Buffers kept for reuse. */
  get idleBuffers(): number {
    return this.idleCount;
  }
}

/** The pool the part buffers of all files come from: 4 uploading + 1 filling + 1 staging per file, two files at full speed. */
export const partBuffers = new BufferPool(12);
