/**
 * Audit log (`--audit-log FILE`): one JSON line per file operation, for compliance review.
 *
 *   {"time":"…","uid":1000,"pid":null,"operation":"close","path":"/a/b","bytes":4096,
 *    "bytesRead":0,"bytesWritten":4096,"ok":true}
 *
 * Reads and writes are summed per open handle and logged once at close (a line per 128 KiB
 * FUSE request would dwarf the data it describes); opens, creates and every namespace change
 * (mkdir, rmdir, unlink, rename, truncate, chmod, chown, symlink) get their own line, whether
 * they succeeded or not (`ok`, `error`).
 *
 * Who did it: fuse-native does not pass the caller's fuse_context (uid, gid, pid) to
 * operations. Without allow_other the kernel admits only the mounting user, so `uid` is the
 * daemon's own uid and exact; with allow_other it is null. `pid` is always null.
 * The file is created 0600 and only appended to.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { FsError } from "../vfs/errors.js";
import type { MountedFilesystem, TreeApi, XattrProvider } from "../vfs/mounted.js";
import type { DirEntry, FileStat, FsStatfs } from "../vfs/types.js";
import type { DirtyFile } from "../write/dirty-file.js";

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
  ok: boolean;
  error?: string;
}

export type AuditEntry = Omit<AuditRecord, "time" | "uid" | "pid">;

export class AuditLog {
  private fd: number | undefined;

  /**
   * `callerUid` is the uid every caller must have (no allow_other), or null when unknown.
   * Lines are written synchronously (O_APPEND): a record is on disk before the operation's reply,
   * and a crash or exit cannot drop buffered lines.
   */
  constructor(readonly file: string, private readonly callerUid: number | null) {
    this.fd = openSync(file, "a", 0o600);
  }

  record(entry: AuditEntry): void {
    if (this.fd === undefined) return;
    const line: AuditRecord = { time: new Date().toISOString(), uid: this.callerUid, pid: null, ...entry };
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
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
}

function errorCode(err: unknown): string {
  if (err instanceof FsError) return err.code;
  return err instanceof Error ? err.name : "error";
}

/** A MountedFilesystem that records every operation of `inner` to an AuditLog. */
export class AuditedFilesystem implements MountedFilesystem {
  readonly tree: TreeApi;
  private readonly handles = new Map<number, HandleTally>();

  constructor(private readonly inner: MountedFilesystem, private readonly audit: AuditLog) {
    this.tree = this.auditedTree(inner.tree);
  }

  get xattrs(): XattrProvider | undefined {
    return this.inner.xattrs;
  }

  /** Runs `op`, then records it with its outcome. */
  private async logged<T>(operation: string, path: string, op: () => Promise<T>, extra: Partial<AuditEntry> = {}): Promise<T> {
    try {
      const result = await op();
      this.audit.record({ operation, path, bytes: 0, ok: true, ...extra });
      return result;
    } catch (err) {
      this.audit.record({ operation, path, bytes: 0, ok: false, error: errorCode(err), ...extra });
      throw err;
    }
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
      utimens: (path, mtimeMs) => tree.utimens(path, mtimeMs),
    };
  }

  getattr(path: string): Promise<FileStat> {
    return this.inner.getattr(path);
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.inner.readdir(path);
  }

  async open(path: string, flags: number): Promise<number> {
    const fh = await this.logged("open", path, () => this.inner.open(path, flags));
    this.handles.set(fh, { path, read: 0, written: 0 });
    return fh;
  }

  async create(path: string, mode: number, flags?: number): Promise<number> {
    const fh = await this.logged("create", path, () => this.inner.create(path, mode, flags));
    this.handles.set(fh, { path, read: 0, written: 0 });
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
    return this.logged("close", tally.path, () => this.inner.release(fh), bytes);
  }

  truncate(path: string, size: number): Promise<void> {
    return this.logged("truncate", path, () => this.inner.truncate(path, size), { bytes: size });
  }

  ftruncate(fh: number, size: number): Promise<void> {
    return this.logged("truncate", this.handles.get(fh)?.path ?? `fh:${fh}`, () => this.inner.ftruncate(fh, size), { bytes: size });
  }

  statfs(): FsStatfs {
    return this.inner.statfs();
  }

  unsavedFiles(): DirtyFile[] {
    return this.inner.unsavedFiles();
  }

  flushAll(): Promise<string[]> {
    return this.inner.flushAll();
  }
}
