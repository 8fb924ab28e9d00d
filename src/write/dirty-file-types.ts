/** The data types around DirtyFile: how it is made, what an upload reports, front-to-back writing. */
import type { StagingFile } from "./staging.js";
import type { StreamingUpload } from "./streaming-upload.js";
import type { PartTail } from "./part-tail.js";

/** Node error codes of a staging disk that cannot take more data. */
export const DISK_FULL = new Set(["ENOSPC", "EDQUOT"]);

/** A write the staging disk could not take: the file's content is incomplete and must never be uploaded. */
export class StagingFullError extends Error {
  override readonly name = "StagingFullError";
  readonly code = "ENOSPC";
}

/** What a failed staging write of the file at `path` makes its content: incomplete, and why. */
export function stagingError(err: unknown, path: string): Error {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && DISK_FULL.has(code)
    ? new StagingFullError(`staging disk full while writing ${path}`, { cause: err })
    : new Error(`staging write failed for ${path}`, { cause: err });
}

export interface SequentialWriting {
  partSize: number;
  /** Starts the multipart upload, when the first whole part is there. */
  startStream: () => StreamingUpload;
  tail?: PartTail;
  /** The staging write of the last whole part (one runs while the next part fills). */
  lastPartStaged: Promise<void>;
}

export interface DirtyFileInit {
  path: string;
  key: string;
  staging: StagingFile;
  /** User metadata the object will be written with (s3fs attributes included). */
  metadata: Record<string, string>;
  /** ETag of the object the data started from, when it existed. */
  baseEtag?: string;
  contentType?: string;
  size?: number;
  mtimeMs?: number;
  conflictCheck?: boolean;
  conflictKey?: string;
}

/** What a successful upload sent (see uploadSucceeded). */
export interface UploadOutcome {
  /** The generation the upload captured when it began. */
  generation: number;
  etag: string;
  /** The metadata object the upload began with, and the one it sent. */
  captured: Record<string, string>;
  sent: Record<string, string>;
}
