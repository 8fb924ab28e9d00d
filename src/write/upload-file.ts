/**
 * One upload of a file with local changes: from its streaming upload, from staging whole, or as
 * an in-place rewrite of a sparse file; journaled when a crash could hit it, and after a failure.
 *
 * Conflict policy: an upload replaces the object only if it is still the version the file was
 * opened from (or still absent, for a new file). Otherwise the bucket's version is left alone,
 * the local data is uploaded next to it as `<name>.conflict-<timestamp>`, and the writer gets EIO.
 */
import { basename } from "node:path";
import type { Logger } from "../log/logger.js";
import { isStoreError } from "../store/errors.js";
import { withAttributes } from "../store/s3fs-metadata.js";
import { StagingFullError, type DirtyFile } from "./dirty-file.js";
import { WriteError } from "./errors.js";
import type { UploadJournal } from "./journal.js";
import type { StreamingUpload } from "./streaming-upload.js";
import type { Uploader } from "./uploader.js";

export interface UploadFileDeps {
  uploader: Uploader;
  journal: UploadJournal;
  log: Logger;
  /** Fetches every base byte the file lacks. */
  materialize(): Promise<void>;
  /** Runs an upload that unlinking the file cancels. */
  cancellable<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** The file's data is now the object at its path. */
  saved(): void;
  /** What the filesystem knows of the path is stale. */
  stale(path: string): void;
}

/** Uploads the file if it has changes. Rejects with WriteError (EIO, ENOSPC) on failure. */
export async function uploadFile(file: DirtyFile, deps: UploadFileDeps): Promise<void> {
  // A streamed file completes its multipart upload (its metadata was fixed when the stream began).
  // One with no part streamed yet is uploaded from staging as it is and keeps streaming.
  let stream: StreamingUpload | undefined;
  if (file.beforeFirstPart) file.stageTail();
  else stream = file.takeStream();
  await file.settled().catch(() => undefined);
  if (file.incomplete) {
    void stream?.abort();
    const code = file.incomplete instanceof StagingFullError ? "ENOSPC" : "EIO";
    throw new WriteError(code, `${file.path} is incomplete: ${file.incomplete.message}; nothing was uploaded`, {
      cause: file.incomplete,
    });
  }
  if (!file.dirty || file.unlinked) {
    void stream?.abort();
    return;
  }
  const generation = file.generation;
  const captured = file.metadata;
  const metadata = withAttributes(captured, { mtimeMs: file.mtimeMs });
  const { journal, log } = deps;
  const key = file.uploadKey;
  // A multipart upload from staging lasts long enough for a crash to hit it: journal it first,
  // so the next mount finishes it. A single PUT, or the last parts of a streamed file, is
  // journaled only when it fails (a retry always is): until close returns nothing was promised,
  // and this spares small files three fsyncs and streamed files an fdatasync of all their data.
  const journalFirst = file.lastError !== undefined || (!stream && file.size > deps.uploader.partSizeFor(file.size));
  try {
    if (journalFirst) await journalFile(file, key, metadata, journal);
    const size = file.size;
    const { etag } = stream
      ? await stream.finish(size, file.precondition)
      : await deps.cancellable((signal) => upload(file, key, metadata, signal, deps));
    file.sparse?.uploadSucceeded({ key, etag, size });
    file.uploadSucceeded({ generation, etag, captured, sent: metadata });
    if (!file.dirty) journal.remove(file.staging.path);
    if (file.conflictKey === undefined && !file.unlinked) deps.saved();
  } catch (err) {
    file.sparse?.uploadFailed();
    // Deleted meanwhile (its upload was cancelled): there is nothing left to keep or retry.
    if (file.unlinked) return;
    file.uploadFailed(err);
    if (isStoreError(err, "PreconditionFailed") && file.conflictKey === undefined)
      return keepConflictCopy(file, err, deps);
    if (!journalFirst)
      await journalFile(file, key, metadata, journal).catch((journalErr: unknown) =>
        log.error({ path: file.path, err: journalErr }, "could not journal a failed upload"),
      );
    journal.markFailed(file.staging.path, err instanceof Error ? err.message : String(err));
    log.error(
      { path: file.path, key, stagingFile: file.staging.path, err },
      "upload failed; the data is kept in the staging file and the next flush/fsync/close retries",
    );
    throw new WriteError("EIO", `upload of ${file.path} failed; data kept at ${file.staging.path}`, { cause: err });
  }
}

