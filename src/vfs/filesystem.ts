/**
 * The filesystem core: POSIX file operations on paths, over a Namespace (the tree of names) and
 * the read chain, with write-back when the namespace is writable. It knows nothing of FUSE; the
 * adapter in src/fuse translates kernel calls into these methods and errors into errno.
 * Directory-changing operations (mkdir, rename, chmod, …) live in tree-operations.ts.
 * A read-only namespace (IDC) has no write-back: every change is refused by refuseChange().
 */
import { FillAhead, fillAheadConfig, type RangeFill } from "../read/fill-ahead.js";
import { Prefetcher, type PrefetcherConfig } from "../read/prefetcher.js";
import type { ObjectVersion, RangeReader } from "../read/range-reader.js";
import type { VersionPins } from "../read/version-pins.js";
import { DirtyBudget } from "../write/dirty-budget.js";
import type { DirtyFile } from "../write/dirty-file.js";
import type { RecoveryResult } from "../write/recovery.js";
import type { UnsavedFile } from "../write/unsaved-file.js";
import { writeErrorOf, type LocalWrites } from "../write/write-back.js";
import type { UploadStatusProvider } from "../metrics/status.js";
import { currentCaller } from "./caller.js";
import { FsError, fromWriteError } from "./errors.js";
import type { PageCacheMode } from "./page-cache.js";
import type { FsContext } from "./context.js";
import type { TreeApi, XattrProvider } from "./mounted.js";
import type { Namespace } from "./namespace.js";
import type { OpenFiles } from "./open-files.js";
import { ownerOfNew } from "./ownership.js";
import { baseName, parentOf } from "./paths.js";
import { TreeOperations } from "./tree-operations.js";
import {
  O_APPEND,
  O_TRUNC,
  S_IFMT,
  S_IFREG,
  isWriteFlags,
  type DirEntry,
  type FileStat,
  type FsStatfs,
} from "./types.js";

const FALLOC_FL_KEEP_SIZE = 1;

const rethrowAsFsError = (err: unknown): never => {
  throw fromWriteError(err);
};

/** What every Filesystem reads through, whatever its namespace. */
export interface ReadSide {
  namespace: Namespace;
  openFiles: OpenFiles;
  reader: RangeReader;
  /** Puts ranges into the disk cache without reading them (native reads); absent otherwise. */
  fill?: RangeFill;
  prefetch: PrefetcherConfig;
  /** Keeps an open version's cached chunks while another version of the key is fetched. */
  pins?: VersionPins;
}

/** Write-back over a writable namespace (the bucket's tree). */
interface WriteSide {
  ctx: FsContext;
  writes: LocalWrites;
  budget: DirtyBudget;
}

export class Filesystem {
  readonly tree: TreeApi;
  private readonly writeBack?: WriteSide;

  constructor(
    private readonly reads: ReadSide,
    writeBack?: { ctx: FsContext; maxDirtyBytes?: number },
  ) {
    if (writeBack) {
      const { ctx } = writeBack;
      this.writeBack = {
        ctx,
        writes: ctx.writes,
        budget: new DirtyBudget(writeBack.maxDirtyBytes ?? Number.POSITIVE_INFINITY, () => ctx.writes.dirtyMeasure()),
      };
      this.tree = new TreeOperations(ctx);
    } else {
      this.tree = readOnlyTree(reads.namespace, refuseChange);
    }
  }

  get namespace(): Namespace {
    return this.reads.namespace;
  }

  get xattrs(): XattrProvider | undefined {
    return this.reads.namespace.xattrs;
  }

