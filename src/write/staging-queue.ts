/**
 * The I/O of one DirtyFile's staging file, in order. Every change runs on one promise chain, so
 * base bytes fetched for a sparse file never overwrite a user's write that landed meanwhile, and
 * a read waits for the whole parts a file written front to back still has queued. Apart from
 * DirtyFile so its event methods read as what happens to the file, not how the bytes get there;
 * the size, the sparse bookkeeping and the state stay in DirtyFile, which passes in what a call
 * needs.
 */
import type { ByteRange } from "../store/object-store.js";
import type { PartTail } from "./part-tail.js";
import type { SparseContent } from "./sparse-content.js";
import { writeAll, type StagingFile } from "./staging.js";
import { readRange } from "./uploader.js";

/** Reads a range of the base object (through the read chain and cache). */
export type BaseReader = (range: ByteRange) => Promise<Buffer>;

export class StagingQueue {
  /** The last change queued; it never rejects (each caller sees its own change's failure). */
  private last: Promise<unknown> = Promise.resolve();

  /** `failed` is told when a write nobody waits for fails (see stageUnstaged). */
  constructor(
    private readonly staging: StagingFile,
    private readonly failed: (err: unknown) => void,
  ) {}

  /** Writes `data` at `offset` after the changes queued before it; then `written()` runs. */
  write(data: Buffer, offset: number, written: () => void): Promise<void> {
    return this.run(async () => {
      await this.writeNow(data, offset);
      written();
    });
  }

  /** Truncates the staging file to `size` after the changes queued before it; then `truncated()` runs. */
  truncate(size: number, truncated: () => void): Promise<void> {
    return this.run(async () => {
      await this.staging.handle.truncate(size);
      truncated();
    });
  }

  /**
   * Queues the bytes of `tail` not yet queued (see PartTail.unstaged), a write nobody waits for:
   * a failure goes to `failed`. Resolves when the bytes are written or the write failed.
   */
  stageUnstaged(tail: PartTail): Promise<void> {
    const { bytes, offset } = tail.unstaged();
    if (bytes.length === 0) return this.last.then(() => undefined);
    return this.run(() => this.writeNow(bytes, offset)).catch((err: unknown) => {
      this.failed(err);
    });
  }

  /** Resolves when every change queued so far is done, written or failed. */
  idle(): Promise<unknown> {
    return this.last;
  }

  /**
   * Reads [offset, offset + length) once the queued changes are written. `tail()` is the
   * in-memory end of a file written front to back, if any: its bytes are not in staging yet.
   */
  async read(offset: number, length: number, tail: () => PartTail | undefined): Promise<Buffer> {
    for (;;) {
      const current = tail();
      await this.last; // whole parts being written to staging
      const data = await readRange(this.staging.handle, offset, length);
      // The tail of a file written front to back is only in memory. If it became a part and was
      // recycled meanwhile, its bytes are in staging now: read again.
      if (!current || current.overlay(data, offset)) return data;
    }
  }

  /** Bytes not in staging come from the base object (not stored: staging holds only changes). */
  async readSparse(sparse: SparseContent, offset: number, end: number, base: BaseReader): Promise<Buffer> {
    const missing = sparse.missing(offset, end);
    const [data, ...pieces] = await Promise.all([
      readRange(this.staging.handle, offset, end - offset),
      ...missing.map((range) => base(range)),
    ]);
    missing.forEach((range, i) => pieces[i]!.copy(data!, range.start - offset));
    return data!;
  }

  /** Fetches the base bytes of [start, end) the staging file lacks, so it holds all of them. */
  async fill(sparse: SparseContent, start: number, end: number, base: BaseReader): Promise<void> {
    for (const range of sparse.missing(start, end)) {
      const data = await base(range);
      await this.run(async () => {
        // A write may have landed while the bytes were fetched: keep it, fill only what is still missing.
        for (const gap of sparse.missing(range.start, range.end)) {
          await this.writeNow(data.subarray(gap.start - range.start, gap.end - range.start), gap.start);
          sparse.noteFill(gap.start, gap.end);
        }
      });
    }
  }

  /** Runs `work` after every change queued before it; changes queued later wait for it. */
  private run<T>(work: () => Promise<T>): Promise<T> {
    const run = this.last.then(work);
    this.last = run.catch(() => undefined);
    return run;
  }

  /** Writes all of `data` at `offset` now, without queueing: only from inside `run`. */
  private writeNow(data: Buffer, offset: number): Promise<void> {
    return writeAll(this.staging.handle, data, offset);
  }
}
