/**
 * Moves data between the bucket and staging files: fills a staging file from an existing
 * object when it is opened for writing, and uploads it on flush/fsync/close.
 *
 * An existing object of at most one part is fetched whole when opened without O_TRUNC (the
 * upload would need all of it anyway). A larger one stays sparse: only bytes that are read or
 * that complete a changed part are fetched, and unchanged parts are copied server-side on
 * upload, so appending 1 MiB to a 5 GiB object sends about 1 MiB (see write/part-plan.ts).
 *
 * Durability contract: close() and fsync() return only after the object is in the bucket; if
 * the upload fails they report EIO, the staging file is kept, its location is logged, and the
 * next flush/fsync/close of that file retries. Before a multipart upload, and after any failed
 * upload, the staging file is fsynced and recorded in the upload journal, so a crash never loses
 * data a close/fsync was given: the next mount finishes the upload (recover()).
 *
 * Conflict policy: an upload replaces the object only if it is still the version the file was
 * opened from (or still absent, for a new file). Otherwise the bucket's version is left alone,
 * the local data is uploaded next to it as `<name>.conflict-<timestamp>`, and the writer gets EIO.
 */
import { constants } from "node:fs";
import { access, rm } from "node:fs/promises";
import { basename } from "node:path";
import { isStoreError } from "../store/errors.js";
import { DirtyFile, StagingFullError } from "../write/dirty-file.js";
import type { JournalEntry } from "../write/journal.js";
import { SparseContent } from "../write/sparse-content.js";
import { StreamingUpload } from "../write/streaming-upload.js";
import type { DirtyMeasure } from "../write/dirty-budget.js";
import { FsError } from "./errors.js";
import type { FsContext } from "./context.js";
import type { FileStat } from "./types.js";
import { withAttributes } from "./metadata.js";

export class FileSync {
  /** Whole-file uploads running now (for --max-dirty: they will free staged data). */
  private activeUploads = 0;
  /** Cancels the upload from staging a file has running (see `unlinked`). */
  private readonly cancels = new WeakMap<DirtyFile, AbortController>();

  constructor(private readonly ctx: FsContext) {}

  /** Staged bytes not yet uploaded, and whether any upload is running to reduce them. */
  dirtyMeasure(): DirtyMeasure {
    let dirtyBytes = 0;
    let draining = this.activeUploads > 0;
    for (const file of this.ctx.openFiles.allDirty()) {
      if (!file.dirty || file.unlinked) continue;
      dirtyBytes += file.unsavedBytes;
      draining ||= file.stream?.busy ?? false;
    }
    return { dirtyBytes, draining };
  }

  /** The shared DirtyFile of `path`, creating it (and fetching current content) if needed. */
  async openForWrite(path: string, stat: FileStat, truncate: boolean): Promise<DirtyFile> {
    const existing = this.ctx.openFiles.dirtyAt(path);
    if (existing) {
      if (truncate) await existing.truncate(0);
      return existing;
    }
    const { store, namespace } = this.ctx;
    const key = namespace.mapper.fileKey(path);
    const info = stat.etag !== undefined ? await store.head({ key }) : undefined;
    const staging = await this.ctx.staging.create();
    const file = new DirtyFile(path, key, staging, info?.metadata ?? {}, info?.etag, info?.contentType);
    file.mtimeMs = stat.mtimeMs;
    try {
      if (info && !truncate) {
        this.makeSparse(file, new SparseContent({ key, etag: info.etag, size: info.size }));
        file.size = info.size;
        // A file of at most one part is uploaded whole anyway: fetch it now, so a conflict can
        // always save a complete copy of it.
        if (info.size <= this.ctx.uploader.partSizeFor(info.size)) await this.materialize(file);
      }
      if (truncate && info && info.size > 0) file.markChanged();
      if (truncate || !info) this.allowStreaming(file);
    } catch (err) {
      await this.ctx.staging.discard(staging);
      throw err;
    }
    this.ctx.openFiles.setDirty(file);
    return file;
  }

  /** Lets a file leave bytes in its base object, fetching them through the read chain (and cache). */
  private makeSparse(file: DirtyFile, content: SparseContent): void {
    file.sparse = content;
    file.fetchBase = (range) => this.ctx.reader.read(content.base, range.start, range.end - range.start);
  }

  /** Fetches every base byte a sparse file lacks; afterwards the staging file is the whole file. */
  async materialize(file: DirtyFile): Promise<void> {
    if (!file.sparse) return;
    await file.fill(0, file.size);
    if (file.sparse.complete) file.sparse = undefined;
  }

