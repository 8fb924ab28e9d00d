/**
 * The FUSE adapter: decodes each fuse-native call, awaits the filesystem core, replies.
 * One wrapper (`run`) does logging, metrics hooks and errno mapping for every operation, and
 * guarantees every callback is called exactly once, so no exception can hang a FUSE thread.
 */
import type { Logger } from "../log/logger.js";
import { FsError, TIME_OMIT, type FileStat, type MountedFilesystem, type PageCacheMode } from "../vfs/index.js";
import { errnoCode, toErrno } from "./errno.js";
import type { FuseOps } from "./binding.js";

type Reply = (code: number, ...values: unknown[]) => void;

/** keep_cache / direct_io per open, for the native binding (BFS_CACHE_* in native/src/bucketfs_fuse.h). */
const PAGE_CACHE_CODES: Record<PageCacheMode, number> = { keep: 0, fresh: 1, bypass: 2 };

/**
 * libfuse's high-level API (both bindings) unlinks an open file by renaming it to
 * `.fuse_hidden<node><counter>` and removes it when the last descriptor closes, so that reads and
 * writes through the open descriptor still find it by path. A local disk shows no such entry:
 * the name is gone at unlink. So listings leave these names out (a lookup still finds them).
 */
const LIBFUSE_HIDDEN = /^\.fuse_hidden[0-9a-f]{16}$/;

/** Preferred I/O size reported to programs: FUSE's largest single read/write (128 KiB). */
const IO_BLOCK = 128 * 1024;

export interface OperationObserver {
  (operation: string, durationMs: number, errno: number): void;
}

export class FuseAdapter {
  constructor(
    private readonly fs: MountedFilesystem,
    private readonly log: Logger,
    private readonly observe?: OperationObserver,
    /** The page-cache decision of an open handle (the core's, unwrapped); absent: always keep. */
    private readonly pageCache?: (fh: number) => PageCacheMode,
  ) {}

  /** The op table handed to fuse-native. */
  operations(): FuseOps {
    const fs = this.fs;
    const tree = fs.tree;
    const ops = {
      getattr: (path: string, cb: Reply) =>
        this.run(
          "getattr",
          path,
          cb,
          async () => toFuseStat(await fs.getattr(path)),
          (s) => [s],
        ),
      readdir: (path: string, cb: Reply) =>
        this.run(
          "readdir",
          path,
          cb,
          async () => (await fs.readdir(path)).filter((e) => !LIBFUSE_HIDDEN.test(e.name)),
          (entries) => [entries.map((e) => e.name), entries.map((e) => toFuseStat(e.stat))],
        ),
      // The second value (keep_cache / direct_io) is read by the native binding; fuse-native ignores it.
      open: (path: string, flags: number, cb: Reply) =>
        this.run(
          "open",
          path,
          cb,
          () => fs.open(path, flags),
          (fh) => [fh, this.cacheCode(fh)],
        ),
      create: (path: string, mode: number, cb: Reply) =>
        this.run(
          "create",
          path,
          cb,
          () => fs.create(path, mode),
          (fh) => [fh, this.cacheCode(fh)],
        ),
      read: (path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Reply) =>
        this.runBytes("read", path, cb, async () => {
          const data = await fs.read(fh, position, length);
          return data.copy(buffer, 0, 0, Math.min(length, data.length));
        }),
      write: (path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Reply) =>
        // The buffer is libfuse's memory, valid until the reply: the core consumes it before its
        // promise settles (Filesystem.write), so no copy is needed here.
        this.runBytes("write", path, cb, () => fs.write(fh, buffer.subarray(0, length), position)),
      flush: (path: string, fh: number, cb: Reply) => this.run("flush", path, cb, () => fs.flush(fh)),
      fsync: (path: string, _datasync: number, fh: number, cb: Reply) =>
        this.run("fsync", path, cb, () => fs.fsync(fh)),
      release: (path: string, fh: number, cb: Reply) => this.run("release", path, cb, () => fs.release(fh)),
      fallocate: (path: string, fh: number, mode: number, offset: number, length: number, cb: Reply) =>
        this.run("fallocate", path, cb, () => fs.fallocate(fh, mode, offset, length)),
      truncate: (path: string, size: number, cb: Reply) =>
        this.run("truncate", path, cb, () => fs.truncate(path, size)),
      ftruncate: (path: string, fh: number, size: number, cb: Reply) =>
        this.run("ftruncate", path, cb, () => fs.ftruncate(fh, size)),
      unlink: (path: string, cb: Reply) => this.run("unlink", path, cb, () => tree.unlink(path)),
      mkdir: (path: string, mode: number, cb: Reply) => this.run("mkdir", path, cb, () => tree.mkdir(path, mode)),
      rmdir: (path: string, cb: Reply) => this.run("rmdir", path, cb, () => tree.rmdir(path)),
      rename: (from: string, to: string, cb: Reply) => this.run("rename", from, cb, () => tree.rename(from, to)),
      symlink: (target: string, path: string, cb: Reply) =>
        this.run("symlink", path, cb, () => tree.symlink(target, path)),
      readlink: (path: string, cb: Reply) =>
        this.run(
          "readlink",
          path,
          cb,
          () => tree.readlink(path),
          (target) => [target],
        ),
      link: (_from: string, to: string, cb: Reply) =>
        this.run("link", to, cb, () => Promise.reject(unsupported("hard links"))),
      mknod: (path: string, mode: number, dev: number, cb: Reply) =>
        this.run("mknod", path, cb, () => this.mknod(path, mode, dev)),
      chmod: (path: string, mode: number, cb: Reply) => this.run("chmod", path, cb, () => tree.chmod(path, mode)),
      chown: (path: string, uid: number, gid: number, cb: Reply) =>
        this.run("chown", path, cb, () => tree.chown(path, uid, gid)),
      utimens: (path: string, atime: number, mtime: number, cb: Reply) =>
        this.run("utimens", path, cb, () =>
          tree.utimens(path, mtime >= TIME_OMIT ? TIME_OMIT : mtime, atime >= TIME_OMIT ? TIME_OMIT : atime),
        ),
      getxattr: (path: string, name: string, _position: number, cb: Reply) =>
        this.run(
          "getxattr",
          path,
          cb,
          () => (fs.xattrs ? fs.xattrs.getxattr(path, name) : Promise.reject(noAttribute(name))),
          (value) => [value],
        ),
      listxattr: (path: string, cb: Reply) =>
        this.run(
          "listxattr",
          path,
          cb,
          () => fs.xattrs?.listxattr(path) ?? Promise.resolve([]),
          (names) => [names],
        ),
      statfs: (path: string, cb: Reply) =>
        this.run(
          "statfs",
          path,
          cb,
          async () => toFuseStatfs(fs),
          (s) => [s],
        ),
    };
    if (!fs.xattrs) {
      // Without attributes to show, leave the ops out: the kernel then answers ENOTSUP itself and
      // stops asking, instead of a round trip per file for every `ls -l` (security.selinux, ACLs).
      const { getxattr: _get, listxattr: _list, ...withoutXattrs } = ops;
      return withoutXattrs as unknown as FuseOps;
    }
    return ops as unknown as FuseOps;
  }

