/**
 * Audit log (`--audit-log FILE`): one JSON line per file operation, for compliance review.
 *
 *   {"time":"…","uid":1000,"pid":null,"operation":"close","path":"/a/b","bytes":4096,
 *    "bytesRead":0,"bytesWritten":4096,"ok":true}
 *
 * Reads and writes are summed per open handle and logged once at close (a line per 128 KiB
 * FUSE request would dwarf the data it describes); opens, creates and every namespace change
 * (mkdir, rmdir, unlink, rename, truncate, chmod, chown, symlink) get their own line, whether
 * they succeeded or not (`ok`, `error`). Every presigned URL minted is recorded as `sign` (the
 * path, `expiresSeconds`, and `via`: "xattr" for `user.bucketfs.url`, "bucketfs sign" for the
 * control socket); the URL itself, a bearer credential, never is.
 *
 * Who did it: the native binding passes the caller of each operation (vfs/caller.ts), read at
 * the start of the operation; a close carries the opener's uid and pid, since the kernel sends
 * RELEASE without credentials. Under the fuse-native fallback there is no caller: `uid` is the
 * daemon's own (exact without allow_other, where the kernel admits only the mounting user; null
 * with it) and `pid` is null. A `bucketfs sign` arrives over the control socket (0600, in a 0700
 * directory of the user's), which does not tell who connected: uid and pid are null there.
 *
 * The file is created 0600 and only appended to. A write that fails (disk full, I/O error) does
 * not fail the operation it describes — that already happened — but is reported to `onFailure`
 * (by default a line in the daemon's log) and counted in `failures`.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { currentCaller, type Caller } from "../vfs/caller.js";
import { FsError } from "../vfs/errors.js";
import type { MountedFilesystem, TreeApi, UnsavedFile, XattrProvider } from "../vfs/mounted.js";
import type { DirEntry, FileStat, FsStatfs } from "../vfs/types.js";
import { SignedUrlXattrs, URL_XATTR } from "./url-xattr.js";

export interface AuditRecord {
  time: string;
  uid: number | null;
  pid: number | null;
  operation: string;
  path: string;
  bytes: number;
  to?: string;
  bytesRead?: number;
  bytesWritten?: number;
  /** `sign`: how long the URL is valid, and where it was asked for ("xattr" or "bucketfs sign"). */
  expiresSeconds?: number;
  via?: string;
  ok: boolean;
  error?: string;
}

export type AuditEntry = Omit<AuditRecord, "time" | "uid" | "pid">;

/** Who an entry is recorded for: a FUSE caller, the fallback (undefined), or nobody known (null). */
export type AuditCaller = Caller | null | undefined;

/** Reports a failed audit write; the default writes a JSON line (pino's shape) to stderr, the daemon's log. */
export type AuditFailureHandler = (err: unknown, entry: AuditEntry) => void;

function reportToStderr(file: string): AuditFailureHandler {
  return (err, entry) => {
    const e = err as NodeJS.ErrnoException;
    const line = {
      level: 50,
      time: Date.now(),
      pid: process.pid,
      name: "bucketfs",
      file,
      operation: entry.operation,
      path: entry.path,
      err: { code: e?.code, message: e instanceof Error ? e.message : String(err) },
      msg: "audit log write failed",
    };
    try {
      writeSync(2, `${JSON.stringify(line)}\n`);
    } catch {
      // nowhere left to report it; `failures` still counts it
    }
  };
}

export class AuditLog {
  private fd: number | undefined;
  private failed = 0;
  private readonly onFailure: AuditFailureHandler;

  /**
   * `callerUid` is the uid recorded when the binding gives no caller (no allow_other: every
   * caller has it), or null when unknown. Lines are written synchronously (O_APPEND): a record is
   * on disk before the operation's reply, and a crash or exit cannot drop buffered lines.
   */
  constructor(
    readonly file: string,
    private readonly callerUid: number | null,
    onFailure?: AuditFailureHandler,
  ) {
    this.fd = openSync(file, "a", 0o600);
    this.onFailure = onFailure ?? reportToStderr(file);
  }

  /** Audit lines that could not be written. */
  get failures(): number {
    return this.failed;
  }

