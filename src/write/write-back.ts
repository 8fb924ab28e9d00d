/**
 * Write-back: everything between a file opened for writing and its object in the bucket. It
 * keeps the files with local data (one DirtyFile per path, shared by every handle), fills a
 * staging file from the existing object, streams files written front to back, uploads on
 * flush/fsync/close, journals uploads for crash recovery (recovery.ts), keeps conflict copies,
 * and answers size and mtime for files with local data. The filesystem calls it through the
 * methods below; it needs only `WriteBackDeps`, not the filesystem's context.
 *
 * An existing object of at most one part is fetched whole when opened without O_TRUNC (the
 * upload would need all of it anyway). A larger one stays sparse: only bytes that are read or
 * that complete a changed part are fetched, and unchanged parts are copied server-side on
 * upload, so appending 1 MiB to a 5 GiB object sends about 1 MiB (see part-plan.ts).
 *
 * Durability contract: close() and fsync() return only after the object is in the bucket; if
 * the upload fails they report EIO, the staging file is kept, its location is logged, and the
 * next flush/fsync/close of that file retries. Before a multipart upload, and after any failed
 * upload, the staging file is fsynced and recorded in the upload journal, so a crash never loses
 * data a close/fsync was given: the next mount finishes the upload (recover()).
 */
import type { Logger } from "../log/logger.js";
import type { ObjectStore } from "../store/object-store.js";
import { withAttributes, type PosixAttributes } from "../store/s3fs-metadata.js";
import type { DirtyMeasure } from "./dirty-budget.js";
import { DirtyFile, StagingFullError } from "./dirty-file.js";
import { WriteError } from "./errors.js";
import type { UploadStatusProvider } from "../metrics/status.js";
import { journalUploadStatus } from "./journal-status.js";
import type { UploadJournal } from "./journal.js";
import { recoverJournal, type RecoveryResult } from "./recovery.js";
import { SparseContent, type BaseObject } from "./sparse-content.js";
import type { StagingArea } from "./staging.js";
import { StreamingUpload } from "./streaming-upload.js";
import { unsavedRecord, type UnsavedFile } from "./unsaved-file.js";
import { uploadFile } from "./upload-file.js";
import type { Uploader } from "./uploader.js";

export interface WriteBackDeps {
  store: ObjectStore;
  uploader: Uploader;
  staging: StagingArea;
  /** Crash-safe record of staged files whose upload has not succeeded yet. */
  journal: UploadJournal;
  log: Logger;
  /** The object key of a path. */
  keyOf(path: string): string;
  /** Reads bytes of a base object version through the read chain (and its cache). */
  readBase(base: BaseObject, start: number, length: number): Promise<Buffer>;
  /** The bucket now holds this file's data at its path (the filesystem caches its stat). */
  saved(file: LocalVersion): void;
  /** What the filesystem knows of the path is stale (a conflict kept the bucket's version). */
  stale(path: string): void;
}

/** What a stat of a file with local data shows: its object as it will be uploaded. */
export interface LocalVersion {
  path: string;
  key: string;
  size: number;
  mtimeMs: number;
  etag: string;
  metadata: Record<string, string>;
}

/** What the file was opened from: the object's ETag (absent: no object yet) and mtime. */
export interface OpenBase {
  etag?: string;
  mtimeMs: number;
}

export class WriteBack {
  /** Whole-file uploads running now (for --max-dirty: they will free staged data). */
  private activeUploads = 0;
  /** Cancels the upload from staging a file has running (see `unlinked`). */
  private readonly cancels = new WeakMap<DirtyFile, AbortController>();
  /** INVARIANT: keyed by the file's current path; `file.path` equals its key. */
  private readonly files = new Map<string, DirtyFile>();

  constructor(private readonly deps: WriteBackDeps) {}

  /** The file with local data at `path`, if any. */
  at(path: string): DirtyFile | undefined {
    return this.files.get(path);
  }