  getattr(path: string): Promise<FileStat> {
    return this.reads.namespace.lookup(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const self = await this.reads.namespace.lookupDir(path);
    const parent = path === "/" ? self : await this.reads.namespace.lookup(parentOf(path));
    const entries = await this.reads.namespace.list(path);
    return [{ name: ".", stat: self }, { name: "..", stat: parent }, ...entries];
  }

  async open(path: string, flags: number): Promise<number> {
    const stat = await this.reads.namespace.lookup(path);
    if (stat.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    if (isWriteFlags(flags)) {
      const { writes } = this.writable();
      const file = await writes.openForWrite(path, stat, (flags & O_TRUNC) !== 0);
      file.retain();
      return this.reads.openFiles.add({
        kind: "write",
        path,
        flags,
        file,
        pageCache: this.reads.openFiles.pageCache.openForWrite(path),
      });
    }
    const version = await this.reads.namespace.readVersion(path, stat);
    const prefetcher = new Prefetcher(version, this.reads.reader, this.reads.prefetch);
    const fillAhead = this.reads.fill && new FillAhead(version, this.reads.fill, fillAheadConfig(this.reads.prefetch));
    // Pinned: another version's first fetch must not drop this one's cached chunks while it is read.
    const unpin = version.etag ? this.reads.pins?.pin(version.key, version.etag) : undefined;
    const pageCache = this.reads.openFiles.pageCache.openForRead(path, version.etag);
    return this.reads.openFiles.add({ kind: "read", path, flags, version, prefetcher, fillAhead, pageCache, unpin });
  }

  /** How the kernel may cache what `fh` reads (the FUSE open reply's keep_cache / direct_io). */
  pageCacheMode(fh: number): PageCacheMode {
    const handle = this.reads.openFiles.get(fh);
    return handle.kind === "read" ? handle.pageCache.mode : handle.pageCache;
  }

  async create(path: string, mode: number, flags = 0o1): Promise<number> {
    const caller = currentCaller(); // before the first await (caller.ts)
    const { ctx, writes } = this.writable();
    if (Buffer.byteLength(baseName(path)) > 255) throw new FsError("ENAMETOOLONG", `name too long: ${path}`);
    const parent = await ctx.namespace.lookupDir(parentOf(path));
    const file = await writes.create(
      path,
      S_IFREG | (mode & ~S_IFMT),
      ownerOfNew(caller, parent, ctx.namespace.defaultAttributes()),
    );
    file.retain();
    // The new file shows through the local overlay until its upload remembers it.
    ctx.namespace.forgetStat(path);
    ctx.namespace.touchDir(parentOf(path));
    return this.reads.openFiles.add({
      kind: "write",
      path,
      flags,
      file,
      pageCache: this.reads.openFiles.pageCache.openForWrite(path),
    });
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const handle = this.reads.openFiles.get(fh);
    const local = this.localAt(handle.path);
    if (local) return local.read(offset, length);
    if (handle.kind === "write") return handle.file.read(offset, length);
    return handle.prefetcher.read(offset, length);
  }

  /**
   * The object version a read-only handle reads, while nothing local overrides it (a file being
   * written at the same path is read from its local changes instead); for the native read path.
   */
  readVersion(fh: number): ObjectVersion | undefined {
    let handle;
    try {
      handle = this.reads.openFiles.get(fh);
    } catch {
      return undefined;
    }
    if (handle.kind !== "read" || this.localAt(handle.path)) return undefined;
    return handle.version;
  }

  /**
   * For the native read path: puts [offset, offset+length) of a read-only handle's object into
   * the disk cache and resolves true, or resolves false when JavaScript must answer the read
   * (local changes at the path, no disk cache). Rejects if the transfer failed.
   */
  async prepareCached(fh: number, offset: number, length: number): Promise<boolean> {
    const handle = this.reads.openFiles.get(fh);
    // Without an ETag nothing is cached (a version could not be pinned): JavaScript reads it.
    if (handle.kind !== "read" || !handle.fillAhead || !handle.version.etag || this.localAt(handle.path)) return false;
    await handle.fillAhead.ensure(offset, length);
    return true;
  }

  /**
   * Read-ahead for reads the native binding served itself: `reached` is how far the reader got
   * (-1: just asking). Returns where to be told next, or -1 for nowhere.
   */
  readAheadPoint(fh: number, reached: number): number {
    let handle;
    try {
      handle = this.reads.openFiles.get(fh);
    } catch {
      return -1; // closed meanwhile
    }
    if (handle.kind !== "read" || !handle.fillAhead) return -1;
    if (reached >= 0) handle.fillAhead.advance(reached);
    return handle.fillAhead.notifyPoint();
  }

  /** `data` is only read until the returned promise settles (it may be the kernel's buffer). */
  async write(fh: number, data: Buffer, offset: number): Promise<number> {
    const handle = this.reads.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    // O_APPEND writes go to the end we know, even if the kernel's idea of the size is stale.
    await this.writeSide().budget.admit();
    const position = (handle.flags & O_APPEND) !== 0 ? handle.file.size : offset;
    return handle.file.write(data, position).catch((err: unknown) => {
      throw fromWriteError(writeErrorOf(err));
    });
  }

  /** Called on every close(2) of a descriptor: uploads changes so close can report failures. */
  async flush(fh: number): Promise<void> {
    const handle = this.reads.openFiles.get(fh);
    if (handle.kind === "write") await this.writeSide().writes.sync(handle.file).catch(rethrowAsFsError);
  }

  async fsync(fh: number): Promise<void> {
    await this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const handle = this.reads.openFiles.remove(fh);
    if (handle.kind === "read") {
      handle.prefetcher.close();
      handle.pageCache.release();
      handle.unpin?.();
      return;
    }
    await this.writeSide().writes.closed(handle.file);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const handle = this.reads.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    await handle.file.truncate(size);
  }

  /**
   * fallocate(2) mode 0 extends the file to offset+length (zeros, as object storage has no
   * holes to reserve); FALLOC_FL_KEEP_SIZE only asks for space, which a bucket always has.
   * Punching holes, collapsing or zeroing ranges are not offered (EOPNOTSUPP).
   */
  async fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    const handle = this.reads.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    if (mode !== 0 && mode !== FALLOC_FL_KEEP_SIZE)
      throw new FsError("ENOTSUP", `fallocate mode ${mode} is not supported on object storage`);
    if (mode === 0 && offset + length > handle.file.size) await handle.file.truncate(offset + length);
  }

  async truncate(path: string, size: number): Promise<void> {
    const { writes } = this.writable();
    const stat = await this.reads.namespace.lookup(path);
    if (stat.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    const file = await writes.openForWrite(path, stat, size === 0);
    this.reads.openFiles.pageCache.openForWrite(path);
    file.retain();
    try {
      if (file.size !== size) await file.truncate(size);
      if (file.openCount === 1) await writes.sync(file).catch(rethrowAsFsError);
    } finally {
      file.releaseHandle();
      await writes.releaseIfIdle(file);
    }
  }

  statfs(): FsStatfs {
    return this.reads.namespace.statfs();
  }

  /** Files whose changes are not in the bucket yet (status, metrics), as plain records. */
  unsavedFiles(): UnsavedFile[] {
    return this.writeBack?.writes.unsaved() ?? [];
  }

  /** Pending and failed uploads for `bucketfs status`: from the upload journal, or none (read-only namespace). */
  uploadStatus(sentBytes: (key: string) => number | undefined = () => undefined): UploadStatusProvider {
    return this.writeBack?.writes.uploadStatus(sentBytes) ?? { uploads: () => [] };
  }

  /** Finishes the uploads a previous run left in the upload journal (see write/recovery.ts); nothing without write-back. */
  async recoverUploads(): Promise<RecoveryResult> {
    if (!this.writeBack) return { adopted: 0, done: Promise.resolve({ recovered: 0, failed: 0 }) };
    return this.writeBack.writes.recover();
  }

  /** Uploads every file with unsaved changes (unmount, SIGTERM). Returns the paths that failed. */
  async flushAll(): Promise<string[]> {
    return this.writeBack ? this.writeBack.writes.flushAll() : [];
  }

  /**
   * Closes what the filesystem holds open, after flushAll and unmount (the kernel has released
   * every handle by then): the upload journal and the namespace's databases. Staged files that
   * failed to upload stay on disk and in the journal for the next mount.
   */
  close(): void {
    this.writeBack?.writes.close();
    this.reads.namespace.close();
  }

  /**
   * What a crash leaves: every staging file is closed as it is (nothing uploaded, nothing
   * forgotten), the journal too; a new filesystem on the same disk then recovers them. For tests
   * of recovery; a daemon that dies leaves this to the kernel.
   */
  async abandon(): Promise<void> {
    // Also files unlinked while open: their staging is only the dead process's to close.
    await Promise.all(
      this.reads.openFiles.openForWriting().map((file) => file.staging.handle.close().catch(() => undefined)),
    );
    await this.writeBack?.writes.abandon();
  }

  /** The file with local data at a path, which reads answer from instead of the bucket. */
  private localAt(path: string): DirtyFile | undefined {
    return this.writeBack?.writes.at(path);
  }

  /** Write-back, or EROFS for a read-only namespace or a --read-only mount. */
  private writable(): WriteSide {
    const writes = this.writeSide();
    if (writes.ctx.config.readOnly) refuseChange();
    return writes;
  }

  /** Write-back for a handle already open for writing (which only a writable namespace hands out). */
  private writeSide(): WriteSide {
    return this.writeBack ?? refuseChange();
  }
}

/** The one place a change is refused on a read-only namespace or mount. */
function refuseChange(): never {
  throw new FsError("EROFS", "read-only file system");
}

/** The tree of a read-only namespace: readlink finds no link, every change is refused. */
function readOnlyTree(namespace: Namespace, refuse: () => never): TreeApi {
  const refused = async (): Promise<never> => refuse();
  return {
    mkdir: refused,
    rmdir: refused,
    unlink: refused,
    symlink: refused,
    rename: refused,
    chmod: refused,
    chown: refused,
    utimens: refused,
    mknodSpecial: refused,
    readlink: async (path) => {
      await namespace.lookup(path);
      throw new FsError("EINVAL", `not a symbolic link: ${path}`);
    },
  };
}