  /**
   * Appends one line. Never throws: a failed write is counted and reported. `caller` is the
   * caller read at the start of the operation (currentCaller() by default, for synchronous use).
   */
  record(entry: AuditEntry, caller: AuditCaller = currentCaller()): void {
    if (this.fd === undefined) return;
    const who =
      caller === null
        ? { uid: null, pid: null }
        : caller
          ? { uid: caller.uid, pid: caller.pid }
          : { uid: this.callerUid, pid: null };
    const line: AuditRecord = { time: new Date().toISOString(), ...who, ...entry };
    try {
      writeSync(this.fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      this.failed++;
      this.onFailure(err, entry);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

interface HandleTally {
  path: string;
  read: number;
  written: number;
  /** Who opened it: RELEASE comes from the kernel without credentials. */
  caller: AuditCaller;
}

function errorCode(err: unknown): string {
  if (err instanceof FsError) return err.code;
  return err instanceof Error ? err.name : "error";
}

/**
 * Runs `op` and records it with its outcome for `caller` (read by the caller of this function
 * before anything was awaited). The outcome of `op` is returned as it is: recording never fails.
 */
export async function audited<T>(
  audit: AuditLog,
  operation: string,
  path: string,
  op: () => Promise<T>,
  extra: Partial<AuditEntry>,
  caller: AuditCaller,
): Promise<T> {
  let result: T;
  try {
    result = await op();
  } catch (err) {
    audit.record({ operation, path, bytes: 0, ok: false, error: errorCode(err), ...extra }, caller);
    throw err;
  }
  audit.record({ operation, path, bytes: 0, ok: true, ...extra }, caller);
  return result;
}

/** A MountedFilesystem that records every operation of `inner` to an AuditLog. */
export class AuditedFilesystem implements MountedFilesystem {
  readonly tree: TreeApi;
  private readonly handles = new Map<number, HandleTally>();

  constructor(
    private readonly inner: MountedFilesystem,
    private readonly audit: AuditLog,
  ) {
    this.tree = this.auditedTree(inner.tree);
  }

  /** The inner attributes, with every read of `user.bucketfs.url` (a URL minted) recorded. */
  get xattrs(): XattrProvider | undefined {
    const inner = this.inner.xattrs;
    if (!inner) return undefined;
    return {
      getxattr: (path, name) => {
        if (name !== URL_XATTR) return inner.getxattr(path, name);
        const expiresSeconds = inner instanceof SignedUrlXattrs ? inner.expirySeconds : undefined;
        return this.logged("sign", path, () => inner.getxattr(path, name), { expiresSeconds, via: "xattr" });
      },
      listxattr: (path) => inner.listxattr(path),
    };
  }

  /**
   * Runs `op`, then records it with its outcome. The caller is read here, synchronously, before
   * `op` awaits anything (vfs/caller.ts is a synchronous slot).
   */
  private logged<T>(
    operation: string,
    path: string,
    op: () => Promise<T>,
    extra: Partial<AuditEntry> = {},
    caller: AuditCaller = currentCaller(),
  ): Promise<T> {
    return audited(this.audit, operation, path, op, extra, caller);
  }

  private auditedTree(tree: TreeApi): TreeApi {
    return {
      mkdir: (path, mode) => this.logged("mkdir", path, () => tree.mkdir(path, mode)),
      rmdir: (path) => this.logged("rmdir", path, () => tree.rmdir(path)),
      unlink: (path) => this.logged("unlink", path, () => tree.unlink(path)),
      symlink: (target, path) => this.logged("symlink", path, () => tree.symlink(target, path), { to: target }),
      readlink: (path) => tree.readlink(path),
      rename: (from, to) => this.logged("rename", from, () => tree.rename(from, to), { to }),
      chmod: (path, mode) => this.logged("chmod", path, () => tree.chmod(path, mode)),
      chown: (path, uid, gid) => this.logged("chown", path, () => tree.chown(path, uid, gid)),
      utimens: (path, mtimeMs, atimeMs) => tree.utimens(path, mtimeMs, atimeMs),
      mknodSpecial: (path, mode, rdev) => this.logged("mknod", path, () => tree.mknodSpecial(path, mode, rdev)),
    };
  }

  getattr(path: string): Promise<FileStat> {
    return this.inner.getattr(path);
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.inner.readdir(path);
  }

  async open(path: string, flags: number): Promise<number> {
    const caller = currentCaller();
    const fh = await this.logged("open", path, () => this.inner.open(path, flags), {}, caller);
    this.handles.set(fh, { path, read: 0, written: 0, caller });
    return fh;
  }

  async create(path: string, mode: number, flags?: number): Promise<number> {
    const caller = currentCaller();
    const fh = await this.logged("create", path, () => this.inner.create(path, mode, flags), {}, caller);
    this.handles.set(fh, { path, read: 0, written: 0, caller });
    return fh;
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const data = await this.inner.read(fh, offset, length);
    const tally = this.handles.get(fh);
    if (tally) tally.read += data.length;
    return data;
  }

  async write(fh: number, data: Buffer, offset: number): Promise<number> {
    const written = await this.inner.write(fh, data, offset);
    const tally = this.handles.get(fh);
    if (tally) tally.written += written;
    return written;
  }

  flush(fh: number): Promise<void> {
    return this.inner.flush(fh);
  }

  fsync(fh: number): Promise<void> {
    return this.inner.fsync(fh);
  }

  async release(fh: number): Promise<void> {
    const tally = this.handles.get(fh);
    this.handles.delete(fh);
    if (!tally) return this.inner.release(fh);
    const bytes = { bytes: tally.read + tally.written, bytesRead: tally.read, bytesWritten: tally.written };
    return this.logged("close", tally.path, () => this.inner.release(fh), bytes, tally.caller);
  }

  truncate(path: string, size: number): Promise<void> {
    return this.logged("truncate", path, () => this.inner.truncate(path, size), { bytes: size });
  }

  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    return this.inner.fallocate(fh, mode, offset, length);
  }

  ftruncate(fh: number, size: number): Promise<void> {
    return this.logged("truncate", this.handles.get(fh)?.path ?? `fh:${fh}`, () => this.inner.ftruncate(fh, size), {
      bytes: size,
    });
  }

  statfs(): FsStatfs {
    return this.inner.statfs();
  }

  unsavedFiles(): UnsavedFile[] {
    return this.inner.unsavedFiles();
  }

  flushAll(): Promise<string[]> {
    return this.inner.flushAll();
  }
}