  /** Files with local data at or below `dirPath`. */
  under(dirPath: string): DirtyFile[] {
    const below = dirPath === "/" ? "/" : `${dirPath}/`;
    return [...this.files.values()].filter((f) => f.path.startsWith(below));
  }

  all(): DirtyFile[] {
    return [...this.files.values()];
  }

  /** Registers a file at its path. */
  private show(file: DirtyFile): void {
    this.files.set(file.path, file);
  }

  private hide(file: DirtyFile): void {
    if (this.files.get(file.path) === file) this.files.delete(file.path);
  }

  /** Moves a path (and, for a directory, everything below it) after a rename. */
  moved(from: string, to: string): void {
    for (const file of [...this.files.values()]) {
      const target =
        file.path === from ? to : file.path.startsWith(`${from}/`) ? to + file.path.slice(from.length) : undefined;
      if (target === undefined) continue;
      this.files.delete(file.path);
      file.moveTo(target, this.deps.keyOf(target));
      this.files.set(target, file);
    }
  }

  /** The size/mtime answer for a file with local data (undefined: ask the bucket). */
  localVersion(path: string): LocalVersion | undefined {
    const file = this.files.get(path);
    return file && versionOf(file);
  }

  /** Every file with local data, as stat answers (a directory listing shows them). */
  localVersions(): LocalVersion[] {
    return this.all().map(versionOf);
  }

  /** Files whose changes are not in the bucket yet (status, metrics, shutdown). */
  unsaved(): UnsavedFile[] {
    return this.all()
      .filter((f) => f.dirty && !f.unlinked)
      .map(unsavedRecord);
  }

  /** Pending and failed uploads for `bucketfs status`, from the upload journal. */
  uploadStatus(sentBytes: (key: string) => number | undefined): UploadStatusProvider {
    return journalUploadStatus(this.deps.journal, () => this.unsaved(), sentBytes);
  }

  /** Staged bytes not yet uploaded, and whether any upload is running to reduce them. */
  dirtyMeasure(): DirtyMeasure {
    let dirtyBytes = 0;
    let draining = this.activeUploads > 0;
    for (const file of this.files.values()) {
      if (!file.dirty || file.unlinked) continue;
      dirtyBytes += file.unsavedBytes;
      draining ||= file.streamBusy;
    }
    return { dirtyBytes, draining };
  }

  /** The shared DirtyFile of `path`, creating it (and fetching current content) if needed. */
  async openForWrite(path: string, base: OpenBase, truncate: boolean): Promise<DirtyFile> {
    const existing = this.files.get(path);
    if (existing) {
      if (truncate) await existing.truncate(0);
      return existing;
    }
    const { store, uploader } = this.deps;
    const key = this.deps.keyOf(path);
    const info = base.etag !== undefined ? await store.head({ key }) : undefined;
    const staging = await this.deps.staging.create();
    const size = info && !truncate ? info.size : 0;
    const file = new DirtyFile({
      path,
      key,
      staging,
      metadata: info?.metadata ?? {},
      baseEtag: info?.etag,
      contentType: info?.contentType,
      mtimeMs: base.mtimeMs,
      size,
    });
    try {
      if (info && !truncate) {
        this.makeSparse(file, new SparseContent({ key, etag: info.etag, size: info.size }));
        // A file of at most one part is uploaded whole anyway: fetch it now, so a conflict can
        // always save a complete copy of it.
        if (info.size <= uploader.partSizeFor(info.size)) await this.materialize(file);
      }
      if (truncate && info && info.size > 0) file.markChanged();
      if (truncate || !info) this.allowStreaming(file);
    } catch (err) {
      await this.deps.staging.discard(staging);
      throw err;
    }
    this.files.set(path, file);
    return file;
  }

  /** Lets a file leave bytes in its base object, fetching them through the read chain (and cache). */
  makeSparse(file: DirtyFile, content: SparseContent): void {
    file.makeSparse(content, (range) => this.deps.readBase(content.base, range.start, range.end - range.start));
  }

