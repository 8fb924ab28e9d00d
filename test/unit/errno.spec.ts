/** The one errno table: every typed error maps to the errno a POSIX program expects. */
import { constants } from "node:os";
import { describe, expect, it } from "vitest";
import { STORE_KIND_TO_ERRNO, toErrno } from "../../src/fuse/errno.js";
import { StoreError, type StoreErrorKind } from "../../src/store/errors.js";
import { FsError } from "../../src/vfs/index.js";

const E = constants.errno;

describe("errno mapping", () => {
  it.each([
    ["NotFound", E.ENOENT],
    ["PreconditionFailed", E.ESTALE],
    ["AccessDenied", E.EACCES],
    ["InvalidCredentials", E.EACCES],
    ["NoCredentials", E.EACCES],
    ["Unreachable", E.EIO],
    ["Throttled", E.EIO],
    ["ReadOnly", E.EROFS],
    ["Unsupported", E.ENOTSUP],
    ["Aborted", E.EINTR],
    ["Other", E.EIO],
    ["NoSuchBucket", E.EIO],
    ["InvalidRange", E.EIO],
  ] as [StoreErrorKind, number][])("StoreError %s → %i", (kind, errno) => {
    expect(toErrno(new StoreError(kind, "x"))).toBe(errno);
  });

  it("covers every StoreError kind", () => {
    expect(Object.keys(STORE_KIND_TO_ERRNO)).toHaveLength(13);
  });

  it.each([
    ["ENOENT"],
    ["ENOTEMPTY"],
    ["EISDIR"],
    ["ENOTDIR"],
    ["EEXIST"],
    ["EROFS"],
    ["ENAMETOOLONG"],
    ["ENOTSUP"],
  ] as const)("FsError %s keeps its code", (c) => {
    expect(toErrno(new FsError(c, "x"))).toBe(E[c]);
  });

  it("a full staging disk is ENOSPC, directly or wrapped in an upload EIO", () => {
    const enospc = Object.assign(new Error("no space"), { code: "ENOSPC" });
    expect(toErrno(enospc)).toBe(E.ENOSPC);
    expect(toErrno(new FsError("EIO", "upload failed", { cause: enospc }))).toBe(E.ENOSPC);
  });

  it("anything unknown is EIO", () => {
    expect(toErrno(new Error("boom"))).toBe(E.EIO);
    expect(toErrno("string")).toBe(E.EIO);
    expect(toErrno(undefined)).toBe(E.EIO);
  });
});
