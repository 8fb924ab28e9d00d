/**
 * The filesystem core: POSIX file operations on paths, over an ObjectStore. It knows nothing of
 * FUSE; the adapter in src/fuse translates kernel calls into these methods and errors into errno.
 * Directory-changing operations (mkdir, rename, chmod, …) live in tree-operations.ts.
 */
import { FillAhead, fillAheadConfig } from "../read/fill-ahead.js";
import { Prefetcher } from "../read/prefetcher.js";
import type { ObjectVersion } from "../read/range-reader.js";
import { DirtyBudget } from "../write/dirty-budget.js";
import type { RecoveryResult } from "../write/recovery.js";
import type { UnsavedFile } from "../write/unsaved-file.js";
import { writeErrorOf, type LocalWrites } from "../write/write-back.js";
import type { UploadStatusProvider } from "../metrics/status.js";
import { currentCaller } from "./caller.js";
import { FsError, fromWriteError } from "./errors.js";
import type { PageCacheMode } from "./page-cache.js";
import type { FsContext } from "./context.js";
import { Namespace } from "./namespace.js";
import { ownerOfNew } from "./ownership.js";
import { baseName, parentOf } from "./paths.js";
import { TreeOperations } from "./tree-operations.js";
import { O_APPEND, O_TRUNC, S_IFMT, S_IFREG, isWriteFlags, type DirEntry, type FileStat, type FsStatfs } from "./types.js";

const FALLOC_FL_KEEP_SIZE = 1;

const rethrowAsFsError = (err: unknown): never => {
  throw fromWriteError(err);
};

export class Filesystem {
  readonly tree: TreeOperations;
  private readonly writes: LocalWrites;

  private readonly budget: DirtyBudget;

  constructor(private readonly ctx: FsContext, maxDirtyBytes = Number.POSITIVE_INFINITY) {
    this.writes = ctx.writes;
    this.tree = new TreeOperations(ctx);
    this.budget = new DirtyBudget(maxDirtyBytes, () => this.writes.dirtyMeasure());
  }

  get namespace(): Namespace {
    return this.ctx.namespace;
  }

  getattr(path: string): Promise<FileStat> {
    return this.ctx.namespace.lookup(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const self = await this.ctx.namespace.lookupDir(path);
    const parent = path === "/" ? self : await this.ctx.namespace.lookup(parentOf(path));
    const entries = await this.ctx.namespace.list(path);
    return [{ name: ".", stat: self }, { name: "..", stat: parent }, ...entries];
  }

  async open(path: string, flags: number): Promise<number> {
    const stat = await this.ctx.namespace.lookup(path);
    if (stat.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    if (isWriteFlags(flags)) {
      this.assertWritable();
      const file = await this.writes.openForWrite(path, stat, (flags & O_TRUNC) !== 0);
      file.retain();
      return this.ctx.openFiles.add({ kind: "write", path, flags, file, pageCache: this.ctx.openFiles.pageCache.openForWrite(path) });
    }
    const version = { key: this.ctx.namespace.mapper.fileKey(path), etag: stat.etag ?? "", size: stat.size };
    const prefetcher = new Prefetcher(version, this.ctx.reader, this.ctx.config.prefetch);
    const fillAhead = this.ctx.fill && new FillAhead(version, this.ctx.fill, fillAheadConfig(this.ctx.config.prefetch));
    // Pinned: another version's first fetch must not drop this one's cached chunks while it is read.
    const unpin = version.etag ? this.ctx.pins?.pin(version.key, version.etag) : undefined;
    const pageCache = this.ctx.openFiles.pageCache.openForRead(path, version.etag);
    return this.ctx.openFiles.add({ kind: "read", path, flags, version, prefetcher, fillAhead, pageCache, unpin });
  }

  /** How the kernel may cache what `fh` reads (the FUSE open reply's keep_cache / direct_io). */
  pageCacheMode(fh: number): PageCacheMode {
    const handle = this.ctx.openFiles.get(fh);
    return handle.kind === "read" ? handle.pageCache.mode : handle.pageCache;
  }

  async create(path: string, mode: number, flags = 0o1): Promise<number> {
    const caller = currentCaller(); // before the first await (caller.ts)
    this.assertWritable();
    if (Buffer.byteLength(baseName(path)) > 255) throw new FsError("ENAMETOOLONG", `name too long: ${path}`);
    const parent = await this.ctx.namespace.lookupDir(parentOf(path));
    const file = await this.writes.create(path, S_IFREG | (mode & ~S_IFMT), ownerOfNew(caller, parent, this.ctx.namespace.defaultAttributes()));
    file.retain();
    // The new file shows through the local overlay until its upload remembers it.
    this.ctx.namespace.forgetStat(path);
    this.ctx.namespace.touchDir(parentOf(path));
    return this.ctx.openFiles.add({ kind: "write", path, flags, file, pageCache: this.ctx.openFiles.pageCache.openForWrite(path) });
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const handle = this.ctx.openFiles.get(fh);
    const local = this.writes.at(handle.path);
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
      handle = this.ctx.openFiles.get(fh);
    } catch {
      return undefined;
    }
    if (handle.kind !== "read" || this.writes.at(handle.path)) return undefined;
    return handle.version;
  }

  /**
   * For the native read path: puts [offset, offset+length) of a read-only handle's object into
   * the disk cache and resolves true, or resolves false when JavaScript must answer the read
   * (local changes at the path, no disk cache). Rejects if the transfer failed.
   */
  async prepareCached(fh: number, offset: number, length: number): Promise<boolean> {
    const handle = this.ctx.openFiles.get(fh);
    // Without an ETag nothing is cached (a version could not be pinned): JavaScript reads it.
    if (handle.kind !== "read" || !handle.fillAhead || !handle.version.etag || this.writes.at(handle.path)) return false;
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
      handle = this.ctx.openFiles.get(fh);
    } catch {
      return -1; // closed meanwhile
    }
    if (handle.kind !== "read" || !handle.fillAhead) return -1;
    if (reached >= 0) handle.fillAhead.advance(reached);
    return handle.fillAhead.notifyPoint();
  }