/** Records the staged file in the upload journal; its bytes are on disk first, so a crash after this loses nothing. */
async function journalFile(
  file: DirtyFile,
  key: string,
  metadata: Record<string, string>,
  journal: UploadJournal,
): Promise<void> {
  await file.staging.handle.datasync?.();
  journal.record({
    stagingFile: file.staging.path,
    path: file.path,
    key,
    size: file.size,
    baseEtag: file.baseEtag,
    conflictCheck: file.checksConflicts,
    metadata,
    contentType: file.contentType,
    sparse: file.sparse?.toRecord(),
  });
}

/** One upload of the file as it is now (not streamed): a rewrite of a sparse file, or whole from staging. */
async function upload(
  file: DirtyFile,
  key: string,
  metadata: Record<string, string>,
  signal: AbortSignal,
  deps: UploadFileDeps,
): Promise<{ etag: string }> {
  const { uploader } = deps;
  const common = {
    key,
    size: file.size,
    metadata,
    contentType: file.contentType,
    precondition: file.precondition,
    signal,
  };
  const sparse = file.sparse;
  if (sparse) sparse.beginUpload();
  if (!sparse || file.size <= uploader.partSizeFor(file.size)) {
    await deps.materialize();
    return uploader.upload({ ...common, source: file.staging.handle });
  }
  return uploader.uploadRewrite({
    ...common,
    source: file.staging.handle,
    base: sparse.base,
    copyable: (start, end) => sparse.copyable(start, end),
    prepare: (start, end) => file.fill(start, end),
  });
}

/** The object changed under us: leave it, save ours next to it, and tell the writer (EIO). */
async function keepConflictCopy(file: DirtyFile, cause: unknown, deps: UploadFileDeps): Promise<never> {
  file.divertToConflictCopy(`${file.key}.conflict-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  const conflictKey = file.uploadKey;
  const copyName = basename(conflictKey);
  deps.log.warn(
    { path: file.path, key: file.key, conflictCopy: conflictKey },
    "the object changed in the bucket since it was opened; keeping the bucket's version and saving this one as a conflict copy",
  );
  deps.stale(file.path);
  try {
    await uploadFile(file, deps);
  } catch (err) {
    if (file.sparse && isStoreError((err as { cause?: unknown }).cause, "PreconditionFailed")) {
      // The unchanged parts were to be copied from the version that was just replaced.
      deps.journal.markFailed(
        file.staging.path,
        "the object changed in the bucket; only the changed ranges are kept",
        "conflict",
      );
      throw new WriteError(
        "EIO",
        `conflict on ${file.path}: it changed in the bucket since it was opened and the bucket's version was kept; your changes (${file.sparse.unsavedBytes} bytes) are kept at ${file.staging.path}, but the version they applied to is gone, so no conflict copy could be made`,
        { cause: err },
      );
    }
    throw new WriteError(
      "EIO",
      `conflict on ${file.path}: the bucket's version was kept; saving yours as ${copyName} failed (data kept at ${file.staging.path})`,
      { cause: err },
    );
  }
  // Ours is safe in the bucket; the path shows the bucket's version again once the handles close.
  throw new WriteError(
    "EIO",
    `conflict on ${file.path}: it changed in the bucket since it was opened; the bucket's version was kept and yours saved as ${copyName}`,
    { cause },
  );
}
