/**
 * A file being written through the mount: its bytes live in a staging file until uploaded.
 * All handles open on the same path share one DirtyFile, so readers see writers' data.
 *
 * INVARIANT: `size` is the logical file size. Without `sparse`, the staging file holds every byte
 * below it (writes past the end leave holes, which read as zeros, as on a local disk); with
 * `sparse`, bytes it does not hold come from the base object (see sparse-content.ts).
 * `generation` counts changes; the upload of generation G leaves the file clean only if no
 * change happened while it ran.
 */
import type { ByteRange } from "../store/object-store.js";
import type { SparseContent } from "./sparse-content.js";
import type { StagingFile } from "./staging.js";
import type { StreamingUpload } from "./streaming-upload.js";
import { PartTail } from "./part-tail.js";
import { readRange, type Precondition } from "./uploader.js";

/** Node error codes of a staging disk that cannot take more data. */
const DISK_FULL = new Set(["ENOSPC", "EDQUOT"]);

/** A write the staging disk could not take: the file's content is incomplete and must never be uploaded. */
export class StagingFullError extends Error {
  override readonly name = "StagingFullError";
  readonly code = "ENOSPC";
}

export interface SequentialWriting {
  partSize: number;
  /** Starts the multipart upload, when the first whole part is there. */
  startStream: () => StreamingUpload;
  tail?: PartTail;
  /** The staging write of the last whole part (one runs while the next part fills). */
  lastPartStaged: Promise<void>;
}

export class DirtyFile {
  size = 0;
  generation = 0;
  uploadedGeneration = 0;
  openCount = 0;
  /** Set when the path is unlinked while open: nothing is uploaded on close. */
  unlinked = false;
  /** The last upload's failure, reported by every flush/fsync until an upload succeeds. */
  lastError?: unknown;
  /** Serialises uploads of this file. */
  uploading: Promise<unknown> = Promise.resolve();
  mtimeMs = Date.now();
  /**
   * False when the version the data is based on is unknown (after a directory rename), so the
   * upload cannot be conditional.
   */
  conflictCheck = true;
  /** Set after a conflict: this data goes to a `.conflict-<ts>` sibling instead of `key`. */
  conflictKey?: string;
  /** Set when a staging write failed (disk full, or an I/O error): the content is incomplete. */
  incomplete?: Error;
  /**
   * Set while the file has only ever been written front to back from empty (new, or truncated
   * on open): writes collect in `tail`, and each whole part starts uploading at once.
   */
  sequential?: SequentialWriting;
  /** The streaming upload in progress, if any. */
  stream?: StreamingUpload;
  /** Set while some bytes are only in the base object (a large object opened without O_TRUNC). */
  sparse?: SparseContent;
  /** Reads a range of the base object (set with `sparse`). */
  fetchBase?: (range: ByteRange) => Promise<Buffer>;
  /** Serialises changes to the staging file, so fetched base bytes never overwrite a user's write. */
  private staged: Promise<unknown> = Promise.resolve();

  constructor(
    public path: string,
    public key: string,
    readonly staging: StagingFile,
    /** User metadata the object will be written with (s3fs attributes included). */
    public metadata: Record<string, string>,
    /** ETag of the object the data started from, when it existed. */
    public baseEtag?: string,
    public contentType?: string,
  ) {}

  /** The key the next upload writes to. */
  get uploadKey(): string {
    return this.conflictKey ?? this.key;
  }

  /** What the object must still be for the next upload to replace it. */
  get precondition(): Precondition {
    if (this.conflictKey !== undefined || !this.conflictCheck) return { kind: "none" };
    return this.baseEtag === undefined ? { kind: "absent" } : { kind: "etag", etag: this.baseEtag };
  }

  get dirty(): boolean {
    return this.generation !== this.uploadedGeneration;
  }

  markChanged(): void {
    this.generation++;
    this.mtimeMs = Date.now();
  }

  /** Bytes staged here and not yet in the bucket (for --max-dirty). */
  get unsavedBytes(): number {
    return this.sparse ? this.sparse.unsavedBytes : this.size - (this.stream?.streamedBytes ?? 0);
  }

  /**
   * Writes `data` at `offset`. `data` is not kept once the returned promise settles (the FUSE
   * adapter passes the kernel's buffer without copying it).
   */
  async write(data: Buffer, offset: number): Promise<number> {
    if (this.incomplete) throw this.incomplete;
    if (this.sequential && offset === this.size) return this.append(data);
    if (this.sequential) this.stopStreaming();
    try {
      await this.exclusive(async () => {
        await this.writeStaging(data, offset);
        this.sparse?.noteWrite(offset, offset + data.length);
      });
    } catch (err) {
      throw this.stagingFailed(err);
    }
    this.size = Math.max(this.size, offset + data.length);
    this.markChanged();
    return data.length;
  }

  /** A write at the end of a file written front to back: into the tail, whole parts onwards. */
  private async append(data: Buffer): Promise<number> {
    const sequential = this.sequential!;
    const offset = this.size;
    let done = 0;
    while (done < data.length) {
      // Front-to-back mode can end while a part is committed (a flush or a seek on another
      // handle took the stream): the rest of this write goes to staging like any other write.
      if (this.sequential !== sequential) return done + (await this.write(data.subarray(done), offset + done));
      sequential.tail ??= new PartTail(this.size, sequential.partSize);
      const taken = sequential.tail.take(data, done);
      done += taken;
      this.size += taken;
      if (sequential.tail.full) await this.commitPart(sequential);
    }
    this.markChanged();
    return data.length;
  }

