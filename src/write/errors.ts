/**
 * Failures the write-back reports to the writer. `code` is the POSIX name the writer gets; the
 * filesystem turns these into its own errors at its boundary, and only fuse/errno.ts into numbers.
 */
export type WriteErrorCode = "EIO" | "ENOSPC";

export class WriteError extends Error {
  override readonly name = "WriteError";
  constructor(
    readonly code: WriteErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
