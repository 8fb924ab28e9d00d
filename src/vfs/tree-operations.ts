/**
 * Operations that change the tree or attributes: mkdir, rmdir, unlink, rename, symlink,
 * readlink, chmod, chown, utimens. Object storage has no rename: a file is copied server-side
 * and the source deleted; a directory is every object under its prefix, copied then deleted
 * (not atomic, like s3fs and rclone; a failure midway leaves both trees, never a lost object).
 */
import pLimit from "p-limit";
import { isStoreError } from "../store/errors.js";
import { listAll } from "../store/object-store.js";
import { currentCaller } from "./caller.js";
import type { FsContext } from "./context.js";
import { FsError, fromWriteError, notFound } from "./errors.js";
import { withAttributes, type PosixAttributes } from "../store/s3fs-metadata.js";
import { copyObject } from "../store/object-copy.js";
import type { DirtyFile } from "../write/dirty-file.js";
import { isSpecialType } from "./file-kind.js";
import { chmodMode, chownAttributes, inheritedDirMode, ownerOfNew } from "./ownership.js";
import { parentOf } from "./paths.js";
import { S_IFDIR, S_IFLNK, S_IFMT, type FileStat } from "./types.js";

/** The adapter passes times at or above this for UTIME_OMIT. */
export const TIME_OMIT = 2 ** 62;

export class TreeOperations {
  constructor(private readonly ctx: FsContext) {}

  /** Uploads a file's local changes before its object is copied; failures as FsError. */
  private save(file: DirtyFile): Promise<void> {
    return this.ctx.writes.sync(file).catch((err: unknown) => {
      throw fromWriteError(err);
    });
  }

  async mkdir(path: string, mode: number): Promise<void> {
    const caller = currentCaller(); // before the first await (caller.ts)
    this.assertWritable();
    const { namespace, store } = this.ctx;
    if (await namespace.tryLookup(path)) throw new FsError("EEXIST", `file exists: ${path}`);
    const parent = await namespace.lookupDir(parentOf(path));
    const owner = ownerOfNew(caller, parent, namespace.defaultAttributes());
    const now = Date.now();
    const metadata = withAttributes(
      {},
      { mode: inheritedDirMode(S_IFDIR | (mode & ~S_IFMT), parent), ...owner, mtimeMs: now, ctimeMs: now },
    );
    await store.put({ key: namespace.mapper.dirPrefix(path), body: Buffer.alloc(0), metadata });
    namespace.rememberNewDir(path, namespace.dirStat(metadata));
    namespace.touchDir(parentOf(path), now);
  }

  async rmdir(path: string): Promise<void> {
    this.assertWritable();
    const { namespace, store } = this.ctx;
    await namespace.lookupDir(path);
    if (path === "/") throw new FsError("EBUSY", "cannot remove the mount root");
    const prefix = namespace.mapper.dirPrefix(path);
    const page = await store.list({ prefix, maxKeys: 2 });
    const children = page.objects.filter((o) => o.key !== prefix);
    if (children.length > 0 || this.ctx.writes.under(path).length > 0) {
      throw new FsError("ENOTEMPTY", `directory not empty: ${path}`);
    }
    await store.delete({ key: prefix });
    this.ctx.openFiles.pageCache.removed(path);
    namespace.forgetTree(path);
    namespace.rememberMissing(path);
    namespace.touchDir(parentOf(path));
  }

