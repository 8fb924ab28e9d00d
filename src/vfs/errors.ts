/**
 * Filesystem errors. The core throws these (or lets StoreErrors through); only fuse/errno.ts
 * turns them into numbers. `code` is the POSIX name, so the core stays free of FUSE constants.
 */
export type ErrnoCode =
  | "ENOENT"
  | "EEXIST"
  | "ENOTDIR"
  | "EISDIR"
  | "ENOTEMPTY"
  | "EINVAL"
  | "EIO"
  | "EACCES"
  | "EPERM"
  | "EROFS"
  | "ENOSPC"
  | "ENAMETOOLONG"
  | "ENOTSUP"
  | "EBADF"
  | "ESTALE"
  | "EFBIG"
  | "EXDEV"
  | "EINTR"
  | "ENODATA"
  | "ENOSYS"
  | "EAGAIN"
  | "EBUSY";

import { WriteError } from "../write/errors.js";

export class FsError extends Error {
  override readonly name = "FsError";
  constructor(
    readonly code: ErrnoCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const notFound = (path: string): FsError => new FsError("ENOENT", `no such file or directory: ${path}`);
export const badHandle = (fh: number): FsError => new FsError("EBADF", `no open file handle ${fh}`);

/** A write-back failure as the filesystem reports it (same code, message and cause); others pass through. */
export function fromWriteError(err: unknown): unknown {
  return err instanceof WriteError ? new FsError(err.code, err.message, { cause: err.cause }) : err;
}