  /** `data` is only read until the returned promise settles (it may be the kernel's buffer). */
  async write(fh: number, data: Buffer, offset: number): Promise<number> {
    const handle = this.ctx.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    // O_APPEND writes go to the end we know, even if the kernel's idea of the size is stale.
    await this.budget.admit();
    const position = (handle.flags & O_APPEND) !== 0 ? handle.file.size : offset;
    return handle.file.write(data, position).catch((err: unknown) => {
      throw fromWriteError(writeErrorOf(err));
    });
  }

  /** Called on every close(2) of a descriptor: uploads changes so close can report failures. */
  async flush(fh: number): Promise<void> {
    const handle = this.ctx.openFiles.get(fh);
    if (handle.kind === "write") await this.writes.sync(handle.file).catch(rethrowAsFsError);
  }

  async fsync(fh: number): Promise<void> {
    await this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const handle = this.ctx.openFiles.remove(fh);
    if (handle.kind === "read") {
      handle.prefetcher.close();
      handle.pageCache.release();
      handle.unpin?.();
      return;
    }
    await this.writes.closed(handle.file);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const handle = this.ctx.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    await handle.file.truncate(size);
  }

  /**
   * fallocate(2) mode 0 extends the file to offset+length (zeros, as object storage has no
   * holes to reserve); FALLOC_FL_KEEP_SIZE only asks for space, which a bucket always has.
   * Punching holes, collapsing or zeroing ranges are not offered (EOPNOTSUPP).
   */
  async fallocate(fh: number, mode: number, offset: number, length: number): Promise<void> {
    const handle = this.ctx.openFiles.get(fh);
    if (handle.kind !== "write") throw new FsError("EBADF", `file handle ${fh} is not open for writing`);
    if (mode !== 0 && mode !== FALLOC_FL_KEEP_SIZE) throw new FsError("ENOTSUP", `fallocate mode ${mode} is not supported on object storage`);
    if (mode === 0 && offset + length > handle.file.size) await handle.file.truncate(offset + length);
  }

  async truncate(path: string, size: number): Promise<void> {
    this.assertWritable();
    const stat = await this.ctx.namespace.lookup(path);
    if (stat.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    const file = await this.writes.openForWrite(path, stat, size === 0);
    this.ctx.openFiles.pageCache.openForWrite(path);
    file.retain();
    try {
      if (file.size !== size) await file.truncate(size);
      if (file.openCount === 1) await this.writes.sync(file).catch(rethrowAsFsError);
    } finally {
      file.releaseHandle();
      await this.writes.releaseIfIdle(file);
    }
  }

  statfs(): FsStatfs {
    // Buckets have no capacity limit; report a large, stable size (1 PiB in 1 MiB blocks, which
    // fits fuse-native's 32-bit fields) so that df, cp and installers see plenty of room.
    const blocks = 2 ** 30;
    return { blockSize: 1024 * 1024, blocks, blocksFree: blocks, files: 2 ** 31, filesFree: 2 ** 31, nameMax: 255 };
  }

  /** Files whose changes are not in the bucket yet (status, metrics), as plain records. */
  unsavedFiles(): UnsavedFile[] {
    return this.writes.unsaved();
  }

  /** Pending and failed uploads for `bucketfs status`, from the upload journal. */
  uploadStatus(sentBytes: (key: string) => number | undefined = () => undefined): UploadStatusProvider {
    return this.writes.uploadStatus(sentBytes);
  }

  /** Finishes the uploads a previous run left in the upload journal (see write/recovery.ts). */
  recoverUploads(): Promise<RecoveryResult> {
    return this.writes.recover();
  }

  /** Uploads every file with unsaved changes (unmount, SIGTERM). Returns the paths that failed. */
  flushAll(): Promise<string[]> {
    return this.writes.flushAll();
  }

  /**
   * Unmount, after flushAll: closes the attribute table (KnownAttributes) so its last batch of
   * rows, still waiting for the timer that writes it, reaches the disk.
   */
  close(): void {
    this.ctx.namespace.close();
  }

  /**
   * What a crash leaves: every staging file is closed as it is (nothing uploaded, nothing
   * forgotten), the journal too; a new filesystem on the same disk then recovers them. For tests
   * of recovery; a daemon that dies leaves this to the kernel.
   */
  async abandon(): Promise<void> {
    // Also files unlinked while open: their staging is only the dead process's to close.
    await Promise.all(this.ctx.openFiles.openForWriting().map((file) => file.staging.handle.close().catch(() => undefined)));
    await this.writes.abandon();
  }

  private assertWritable(): void {
    if (this.ctx.config.readOnly) throw new FsError("EROFS", "read-only mount");
  }
}