  /** Fetches every base byte a sparse file lacks; afterwards the staging file is the whole file. */
  async materialize(file: DirtyFile): Promise<void> {
    if (!file.sparse) return;
    await file.fill(0, file.size);
    file.dropSparseIfComplete();
  }

  /** A new, empty file: it will be uploaded on its first flush even if nothing is written. */
  async create(path: string, mode: number, owner: { uid: number; gid: number }): Promise<DirtyFile> {
    const key = this.deps.keyOf(path);
    const staging = await this.deps.staging.create();
    const metadata = withAttributes({}, { mode, ...owner, mtimeMs: Date.now() });
    const file = new DirtyFile({ path, key, staging, metadata });
    file.markChanged();
    this.allowStreaming(file);
    this.files.set(path, file);
    return file;
  }

  /** A file written front to back from empty uploads its full parts while it is being written. */
  private allowStreaming(file: DirtyFile): void {
    const { store, uploader } = this.deps;
    // The part-size rule with no size known yet: the configured part, at least the store's minimum.
    // Files below one part stay a single PUT: the stream begins with the first full part.
    const partSize = uploader.partSizeFor(0);
    file.allowStreaming(
      partSize,
      () =>
        new StreamingUpload({
          store,
          uploader,
          key: file.uploadKey,
          source: file.staging.handle,
          partSize,
          concurrency: uploader.config.concurrency,
          metadata: withAttributes(file.metadata, { mtimeMs: file.mtimeMs }),
          contentType: file.contentType,
        }),
    );
  }

  /** Uploads the file if it has changes; serialised per file. Rejects with WriteError on failure. */
  sync(file: DirtyFile): Promise<void> {
    return file.runUpload(async () => {
      this.activeUploads++;
      try {
        await uploadFile(file, this.uploadDeps(file));
      } finally {
        this.activeUploads--;
      }
    });
  }

  private uploadDeps(file: DirtyFile): Parameters<typeof uploadFile>[1] {
    return {
      ...this.deps,
      materialize: () => this.materialize(file),
      cancellable: (run) => this.cancellable(file, run),
      saved: () => this.deps.saved(versionOf(file)),
    };
  }

  /** A handle on the file closed: uploads what the last flush missed, then drops idle local state. */
  async closed(file: DirtyFile): Promise<void> {
    file.releaseHandle();
    // Normally flush already uploaded; this catches writes after the last flush (e.g. mmap).
    if (file.openCount === 0 && file.dirty && !file.unlinked) await this.sync(file).catch(() => undefined);
    await this.releaseIfIdle(file);
  }

  /** Drops a file's local state once nothing needs it (no handle open, nothing unsaved). */
  async releaseIfIdle(file: DirtyFile): Promise<void> {
    if (file.openCount > 0 || (file.dirty && !file.unlinked && !file.incomplete)) return;
    // Incomplete data (staging disk full) is never uploaded. If an earlier failed upload told
    // the user its data is kept in the staging file, it stays there (listed, not uploaded).
    if (file.incomplete && !file.unlinked && file.lastError !== undefined) return this.keepIncomplete(file);
    await this.discard(file);
  }

  private async keepIncomplete(file: DirtyFile): Promise<void> {
    this.hide(file);
    const why = `a later write failed (${file.incomplete?.message ?? "staging write failed"}); the data of the earlier failed upload is kept here and never uploaded`;
    this.deps.journal.markFailed(file.staging.path, why, "incomplete");
    await file.staging.handle.close().catch(() => undefined);
    this.deps.log.error({ path: file.path, stagingFile: file.staging.path }, why);
  }

  /**
   * The file's name is gone (unlink, or a rename onto it): nothing of it may reach the bucket
   * after this resolves. Cancels its upload from staging (a streamed file's last parts are let
   * finish) and waits until no upload of it runs, so a DELETE or copy sent next is the last word;
   * frees its staging file unless a handle still has it open.
   */
  async unlinked(file: DirtyFile): Promise<void> {
    file.markUnlinked();
    this.hide(file);
    this.cancels.get(file)?.abort();
    // A stream still open for writing would never be completed now: abort it (write-model regression).
    await file.takeStream()?.abort();
    await file.uploadsDone();
    if (file.openCount === 0) await this.discard(file);
  }

