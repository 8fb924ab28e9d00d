/**
 * The read-only IDC filesystem: the IdcTree for names and stats, the ordinary read chain
 * (per-handle Prefetcher → chunk cache → ranged GET on the IdcStore, keys `<bucket>/<uuid>/<file>`) for data, and `user.idc.*` extended
 * attributes from the index. Every change is refused with EROFS. It implements the same
 * MountedFilesystem interface as the bucket-prefix Filesystem, so the one FUSE adapter serves it.
 */
import { LRUCache } from "lru-cache";
import { DEFAULT_PREFETCHER_CONFIG, Prefetcher, type PrefetcherConfig } from "../read/prefetcher.js";
import type { ObjectVersion, RangeReader } from "../read/range-reader.js";
import { FsError, badHandle } from "../vfs/errors.js";
import type { MountedFilesystem, TreeApi, UnsavedFile, XattrProvider } from "../vfs/mounted.js";
import { isWriteFlags, S_IFDIR, S_IFREG, type DirEntry, type FileStat, type FsStatfs } from "../vfs/types.js";
import { attributesOf, XATTR_PREFIX } from "./attributes.js";
import type { IdcNode, IdcTree } from "./idc-tree.js";

export interface IdcFilesystemConfig {
  uid: number;
  gid: number;
  /** mtime of directories: when the index was loaded. */
  mtimeMs: number;
  /** Index version, shown in the root's attributes. */
  version: string;
  prefetch?: Partial<PrefetcherConfig>;
}

const readOnly = (): Promise<never> => Promise.reject(new FsError("EROFS", "the IDC mount is read-only"));

export class IdcFilesystem implements MountedFilesystem {
  readonly tree: TreeApi = {
    mkdir: readOnly, rmdir: readOnly, unlink: readOnly, symlink: readOnly, rename: readOnly, chmod: readOnly, chown: readOnly, utimens: readOnly, mknodSpecial: readOnly,
    readlink: () => Promise.reject(new FsError("EINVAL", "not a symbolic link")),
  };
  readonly xattrs: XattrProvider = {
    getxattr: async (path, name) => {
      // ls -l and cp ask for security.* and system.* attributes of every entry: answer without a lookup.
      if (!name.startsWith(XATTR_PREFIX)) throw new FsError("ENODATA", `no attribute ${name} on ${path}`);
      const value = (await this.attributes(path))[name.slice(XATTR_PREFIX.length)];
      if (value === undefined) throw new FsError("ENODATA", `no attribute ${name} on ${path}`);
      return Buffer.from(value);
    },
    listxattr: async (path) => Object.keys(await this.attributes(path)).map((n) => XATTR_PREFIX + n),
  };
  private readonly handles = new Map<number, Prefetcher>();
  private readonly attributeCache = new LRUCache<string, Record<string, string>>({ max: 1_000 });
  private nextHandle = 1;
  private readonly prefetch: PrefetcherConfig;

  constructor(private readonly idc: IdcTree, private readonly reader: RangeReader, private readonly config: IdcFilesystemConfig) {
    this.prefetch = { ...DEFAULT_PREFETCHER_CONFIG, ...config.prefetch };
  }

  async getattr(path: string): Promise<FileStat> {
    return this.statOf(await this.idc.resolve(path));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const node = await this.idc.resolve(path);
    if (node.level === "instance") throw new FsError("ENOTDIR", `not a directory: ${path}`);
    const self = this.statOf(node);
    const children = await this.idc.children(node);
    return [
      { name: ".", stat: self }, { name: "..", stat: self },
      ...children.map((c) => ({ name: c.name, stat: c.kind === "dir" ? this.dirStat(c.sizeMb) : this.fileStat(c.instance.size, c.instance.mtimeMs, c.instance.etag) })),
    ];
  }

  async open(path: string, flags: number): Promise<number> {
    const node = await this.idc.resolve(path);
    if (node.level !== "instance") throw new FsError("EISDIR", `is a directory: ${path}`);
    if (isWriteFlags(flags)) throw new FsError("EROFS", "the IDC mount is read-only");
    const version: ObjectVersion = {
      key: `${node.series.aws_bucket}/${node.series.crdc_series_uuid}/${node.instance.name}`, etag: node.instance.etag, size: node.instance.size,
    };
    const fh = this.nextHandle++;
    this.handles.set(fh, new Prefetcher(version, this.reader, this.prefetch));
    return fh;
  }

  create(): Promise<number> {
    return readOnly();
  }

  read(fh: number, offset: number, length: number): Promise<Buffer> {
    const prefetcher = this.handles.get(fh);
    if (!prefetcher) return Promise.reject(badHandle(fh));
    return prefetcher.read(offset, length);
  }

  write(): Promise<number> {
    return readOnly();
  }

  async flush(): Promise<void> {}

  async fsync(): Promise<void> {}

  async release(fh: number): Promise<void> {
    this.handles.get(fh)?.close();
    this.handles.delete(fh);
  }

  truncate(): Promise<void> {
    return readOnly();
  }

  fallocate(): Promise<void> {
    return readOnly();
  }

  ftruncate(): Promise<void> {
    return readOnly();
  }

  statfs(): FsStatfs {
    const summaries = this.idc.index.collections();
    const blockSize = 1024 * 1024;
    const blocks = Math.ceil(summaries.reduce((s, c) => s + c.size_mb, 0) * 1e6 / blockSize);
    const files = summaries.reduce((s, c) => s + c.instances, 0);
    // Capped to fuse-native's 32-bit fields.
    return { blockSize, blocks: Math.min(blocks, 2 ** 32 - 1), blocksFree: 0, files: Math.min(files, 2 ** 32 - 1), filesFree: 0, nameMax: 255 };
  }

  unsavedFiles(): UnsavedFile[] {
    return [];
  }

  async flushAll(): Promise<string[]> {
    return [];
  }

  /** Attributes per path, memoised: the index is immutable, and getfattr -d asks once per name. */
  private async attributes(path: string): Promise<Record<string, string>> {
    let attributes = this.attributeCache.get(path);
    if (!attributes) {
      attributes = attributesOf(await this.idc.resolve(path), this.idc.index, this.config.version);
      this.attributeCache.set(path, attributes);
    }
    return attributes;
  }

  private statOf(node: IdcNode): FileStat {
    if (node.level === "instance") return this.fileStat(node.instance.size, node.instance.mtimeMs, node.instance.etag);
    return this.dirStat(node.level === "root" ? 0 : node.sizeMb);
  }

  private dirStat(sizeMb: number): FileStat {
    // Directory sizes are what the index says the series under it weigh (du-like, decimal MB).
    return { kind: "dir", mode: S_IFDIR | 0o555, uid: this.config.uid, gid: this.config.gid, size: Math.round(sizeMb * 1e6), mtimeMs: this.config.mtimeMs, ctimeMs: this.config.mtimeMs };
  }

  private fileStat(size: number, mtimeMs: number, etag: string): FileStat {
    return { kind: "file", mode: S_IFREG | 0o444, uid: this.config.uid, gid: this.config.gid, size, mtimeMs, ctimeMs: mtimeMs, etag };
  }
}