  /** mknod makes regular files (some programs create them so) and FIFOs, sockets and devices. */
  private async mknod(path: string, mode: number, dev: number): Promise<void> {
    if ((mode & 0o170000) !== 0o100000) return this.fs.tree.mknodSpecial(path, mode, dev);
    const fh = await this.fs.create(path, mode);
    await this.fs.flush(fh);
    await this.fs.release(fh);
  }

  /** The open reply's page-cache code, as native/src/session.c reads it. */
  private cacheCode(fh: number): number {
    let mode: PageCacheMode = "keep";
    try {
      mode = this.pageCache?.(fh) ?? "keep";
    } catch {
      mode = "fresh"; // no such handle (cannot happen before the reply): the safe choice
    }
    return PAGE_CACHE_CODES[mode];
  }

  private run<T>(
    op: string,
    path: string,
    reply: Reply,
    work: () => Promise<T>,
    encode?: (value: T) => unknown[],
  ): void {
    const started = performance.now();
    let result: Promise<T>;
    try {
      result = work();
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => {
        this.observe?.(op, performance.now() - started, 0);
        reply(0, ...(encode ? encode(value) : []));
      },
      (err: unknown) => reply(-this.failed(op, path, err, started)),
    );
  }

  /** read/write reply with a byte count instead of 0. */
  private runBytes(op: string, path: string, reply: Reply, work: () => Promise<number>): void {
    const started = performance.now();
    Promise.resolve()
      .then(work)
      .then(
        (bytes) => {
          this.observe?.(op, performance.now() - started, 0);
          reply(bytes);
        },
        (err: unknown) => reply(-this.failed(op, path, err, started)),
      );
  }

  private failed(op: string, path: string, err: unknown, started: number): number {
    const errno = toErrno(err);
    const code = errnoCode(err);
    this.observe?.(op, performance.now() - started, errno);
    const quiet =
      code === "ENOENT" || code === "EEXIST" || code === "ENOTEMPTY" || code === "ENOTSUP" || code === "ENODATA";
    const fields = {
      op,
      path,
      errno: code,
      err: err instanceof Error ? { name: err.name, message: err.message } : String(err),
    };
    if (quiet) this.log.debug(fields, "operation failed");
    else this.log.warn(fields, "operation failed");
    return errno;
  }
}

/** What getxattr answers for an attribute a path does not have (ls and cp ask for several). */
function noAttribute(name: string): FsError {
  return new FsError("ENODATA", `no extended attribute ${name}`);
}

function unsupported(what: string): FsError {
  return new FsError("ENOTSUP", `${what} are not supported on object storage`);
}

export function toFuseStat(stat: FileStat): Record<string, number> {
  return {
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    size: stat.size,
    nlink: stat.kind === "dir" ? 2 : 1,
    blksize: IO_BLOCK,
    blocks: Math.ceil(stat.size / 512),
    mtime: stat.mtimeMs,
    atime: stat.atimeMs ?? stat.mtimeMs,
    ctime: stat.ctimeMs,
    rdev: stat.rdev ?? 0,
  };
}

function toFuseStatfs(fs: MountedFilesystem): Record<string, number> {
  const s = fs.statfs();
  return {
    bsize: s.blockSize,
    frsize: s.blockSize,
    blocks: s.blocks,
    bfree: s.blocksFree,
    bavail: s.blocksFree,
    files: s.files,
    ffree: s.filesFree,
    favail: s.filesFree,
    fsid: 0,
    flag: 0,
    namemax: s.nameMax,
  };
}
