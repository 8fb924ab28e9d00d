/**
 * A file being written through the mount: its bytes live in a staging file until uploaded.
 * All handles open on the same path share one DirtyFile, so readers see writers' data.
 *
 * INVARIANT: `size` is the logical file size. Without `sparse`, the staging file holds every byte
 * below it (writes past the end leave holes, which read as zeros, as on a local disk); with
 * `sparse`, bytes it does not hold come from the base object (see sparse-content.ts).
 * `generation` counts changes; the upload of generation G leaves the file clean only if no
 * change happened while it ran.
 *
 * Its state is private: the write-back (write-back.ts) and the filesystem change it only through
 * the methods below, each an event of the state machine in dirty-state.ts. The staging file's I/O,
 * and its order, is in staging-queue.ts.
 */
import type { ByteRange } from "../store/object-store.js";
import { withAttributes, type PosixAttributes } from "../store/s3fs-metadata.js";
import { checkTransition, classify, type DirtyState } from "./dirty-state.js";
import type { SparseContent } from "./sparse-content.js";
import type { StagingFile } from "./staging.js";
import type { StreamingUpload } from "./streaming-upload.js";
import { PartTail } from "./part-tail.js";
import { SaveState } from "./save-state.js";
import { stagingError, type DirtyFileInit, type SequentialWriting, type UploadOutcome } from "./dirty-file-types.js";
import { StagingQueue, type BaseReader } from "./staging-queue.js";
import type { Precondition } from "./uploader.js";

export {
  StagingFullError,
  type DirtyFileInit,
  type SequentialWriting,
  type UploadOutcome,
} from "./dirty-file-types.js";

export class DirtyFile {
  readonly staging: StagingFile;
  readonly contentType?: string;
  private _path: string;
  private _key: string;
  private _metadata: Record<string, string>;
  private _size = 0;
  private _openCount = 0;
  /** Set when the path is unlinked while open: nothing is uploaded on close. */
  private _unlinked = false;
  /** Base version, upload target, saved generation and upload queue. */
  private readonly saves = new SaveState();
  private _mtimeMs = Date.now();
  /** Set when a staging write failed (disk full, or an I/O error): the content is incomplete. */
  private _incomplete?: Error;
  /**
   * Set while the file has only ever been written front to back from empty (new, or truncated
   * on open): writes collect in `tail`, and each whole part starts uploading at once.
   */
  private sequential?: SequentialWriting;
  /** The streaming upload in progress, if any. */
  private stream?: StreamingUpload;
  /** Set while some bytes are only in the base object (a large object opened without O_TRUNC). */
  private _sparse?: SparseContent;
  /** Reads a range of the base object (set with `sparse`). */
  private fetchBase?: BaseReader;
  /** Serialises changes to the staging file, so fetched base bytes never overwrite a user's write. */
  private readonly queue: StagingQueue;
  private _state: DirtyState = "clean";

  constructor(init: DirtyFileInit) {
    this._path = init.path;
    this._key = init.key;
    this.staging = init.staging;
    this.queue = new StagingQueue(init.staging, (err) => this.stagingFailed(err));
    this._metadata = init.metadata;
    this.saves.baseEtag = init.baseEtag;
    this.contentType = init.contentType;
    this._size = init.size ?? 0;
    this._mtimeMs = init.mtimeMs ?? Date.now();
    this.saves.conflictCheck = init.conflictCheck ?? true;
    this.saves.conflictKey = init.conflictKey;
    this.settle();
  }

  get path(): string {
    return this._path;
  }
  get key(): string {
    return this._key;
  }
  get size(): number {
    return this._size;
  }
  get mtimeMs(): number {
    return this._mtimeMs;
  }
  get metadata(): Record<string, string> {
    return this._metadata;
  }
  get baseEtag(): string | undefined {
    return this.saves.baseEtag;
  }
  get generation(): number {
    return this.saves.generation;
  }
  get openCount(): number {
    return this._openCount;
  }
  get unlinked(): boolean {
    return this._unlinked;
  }
  get lastError(): unknown {
    return this.saves.lastError;
  }
  get incomplete(): Error | undefined {
    return this._incomplete;
  }
  get conflictKey(): string | undefined {
    return this.saves.conflictKey;
  }
  get sparse(): SparseContent | undefined {
    return this._sparse;
  }
  get state(): DirtyState {
    return this._state;
  }
  /** True while the file is written front to back from empty (see allowStreaming). */
  get frontToBack(): boolean {
    return this.sequential !== undefined;
  }
  /** False once the base version is unknown (see forgetBaseVersion). */
  get checksConflicts(): boolean {
    return this.saves.conflictCheck;
  }
  /** True while parts of a streaming upload are in flight (they will free staged data). */
  get streamBusy(): boolean {
    return this.stream?.busy ?? false;
  }