  /** A new, empty file: it will be uploaded on its first flush even if nothing is written. */
  async create(path: string, mode: number, owner = this.ctx.namespace.defaultAttributes()): Promise<DirtyFile> {
    const key = this.ctx.namespace.mapper.fileKey(path);
    const staging = await this.ctx.staging.create();
    const metadata = withAttributes({}, { mode, ...owner, mtimeMs: Date.now() });
    const file = new DirtyFile(path, key, staging, metadata);
    file.markChanged();
    this.allowStreaming(file);
    this.ctx.openFiles.setDirty(file);
    return file;
  }

  /** A file written front to back from empty uploads its full parts while it is being written. */
  private allowStreaming(file: DirtyFile): void {
    const { store, uploader } = this.ctx;
    const partSize = Math.max(uploader.config.partSize, store.capabilities.minPartSize);
    // Files below one part stay a single PUT: the stream begins with the first full part.
    file.sequential = {
      partSize,
      lastPartStaged: Promise.resolve(),
      startStream: () => new StreamingUpload({
        store, uploader, key: file.uploadKey, source: file.staging.handle, partSize, concurrency: uploader.config.concurrency,
        metadata: withAttributes(file.metadata, { mtimeMs: file.mtimeMs }), contentType: file.contentType,
      }),
    };
  }

  /** Uploads the file if it has changes; serialised per file. Throws EIO on failure. */
  sync(file: DirtyFile): Promise<void> {
    const run = file.uploading.then(async () => {
      this.activeUploads++;
      try {
        await this.uploadIfDirty(file);
      } finally {
        this.activeUploads--;
      }
    });
    file.uploading = run.catch(() => undefined);
    return run;
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
    this.ctx.openFiles.dropDirty(file);
    const why = `a later write failed (${file.incomplete?.message ?? "staging write failed"}); the data of the earlier failed upload is kept here and never uploaded`;
    this.ctx.journal.markFailed(file.staging.path, why, "incomplete");
    await file.staging.handle.close().catch(() => undefined);
    this.ctx.log.error({ path: file.path, stagingFile: file.staging.path }, why);
  }

  /**
   * The file's name is gone (unlink, or a rename onto it): nothing of it may reach the bucket
   * after this resolves. Cancels its upload from staging (a streamed file's last parts are let
   * finish) and waits until no upload of it runs, so a DELETE or copy sent next is the last word;
   * frees its staging file unless a handle still has it open.
   */
  async unlinked(file: DirtyFile): Promise<void> {
    file.unlinked = true;
    this.ctx.openFiles.dropDirty(file);
    this.cancels.get(file)?.abort();
    // A stream still open for writing would never be completed now: abort it (write-model regression).
    await file.takeStream()?.abort();
    await file.uploading;
    if (file.openCount === 0) await this.discard(file);
  }

  /** Forgets a file's local data for good (unlinked, or saved): staging file and journal entry. */
  async discard(file: DirtyFile): Promise<void> {
    this.ctx.openFiles.dropDirty(file);
    this.ctx.journal.remove(file.staging.path);
    await this.ctx.staging.discard(file.staging);
  }

  /**
   * Takes over the uploads a previous run left in the journal: each staged file is served from
   * its staging file (reads and stat see the data at once) while its upload runs in the
   * background. Resolves once the files are adopted (before the mount serves anything); `done`
   * resolves when every upload has finished. Failures stay journaled as "failed".
   */
  async recover(): Promise<{ adopted: number; done: Promise<{ recovered: number; failed: number }> }> {
    const latest = new Map<string, JournalEntry>();
    const copies: JournalEntry[] = [];
    for (const entry of this.ctx.journal.entries()) {
      if (entry.state === "incomplete") {
        this.ctx.log.warn({ path: entry.path, stagingFile: entry.stagingFile }, "not uploading incomplete data kept by a previous run");
        continue;
      }
      // A conflict copy is data of its own, not a version of the file at its path: never superseded.
      if (this.isConflictCopy(entry)) {
        copies.push(entry);
        continue;
      }
      const stale = latest.get(entry.path);
      if (stale) await this.dropEntry(stale, "superseded by a later version of the same file");
      latest.set(entry.path, entry);
    }
    const files: DirtyFile[] = [];
    for (const entry of [...copies, ...latest.values()]) {
      const file = await this.adopt(entry);
      if (file) files.push(file);
    }
    if (files.length > 0) this.ctx.log.info({ files: files.map((f) => f.path) }, "finishing uploads left by a previous run");
    return { adopted: files.length, done: this.uploadRecovered(files) };
  }