  /** Forgets a file's local data for good (unlinked, or saved): staging file and journal entry. */
  async discard(file: DirtyFile): Promise<void> {
    this.hide(file);
    this.deps.journal.remove(file.staging.path);
    await this.deps.staging.discard(file.staging);
  }

  /** New attributes for a path with local data; false when there is none (change the object instead). */
  changeAttributes(path: string, attrs: PosixAttributes): boolean {
    const file = this.files.get(path);
    if (!file?.dirty) return false;
    // Not uploaded yet: the attributes travel with the next upload.
    file.changeAttributes(attrs, true);
    return true;
  }

  /**
   * The object's metadata was rewritten in the bucket while the file is open but unchanged (touch
   * opens for writing, then sets times): the open file takes the new attributes and version.
   */
  attributesRewritten(path: string, attrs: PosixAttributes, etag: string | undefined): void {
    const file = this.files.get(path);
    if (!file) return;
    file.changeAttributes(attrs, false);
    if (etag) file.rebase(etag);
  }

  /**
   * Finishes the uploads a previous run left in the journal; see recovery.ts. Resolves once the
   * files are adopted (before the mount serves anything); `done` when every upload has finished.
   */
  recover(): Promise<RecoveryResult> {
    return recoverJournal({
      ...this.deps,
      makeSparse: (file, content) => this.makeSparse(file, content),
      showIfFree: (file) => {
        if (!this.files.has(file.path)) this.show(file);
      },
      isShown: (file) => this.files.get(file.path) === file,
      sync: (file) => this.sync(file),
      releaseIfIdle: (file) => this.releaseIfIdle(file),
    });
  }

  /** Uploads every file with unsaved changes (unmount, SIGTERM). Returns the paths that failed. */
  async flushAll(): Promise<string[]> {
    const failed: string[] = [];
    for (const file of this.all()) {
      await this.sync(file).catch(() => failed.push(file.path));
    }
    return failed;
  }

  /** After flushAll and unmount: closes the journal (what failed stays in it for the next mount). */
  close(): void {
    this.deps.journal.close();
  }

  /** What a crash leaves: staging files and journal closed as they are (tests of recovery). */
  async abandon(): Promise<void> {
    await Promise.all(this.all().map((file) => file.staging.handle.close().catch(() => undefined)));
    this.deps.journal.close();
  }

  /** Runs an upload that `unlinked` can cancel. */
  private async cancellable<T>(file: DirtyFile, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const cancel = new AbortController();
    this.cancels.set(file, cancel);
    try {
      return await run(cancel.signal);
    } finally {
      this.cancels.delete(file);
    }
  }
}

/** Turns a full staging disk into ENOSPC for the writer (the only error a write can give). */
export function writeErrorOf(err: unknown): unknown {
  return err instanceof StagingFullError ? new WriteError("ENOSPC", err.message, { cause: err }) : err;
}

/** What the filesystem (src/vfs) calls: the write-back's whole surface towards it. */
export type LocalWrites = Pick<
  WriteBack,
  | "at"
  | "under"
  | "moved"
  | "localVersion"
  | "localVersions"
  | "openForWrite"
  | "create"
  | "materialize"
  | "sync"
  | "closed"
  | "releaseIfIdle"
  | "unlinked"
  | "changeAttributes"
  | "attributesRewritten"
  | "unsaved"
  | "uploadStatus"
  | "dirtyMeasure"
  | "recover"
  | "flushAll"
  | "abandon"
  | "close"
>;

function versionOf(file: DirtyFile): LocalVersion {
  return {
    path: file.path,
    key: file.key,
    size: file.size,
    mtimeMs: file.mtimeMs,
    etag: file.baseEtag ?? "",
    metadata: file.metadata,
  };
}