  /** Moves to the state the fields now describe, along the transition table. */
  private settle(): void {
    const next = classify(this.saves, this._incomplete, this.sequential !== undefined, this._sparse);
    checkTransition(this._state, next, this._path);
    this._state = next;
  }

  /** The key the next upload writes to. */
  get uploadKey(): string {
    return this.saves.conflictKey ?? this._key;
  }

  /** What the object must still be for the next upload to replace it. */
  get precondition(): Precondition {
    return this.saves.precondition;
  }

  get dirty(): boolean {
    return this.saves.dirty;
  }

  markChanged(): void {
    this.saves.generation++;
    this._mtimeMs = Date.now();
    this.settle();
  }

  /** Bytes staged here and not yet in the bucket (for --max-dirty). */
  get unsavedBytes(): number {
    return this._sparse ? this._sparse.unsavedBytes : this._size - (this.stream?.streamedBytes ?? 0);
  }

  /** A handle opened the file. */
  retain(): void {
    this._openCount++;
  }

  /** A handle on the file closed. */
  releaseHandle(): void {
    this._openCount--;
  }

  /** The path was unlinked (or renamed over): nothing of this file may reach the bucket any more. */
  markUnlinked(): void {
    this._unlinked = true;
  }

  /** The path (and key) after a rename. */
  moveTo(path: string, key: string): void {
    this._path = path;
    this._key = key;
  }

  /** The object now at the key is the given version (a rename's copy, a metadata rewrite): later uploads replace it. */
  rebase(etag: string, key?: string): void {
    this.saves.baseEtag = etag;
    if (this._sparse) this._sparse.base = { ...this._sparse.base, key: key ?? this._sparse.base.key, etag };
  }

  /** The base version is no longer known (after a directory rename): later uploads are unconditional. */
  forgetBaseVersion(): void {
    this.saves.conflictCheck = false;
  }

  /** New attributes; `unsaved`: they travel with the next upload (the file counts as changed). */
  changeAttributes(attrs: PosixAttributes, unsaved: boolean): void {
    this._metadata = withAttributes(this._metadata, attrs);
    if (attrs.mtimeMs !== undefined) this._mtimeMs = attrs.mtimeMs;
    if (unsaved) this.saves.generation++;
    this.settle();
  }

  /** Lets bytes stay in the base object; `fetchBase` reads them (through the read chain and cache). */
  makeSparse(content: SparseContent, fetchBase: BaseReader): void {
    this._sparse = content;
    this.fetchBase = fetchBase;
    this.settle();
  }

  /** Drops the sparse bookkeeping once staging holds every byte. */
  dropSparseIfComplete(): void {
    if (this._sparse?.complete) this._sparse = undefined;
    this.settle();
  }

  /** The file is written front to back from empty: whole parts may stream while it is written. */
  allowStreaming(partSize: number, startStream: () => StreamingUpload): void {
    this.sequential = { partSize, startStream, lastPartStaged: Promise.resolve() };
    this.settle();
  }

  /** Runs `work` (an upload) after any upload of this file still running; the file is "uploading" meanwhile. */
  runUpload<T>(work: () => Promise<T>): Promise<T> {
    return this.saves.enqueue(work, () => this.settle());
  }

  /** Resolves when no upload of this file runs or is queued. */
  uploadsDone(): Promise<unknown> {
    return this.saves.idle();
  }

  /** An upload succeeded: the file is clean unless it changed while the upload ran. */
  uploadSucceeded(outcome: UploadOutcome): void {
    // A chmod/chown/touch during the upload replaced the metadata: keep it (the file stays
    // dirty and the next upload carries it); overwriting it lost the change (rsync -a twice).
    if (this._metadata === outcome.captured) this._metadata = outcome.sent;
    this.saves.uploadedGeneration = outcome.generation;
    this.saves.lastError = undefined;
    if (this.saves.conflictKey === undefined && !this._unlinked) this.saves.baseEtag = outcome.etag;
    this.settle();
  }