  private async uploadRecovered(files: DirtyFile[]): Promise<{ recovered: number; failed: number }> {
    const results = await Promise.allSettled(files.map(async (file) => {
      try {
        await this.sync(file);
      } catch (err) {
        // A conflict copy (not shown at its path) that failed again stays journaled for the next
        // mount; nothing here reaches it any more, so its staging file is closed now.
        if (this.ctx.openFiles.dirtyAt(file.path) !== file) await file.staging.handle.close().catch(() => undefined);
        throw err;
      }
      await this.releaseIfIdle(file);
    }));
    const failed = results.filter((r) => r.status === "rejected").length;
    if (files.length > 0) this.ctx.log.info({ recovered: files.length - failed, failed }, "finished uploads left by a previous run");
    return { recovered: files.length - failed, failed };
  }

  private isConflictCopy(entry: JournalEntry): boolean {
    return entry.state === "conflict" || entry.key !== this.ctx.namespace.mapper.fileKey(entry.path);
  }

  private async adopt(entry: JournalEntry): Promise<DirtyFile | undefined> {
    const exists = await access(entry.stagingFile, constants.R_OK).then(() => true, () => false);
    if (!exists) {
      await this.dropEntry(entry, "its staging file is gone");
      return undefined;
    }
    const staging = await this.ctx.staging.reopen(entry.stagingFile);
    const file = new DirtyFile(entry.path, this.ctx.namespace.mapper.fileKey(entry.path), staging, entry.metadata, entry.baseEtag, entry.contentType);
    file.size = entry.size;
    if (entry.sparse) this.makeSparse(file, SparseContent.fromRecord(entry.sparse));
    file.conflictCheck = entry.conflictCheck;
    if (entry.key !== file.key) file.conflictKey = entry.key;
    file.markChanged();
    // A conflict copy is not the file at its path: upload it without showing it there.
    if (file.conflictKey === undefined && !this.ctx.openFiles.dirtyAt(file.path)) this.ctx.openFiles.setDirty(file);
    return file;
  }

  private async dropEntry(entry: JournalEntry, why: string): Promise<void> {
    this.ctx.log.warn({ path: entry.path, stagingFile: entry.stagingFile }, `dropping journaled upload: ${why}`);
    this.ctx.journal.remove(entry.stagingFile);
    await rm(entry.stagingFile, { force: true });
  }

  statOf(file: DirtyFile): FileStat {
    const stat = this.ctx.namespace.statFromObject(
      { key: file.key, size: file.size, etag: file.baseEtag ?? "", lastModified: new Date(file.mtimeMs) },
      file.metadata,
    );
    return { ...stat, mtimeMs: file.mtimeMs };
  }

  private async uploadIfDirty(file: DirtyFile): Promise<void> {
    // A streamed file completes its multipart upload (its metadata was fixed when the stream began).
    // One with no part streamed yet is uploaded from staging as it is and keeps streaming.
    let stream: StreamingUpload | undefined;
    if (file.beforeFirstPart) file.stageTail();
    else stream = file.takeStream();
    await file.settled().catch(() => undefined);
    if (file.incomplete) {
      void stream?.abort();
      const code = file.incomplete instanceof StagingFullError ? "ENOSPC" : "EIO";
      throw new FsError(code, `${file.path} is incomplete: ${file.incomplete.message}; nothing was uploaded`, { cause: file.incomplete });
    }
    if (!file.dirty || file.unlinked) {
      void stream?.abort();
      return;
    }
    const generation = file.generation;
    const captured = file.metadata;
    const metadata = withAttributes(captured, { mtimeMs: file.mtimeMs });
    const { journal, log } = this.ctx;
    const key = file.uploadKey;
    // A multipart upload from staging lasts long enough for a crash to hit it: journal it first,
    // so the next mount finishes it. A single PUT, or the last parts of a streamed file, is
    // journaled only when it fails (a retry always is): until close returns nothing was promised,
    // and this spares small files three fsyncs and streamed files an fdatasync of all their data.
    const journalFirst = file.lastError !== undefined || (!stream && file.size > this.ctx.uploader.partSizeFor(file.size));
    try {
      if (journalFirst) await this.journalFile(file, key, metadata);
      const size = file.size;
      const { etag } = stream ? await stream.finish(size, file.precondition) : await this.cancellable(file, (signal) => this.upload(file, key, metadata, signal));
      file.sparse?.uploadSucceeded({ key, etag, size });
      // A chmod/chown/touch during the upload replaced file.metadata: keep it (the file stays
      // dirty and the next upload carries it); overwriting it lost the change (rsync -a twice).
      if (file.metadata === captured) file.metadata = metadata;
      file.uploadedGeneration = generation;
      file.lastError = undefined;
      if (!file.dirty) journal.remove(file.staging.path);
      if (file.conflictKey === undefined && !file.unlinked) {
        file.baseEtag = etag;
        this.ctx.namespace.remember(file.path, this.statOf(file));
      }
    } catch (err) {
      file.sparse?.uploadFailed();
      // Deleted meanwhile (its upload was cancelled): there is nothing left to keep or retry.
      if (file.unlinked) return;
      file.lastError = err;
      if (isStoreError(err, "PreconditionFailed") && file.conflictKey === undefined) return this.keepConflictCopy(file, err);
      if (!journalFirst) await this.journalFile(file, key, metadata).catch((journalErr: unknown) => log.error({ path: file.path, err: journalErr }, "could not journal a failed upload"));
      journal.markFailed(file.staging.path, err instanceof Error ? err.message : String(err));
      log.error({ path: file.path, key, stagingFile: file.staging.path, err }, "upload failed; the data is kept in the staging file and the next flush/fsync/close retries");
      throw new FsError("EIO", `upload of ${file.path} failed; data kept at ${file.staging.path}`, { cause: err });
    }
  }

