/**
 * The only place errors become errno numbers. Typed errors map by their code or kind; anything
 * unknown is EIO. No message matching.
 */
import { constants } from "node:os";
import { FsError, type ErrnoCode } from "../vfs/index.js";
import { StoreError, type StoreErrorKind } from "../store/errors.js";

const ERRNO = constants.errno as Record<string, number>;

export const STORE_KIND_TO_ERRNO: Record<StoreErrorKind, ErrnoCode> = {
  NotFound: "ENOENT",
  NoSuchBucket: "EIO",
  PreconditionFailed: "ESTALE",
  AccessDenied: "EACCES",
  InvalidCredentials: "EACCES",
  NoCredentials: "EACCES",
  Unreachable: "EIO",
  Throttled: "EIO",
  InvalidRange: "EIO",
  ReadOnly: "EROFS",
  Unsupported: "ENOTSUP",
  Aborted: "EINTR",
  Other: "EIO",
};

/** Node's own I/O errors on staging and cache files that mean something to the caller. */
const NODE_CODES: Record<string, ErrnoCode> = { ENOSPC: "ENOSPC", EDQUOT: "ENOSPC", EROFS: "EIO", EACCES: "EIO" };

export function errnoCode(err: unknown): ErrnoCode {
  if (err instanceof FsError) {
    // An FsError wrapping a full staging disk is still a full disk to the writer.
    const cause = err.cause as { code?: string } | undefined;
    if (err.code === "EIO" && cause?.code && NODE_CODES[cause.code] === "ENOSPC") return "ENOSPC";
    return err.code;
  }
  if (err instanceof StoreError) return STORE_KIND_TO_ERRNO[err.kind];
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && NODE_CODES[code]) return NODE_CODES[code];
  return "EIO";
}

/** Positive errno number for an error. */
export function toErrno(err: unknown): number {
  return ERRNO[errnoCode(err)] ?? ERRNO.EIO;
}

export function errnoNumber(code: ErrnoCode): number {
  return ERRNO[code] ?? ERRNO.EIO;
}