  /** An upload failed: every flush reports it until one succeeds. */
  uploadFailed(err: unknown): void {
    this.saves.lastError = err;
    this.settle();
  }

  /** The object changed in the bucket: this data now goes to `conflictKey`. */
  divertToConflictCopy(conflictKey: string): void {
    this.saves.conflictKey = conflictKey;
    this.settle();
  }

  /**
   * Writes `data` at `offset`. `data` is not kept once the returned promise settles (the FUSE
   * adapter passes the kernel's buffer without copying it).
   */
  async write(data: Buffer, offset: number): Promise<number> {
    if (this._incomplete) throw this._incomplete;
    if (this.sequential && offset === this._size) return this.append(data);
    if (this.sequential) this.stopStreaming();
    try {
      await this.queue.write(data, offset, () => this._sparse?.noteWrite(offset, offset + data.length));
    } catch (err) {
      throw this.stagingFailed(err);
    }
    this._size = Math.max(this._size, offset + data.length);
    this.markChanged();
    return data.length;
  }

  /** A write at the end of a file written front to back: into the tail, whole parts onwards. */
  private async append(data: Buffer): Promise<number> {
    const sequential = this.sequential!;
    const offset = this._size;
    let done = 0;
    while (done < data.length) {
      // Front-to-back mode can end while a part is committed (a flush or a seek on another
      // handle took the stream): the rest of this write goes to staging like any other write.
      if (this.sequential !== sequential) return done + (await this.write(data.subarray(done), offset + done));
      sequential.tail ??= new PartTail(this._size, sequential.partSize);
      const taken = sequential.tail.take(data, done);
      done += taken;
      this._size += taken;
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
    if (this._incomplete) throw this._incomplete;
    const previous = sequential.lastPartStaged;
    const staged = this.queue.stageUnstaged(part);
    sequential.lastPartStaged = staged;
    const stream = (this.stream ??= sequential.startStream());
    // At most one part waits for the staging disk: a slow disk slows the writer down.
    await previous;
    if (this._incomplete) throw this._incomplete;
    // Waits while the stream has its maximum of parts in flight: backpressure on the writer. A
    // stream taken meanwhile (flush, seek) is closed and skips the part: staging has it.
    const { released } = await stream.add(part.start, part.bytes());
    void Promise.all([staged, released]).then(() => part.recycle());
  }

  /** Records a failed staging write: the file can no longer be uploaded as the writer meant it. */
  private stagingFailed(err: unknown): unknown {
    this._incomplete ??= stagingError(err, this._path);
    this.stopStreaming();
    this.markChanged();
    return this._incomplete;
  }

  /**
   * Ends front-to-back mode and takes the streaming upload (for completion or abort); the tail
   * is queued to staging, so after `settled()` the staging file holds every byte.
   */
  takeStream(): StreamingUpload | undefined {
    const tail = this.sequential?.tail;
    this.sequential = undefined;
    // A read that still holds the tail finds it recycled and reads staging again (see StagingQueue.read).
    if (tail) void this.queue.stageUnstaged(tail).then(() => tail.recycle());
    const stream = this.stream;
    this.stream = undefined;
    this.settle();
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
    if (tail) void this.queue.stageUnstaged(tail);
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
    await this.queue.idle();
    if (this._incomplete) throw this._incomplete;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this._size);
    if (end <= offset) return Buffer.alloc(0);
    if (this._sparse) return this.queue.readSparse(this._sparse, offset, end, (range) => this.base(range));
    return this.queue.read(offset, end - offset, () => this.sequential?.tail);
  }

  async truncate(size: number): Promise<void> {
    if (size !== this._size) this.stopStreaming();
    await this.queue.truncate(size, () => this._sparse?.truncate(size));
    this._size = size;
    this.markChanged();
  }

  /** Fetches the base bytes of [start, end) the staging file lacks, so it holds all of them. */
  async fill(start: number, end: number): Promise<void> {
    const sparse = this._sparse;
    if (!sparse) return;
    await this.queue.fill(sparse, start, end, (range) => this.base(range));
    this.settle();
  }

  private base(range: ByteRange): Promise<Buffer> {
    if (!this.fetchBase) throw new Error(`${this._path}: sparse file without a base reader`);
    return this.fetchBase(range);
  }
}