  /** Records the staged file in the upload journal; its bytes are on disk first, so a crash after this loses nothing. */
  private async journalFile(file: DirtyFile, key: string, metadata: Record<string, string>): Promise<void> {
    await file.staging.handle.datasync?.();
    this.ctx.journal.record({
      stagingFile: file.staging.path, path: file.path, key, size: file.size, baseEtag: file.baseEtag, conflictCheck: file.conflictCheck,
      metadata, contentType: file.contentType, sparse: file.sparse?.toRecord(),
    });
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

  /** One upload of the file as it is now (not streamed): a rewrite of a sparse file, or whole from staging. */
  private async upload(file: DirtyFile, key: string, metadata: Record<string, string>, signal: AbortSignal): Promise<{ etag: string }> {
    const { uploader } = this.ctx;
    const common = { key, size: file.size, metadata, contentType: file.contentType, precondition: file.precondition, signal };
    const sparse = file.sparse;
    if (sparse) sparse.beginUpload();
    if (!sparse || file.size <= uploader.partSizeFor(file.size)) {
      await this.materialize(file);
      return uploader.upload({ ...common, source: file.staging.handle });
    }
    return uploader.uploadRewrite({
      ...common, source: file.staging.handle, base: sparse.base,
      copyable: (start, end) => sparse.copyable(start, end),
      prepare: (start, end) => file.fill(start, end),
    });
  }

  /** The object changed under us: leave it, save ours next to it, and tell the writer (EIO). */
  private async keepConflictCopy(file: DirtyFile, cause: unknown): Promise<never> {
    file.conflictKey = `${file.key}.conflict-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    const copyName = basename(file.conflictKey);
    this.ctx.log.warn({ path: file.path, key: file.key, conflictCopy: file.conflictKey }, "the object changed in the bucket since it was opened; keeping the bucket's version and saving this one as a conflict copy");
    this.ctx.namespace.forget(file.path);
    try {
      await this.uploadIfDirty(file);
    } catch (err) {
      if (file.sparse && isStoreError((err as { cause?: unknown }).cause, "PreconditionFailed")) {
        // The unchanged parts were to be copied from the version that was just replaced.
        this.ctx.journal.markFailed(file.staging.path, "the object changed in the bucket; only the changed ranges are kept", "conflict");
        throw new FsError("EIO", `conflict on ${file.path}: it changed in the bucket since it was opened and the bucket's version was kept; your changes (${file.sparse.unsavedBytes} bytes) are kept at ${file.staging.path}, but the version they applied to is gone, so no conflict copy could be made`, { cause: err });
      }
      throw new FsError("EIO", `conflict on ${file.path}: the bucket's version was kept; saving yours as ${copyName} failed (data kept at ${file.staging.path})`, { cause: err });
    }
    // Ours is safe in the bucket; the path shows the bucket's version again once the handles close.
    throw new FsError("EIO", `conflict on ${file.path}: it changed in the bucket since it was opened; the bucket's version was kept and yours saved as ${copyName}`, { cause });
  }

  /** Turns a full staging disk into ENOSPC for the writer (the only error a write can give). */
  static writeError(err: unknown): unknown {
    return err instanceof StagingFullError ? new FsError("ENOSPC", err.message, { cause: err }) : err;
  }
}
