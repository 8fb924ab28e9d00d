/**
 * What a mount serves: the operations the FUSE adapter calls. The one `Filesystem` implements it
 * over any Namespace (the bucket's tree, IDC's index tree); the security layer wraps it (audit,
 * URL attribute) in the same shape. Extended attributes are optional: a filesystem without an
 * `xattrs` provider has none (getxattr → ENODATA, listxattr → empty).
 */
import type { ObjectVersion } from "../read/range-reader.js";
import type { UnsavedFile } from "../write/unsaved-file.js";
import type { PageCacheMode } from "./page-cache.js";
import type { DirEntry, FileStat, FsStatfs } from "./types.js";

/** A file whose changes are not in the bucket yet: plain data (path, state, staging path, error). */
export type { UnsavedFile };

/** Directory-changing operations (read-only namespaces reject them with EROFS). */
export interface TreeApi {
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  rename(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Times ≥ TIME_OMIT are left as they are (UTIME_OMIT). */
  utimens(path: string, mtimeMs: number, atimeMs?: number): Promise<void>;
  /** A FIFO, socket or device node (regular files are created through `create`). */
  mknodSpecial(path: string, mode: number, rdev: number): Promise<void>;
}

export interface XattrProvider {
  /** The value of one attribute; rejects with FsError ENODATA when the path has no such attribute. */
  getxattr(path: string, name: string): Promise<Buffer>;
  listxattr(path: string): Promise<string[]>;
}

export interface MountedFilesystem {
  readonly tree: TreeApi;
  readonly xattrs?: XattrProvider;
  getattr(path: string): Promise<FileStat>;
  readdir(path: string): Promise<DirEntry[]>;
  open(path: string, flags: number): Promise<number>;
  create(path: string, mode: number, flags?: number): Promise<number>;
  read(fh: number, offset: number, length: number): Promise<Buffer>;
  write(fh: number, data: Buffer, offset: number): Promise<number>;
  flush(fh: number): Promise<void>;
  fsync(fh: number): Promise<void>;
  release(fh: number): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(fh: number, size: number): Promise<void>;
  /** fallocate(2) modes 0 and FALLOC_FL_KEEP_SIZE; others reject with ENOTSUP. */
  fallocate(fh: number, mode: number, offset: number, length: number): Promise<void>;
  statfs(): FsStatfs;
  /** Puts a read's range into the disk cache for the native binding; false: read it instead. */
  prepareCached?(fh: number, offset: number, length: number): Promise<boolean>;
  /** Native reads reached `reached` (-1: none): extends read-ahead; returns where to report next (-1: nowhere). */
  readAheadPoint?(fh: number, reached: number): number;
  /** Whether the kernel may keep, must drop, or must bypass its page cache for `fh` (absent: keep). */
  pageCacheMode?(fh: number): PageCacheMode;
  /** The object version a read-only handle reads, when nothing local overrides it (native reads). */
  readVersion?(fh: number): ObjectVersion | undefined;
  /** Files whose changes are not saved yet (none on read-only namespaces). */
  unsavedFiles(): UnsavedFile[];
  /** Saves everything before unmount; returns the paths that failed. */
  flushAll(): Promise<string[]>;
}