  /**
   * A whole part: to staging in the background, and to the stream (waits while it is full).
   * The staging write is queued and the stream started before the first await, so a read or a
   * flush that runs while this waits finds the part's bytes in the staging queue (the tail is
   * already gone) and the file out of beforeFirstPart.
   */
  private async commitPart(sequential: SequentialWriting): Promise<void> {
    const part = sequential.tail!;
    sequential.tail = undefined;
    if (this.incomplete) throw this.incomplete;
    const previous = sequential.lastPartStaged;
    const staged = this.stageUnstaged(part);
    sequential.lastPartStaged = staged;
    const stream = (this.stream ??= sequential.startStream());
    // At most one part waits for the staging disk: a slow disk slows the writer down.
    await previous;
    if (this.incomplete) throw this.incomplete;
    // Waits while the stream has its maximum of parts in flight: backpressure on the writer. A
    // stream taken meanwhile (flush, seek) is closed and skips the part: staging has it.
    const { released } = await stream.add(part.start, part.bytes());
    void Promise.all([staged, released]).then(() => part.recycle());
  }

  /** Queues the bytes of `tail` not yet queued to staging (see PartTail.unstaged). */
  private stageUnstaged(tail: PartTail): Promise<void> {
    const { bytes, offset } = tail.unstaged();
    return bytes.length > 0 ? this.stageInBackground(bytes, offset) : this.staged.then(() => undefined);
  }

  /** Queues a staging write nobody waits for; a failure marks the file incomplete. */
  private stageInBackground(data: Buffer, offset: number): Promise<void> {
    return this.exclusive(() => this.writeStaging(data, offset)).catch((err: unknown) => {
      this.stagingFailed(err);
    });
  }

  /** Records a failed staging write: the file can no longer be uploaded as the writer meant it. */
  private stagingFailed(err: unknown): unknown {
    const code = (err as { code?: unknown }).code;
    this.incomplete ??= typeof code === "string" && DISK_FULL.has(code)
      ? new StagingFullError(`staging disk full while writing ${this.path}`, { cause: err })
      : new Error(`staging write failed for ${this.path}`, { cause: err });
    this.stopStreaming();
    this.markChanged();
    return this.incomplete;
  }

  /**
   * Ends front-to-back mode and takes the streaming upload (for completion or abort); the tail
   * is queued to staging, so after `settled()` the staging file holds every byte.
   */
  takeStream(): StreamingUpload | undefined {
    const tail = this.sequential?.tail;
    this.sequential = undefined;
    // A read that still holds the tail finds it recycled and reads staging again (see read()).
    if (tail) void this.stageUnstaged(tail).then(() => tail.recycle());
    const stream = this.stream;
    this.stream = undefined;
    return stream;
  }

  /**
   * A flush before the first whole part: queues the tail to staging (for the upload of what is
   * there now, a single PUT from staging) and stays in front-to-back mode, the tail still
   * collecting. `dd of=F` is the common case: it closes a duplicate of F's descriptor right after
   * opening it, and that flush used to end streaming, so the whole file went through staging and
   * was uploaded at close.
   */
  stageTail(): void {
    const tail = this.sequential?.tail;
    // Never recycled before this write is done: the part's own staging write queues behind it.
    if (tail) void this.stageUnstaged(tail);
  }

  /** True while front to back with no part handed to a stream yet (everything is still in the tail). */
  get beforeFirstPart(): boolean {
    return this.sequential !== undefined && this.stream === undefined;
  }

  /** The file is no longer written front to back: whole-file upload from staging instead. */
  stopStreaming(): void {
    void this.takeStream()?.abort();
  }

  /** Waits for every queued staging write; rejects if one failed. */
  async settled(): Promise<void> {
    await this.staged;
    if (this.incomplete) throw this.incomplete;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return Buffer.alloc(0);
    if (this.sparse) return this.readSparse(this.sparse, offset, end);
    for (;;) {
      const tail = this.sequential?.tail;
      await this.staged; // whole parts being written to staging
      const data = await readRange(this.staging.handle, offset, end - offset);
      // The tail of a file written front to back is only in memory. If it became a part and was
      // recycled meanwhile, its bytes are in staging now: read again.
      if (!tail || tail.overlay(data, offset)) return data;
    }
  }

  /** Bytes not in staging come from the base object (not stored: staging holds only changes). */
  private async readSparse(sparse: SparseContent, offset: number, end: number): Promise<Buffer> {
    const missing = sparse.missing(offset, end);
    const [data, ...pieces] = await Promise.all([
      readRange(this.staging.handle, offset, end - offset),
      ...missing.map((range) => this.base(range)),
    ]);
    missing.forEach((range, i) => pieces[i]!.copy(data!, range.start - offset));
    return data!;
  }

  async truncate(size: number): Promise<void> {
    if (size !== this.size) this.stopStreaming();
    await this.exclusive(async () => {
      await this.staging.handle.truncate(size);
      this.sparse?.truncate(size);
    });
    this.size = size;
    this.markChanged();
  }

  /** Fetches the base bytes of [start, end) the staging file lacks, so it holds all of them. */
  async fill(start: number, end: number): Promise<void> {
    const sparse = this.sparse;
    if (!sparse) return;
    for (const range of sparse.missing(start, end)) {
      const data = await this.base(range);
      await this.exclusive(async () => {
        // A write may have landed while the bytes were fetched: keep it, fill only what is still missing.
        for (const gap of sparse.missing(range.start, range.end)) {
          await this.writeStaging(data.subarray(gap.start - range.start, gap.end - range.start), gap.start);
          sparse.noteFill(gap.start, gap.end);
        }
      });
    }
  }

  private base(range: ByteRange): Promise<Buffer> {
    if (!this.fetchBase) throw new Error(`${this.path}: sparse file without a base reader`);
    return this.fetchBase(range);
  }

  private async writeStaging(data: Buffer, offset: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.staging.handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.staged.then(work);
    this.staged = run.catch(() => undefined);
    return run;
  }
}