  async unlink(path: string): Promise<void> {
    this.assertWritable();
    const { namespace, store, writes } = this.ctx;
    const stat = await namespace.lookup(path);
    if (stat.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    // After its upload is cancelled or done: an upload landing after the DELETE would bring it back.
    const local = writes.at(path);
    if (local) await this.forgetName(local);
    await store.delete({ key: namespace.mapper.fileKey(path) });
    this.ctx.openFiles.pageCache.removed(path);
    namespace.rememberMissing(path);
    namespace.touchDir(parentOf(path));
  }

  async symlink(target: string, path: string): Promise<void> {
    const caller = currentCaller(); // before the first await (caller.ts)
    this.assertWritable();
    const { namespace, store } = this.ctx;
    if (await namespace.tryLookup(path)) throw new FsError("EEXIST", `file exists: ${path}`);
    const parent = await namespace.lookupDir(parentOf(path));
    const now = Date.now();
    const metadata = withAttributes(
      {},
      {
        mode: S_IFLNK | 0o777,
        ...ownerOfNew(caller, parent, namespace.defaultAttributes()),
        mtimeMs: now,
        ctimeMs: now,
      },
    );
    const key = namespace.mapper.fileKey(path);
    const body = Buffer.from(target);
    const { etag } = await store.put({ key, body, metadata });
    namespace.remember(
      path,
      namespace.statFromObject({ key, size: body.length, etag, lastModified: new Date() }, metadata),
    );
    namespace.touchDir(parentOf(path), now);
  }

  /**
   * A FIFO, socket or device node: an empty object whose mode carries the type (and rdev the
   * device number), as s3fs stores them. The kernel gives such nodes their meaning; bucketfs
   * only keeps their name and attributes.
   */
  async mknodSpecial(path: string, mode: number, rdev: number): Promise<void> {
    const caller = currentCaller(); // before the first await (caller.ts)
    this.assertWritable();
    if (!isSpecialType(mode))
      throw new FsError("EINVAL", `not a FIFO, socket or device node: mode ${mode.toString(8)}`);
    const { namespace, store } = this.ctx;
    if (await namespace.tryLookup(path)) throw new FsError("EEXIST", `file exists: ${path}`);
    const parent = await namespace.lookupDir(parentOf(path));
    const now = Date.now();
    const device = (mode & S_IFMT) === 0o020000 || (mode & S_IFMT) === 0o060000 ? { rdev } : {};
    const metadata = withAttributes(
      {},
      { mode, ...ownerOfNew(caller, parent, namespace.defaultAttributes()), mtimeMs: now, ctimeMs: now, ...device },
    );
    const key = namespace.mapper.fileKey(path);
    const { etag } = await store.put({ key, body: Buffer.alloc(0), metadata });
    namespace.remember(path, namespace.statFromObject({ key, size: 0, etag, lastModified: new Date(now) }, metadata));
    namespace.touchDir(parentOf(path), now);
  }

  async readlink(path: string): Promise<string> {
    let stat = await this.ctx.namespace.lookup(path);
    if (stat.kind !== "symlink") {
      // A stat seeded from a listing has no attributes: ask the object itself before refusing.
      this.ctx.namespace.forget(path);
      stat = await this.ctx.namespace.lookup(path);
    }
    if (stat.kind !== "symlink") throw new FsError("EINVAL", `not a symbolic link: ${path}`);
    const body = await this.ctx.store.get({ key: this.ctx.namespace.mapper.fileKey(path) });
    return body.toString("utf8");
  }

  async rename(from: string, to: string): Promise<void> {
    this.assertWritable();
    // rename(2) onto itself changes nothing, but the source must exist (model-test regression).
    if (from === to) return void (await this.ctx.namespace.lookup(from));
    if (to.startsWith(`${from}/`)) throw new FsError("EINVAL", `cannot move a directory into itself: ${from} -> ${to}`);
    const { namespace } = this.ctx;
    const source = await namespace.lookup(from);
    await namespace.lookupDir(parentOf(to));
    const target = await namespace.tryLookup(to);
    if (source.kind === "dir") {
      if (target && target.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${to}`);
      if (target) await this.rmdir(to); // throws ENOTEMPTY unless empty, as rename(2) requires
      await this.renameDir(from, to);
    } else {
      if (target?.kind === "dir") throw new FsError("EISDIR", `is a directory: ${to}`);
      await this.renameFile(from, to, source);
    }
    const now = Date.now();
    namespace.touchDir(parentOf(from), now);
    namespace.touchDir(parentOf(to), now);
  }

  chmod(path: string, mode: number): Promise<void> {
    const caller = currentCaller(); // before the first await (caller.ts)
    return this.setAttributes(path, (stat) => ({ mode: chmodMode(stat, mode, caller) }));
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    const caller = currentCaller();
    return this.setAttributes(path, (stat) => chownAttributes(stat, uid, gid, caller));
  }

  /** Each time is set unless it is ≥ TIME_OMIT (UTIME_OMIT); UTIME_NOW arrives as the time. */
  utimens(path: string, mtimeMs: number, atimeMs = TIME_OMIT): Promise<void> {
    if (mtimeMs >= TIME_OMIT && atimeMs >= TIME_OMIT) return this.ctx.namespace.lookup(path).then(() => undefined);
    return this.setAttributes(path, () => ({
      ...(mtimeMs < TIME_OMIT ? { mtimeMs } : {}),
      ...(atimeMs < TIME_OMIT ? { atimeMs } : {}),
    }));
  }

  /**
   * A file loses its name (unlink, or a rename onto it). An open one stays readable, so the bytes
   * it never changed, still read from the object about to be deleted or replaced, are fetched
   * first (write-model regression: read after unlink failed with NotFound).
   */
  private async forgetName(file: DirtyFile): Promise<void> {
    if (file.openCount > 0) await this.ctx.writes.materialize(file);
    await this.ctx.writes.unlinked(file);
  }

  private async renameFile(from: string, to: string, source: FileStat): Promise<void> {
    const { namespace, store, openFiles, writes } = this.ctx;
    const local = writes.at(from);
    if (local) await this.save(local);
    // rename(2) unlinks the file it replaces: an open handle on it keeps its data, but its
    // close must not upload over the renamed file (and shutdown must not look for it).
    const replaced = writes.at(to);
    if (replaced && replaced !== local) await this.forgetName(replaced);
    const fromKey = namespace.mapper.fileKey(from);
    const toKey = namespace.mapper.fileKey(to);
    const { etag } = await copyObject(store, { sourceKey: fromKey, key: toKey, size: source.size });
    await store.delete({ key: fromKey });
    openFiles.movePath(from, to, (p) => namespace.mapper.fileKey(p));
    writes.moved(from, to);
    // Later uploads of the open file replace the copy, so they are conditional on its ETag; a
    // sparse file's unfetched bytes are now in the copy (the source is gone).
    local?.rebase(etag, toKey);
    namespace.rememberMissing(from);
    namespace.remember(to, { ...source, etag });
  }

  private async renameDir(from: string, to: string): Promise<void> {
    const { namespace, store, openFiles, writes } = this.ctx;
    for (const file of writes.under(from)) {
      await this.save(file);
      // The copies' ETags are not tracked (below), so sparse files cannot keep reading their base.
      await writes.materialize(file);
    }
    const fromPrefix = namespace.mapper.dirPrefix(from);
    const toPrefix = namespace.mapper.dirPrefix(to);
    const limit = pLimit(this.ctx.config.renameConcurrency);
    const copied: string[] = [];
    const copies: Promise<unknown>[] = [];
    for await (const object of listAll(store, fromPrefix)) {
      const key = toPrefix + object.key.slice(fromPrefix.length);
      copies.push(
        limit(() =>
          copyObject(store, { sourceKey: object.key, key, size: object.size }).then(() => copied.push(object.key)),
        ),
      );
    }
    await Promise.all(copies);
    // Only after every copy succeeded are sources deleted, so a failure never loses an object.
    await Promise.all(copied.map((key) => limit(() => store.delete({ key }))));
    openFiles.movePath(from, to, (p) => namespace.mapper.fileKey(p));
    writes.moved(from, to);
    // The copies' ETags are not tracked per file: later uploads of moved open files are unconditional.
    for (const file of writes.under(to)) file.forgetBaseVersion();
    namespace.forgetTree(from);
    namespace.forgetTree(to);
    namespace.rememberMissing(from);
  }

  private async setAttributes(path: string, change: (stat: FileStat) => PosixAttributes): Promise<void> {
    this.assertWritable();
    const { namespace, writes } = this.ctx;
    const stat = await namespace.lookup(path);
    // Every attribute change is a status change: ctime follows (stored as s3fs does).
    const attrs = { ...change(stat), ctimeMs: Date.now() };
    // Local changes not uploaded yet: the attributes travel with the next upload.
    if (writes.changeAttributes(path, attrs)) return;
    if (path === "/") return;
    const key = stat.kind === "dir" ? namespace.mapper.dirPrefix(path) : namespace.mapper.fileKey(path);
    const etag = await this.rewriteMetadata(path, key, stat, attrs);
    // Open but unchanged (touch opens for writing, then sets times): no upload of the bytes follows.
    writes.attributesRewritten(path, attrs, etag);
  }

  private async rewriteMetadata(
    path: string,
    key: string,
    stat: FileStat,
    attrs: PosixAttributes,
  ): Promise<string | undefined> {
    const { namespace, store } = this.ctx;
    const current = await store.head({ key }).catch((err: unknown) => {
      if (isStoreError(err, "NotFound") && stat.kind === "dir") return undefined; // implicit directory
      if (isStoreError(err, "NotFound")) throw notFound(path);
      throw err;
    });
    const base =
      current?.metadata ?? withAttributes({}, { mode: stat.mode, uid: stat.uid, gid: stat.gid, mtimeMs: stat.mtimeMs });
    const metadata = withAttributes(base, attrs);
    const { etag } = current
      ? await copyObject(store, {
          sourceKey: key,
          key,
          size: current.size,
          metadata,
          contentType: current.contentType,
          sourceEtag: current.etag,
        })
      : await store.put({ key, body: Buffer.alloc(0), metadata });
    namespace.forget(path);
    return current ? etag : undefined;
  }

  private assertWritable(): void {
    if (this.ctx.config.readOnly) throw new FsError("EROFS", "read-only mount");
  }
}
