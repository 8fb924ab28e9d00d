/**
 * The IDC index tree as a Namespace: names and stats from the IdcTree, the object a file reads
 * (`<aws_bucket>/<crdc_series_uuid>/<file>` on the IdcStore), and `user.idc.*` extended
 * attributes from the index. It has no mutation hooks, so the one Filesystem serves it read-only
 * (every change answers EROFS there), with the same handles and read chain as a bucket.
 */
import { LRUCache } from "lru-cache";
import type { ObjectVersion } from "../read/range-reader.js";
import { FsError } from "../vfs/errors.js";
import type { XattrProvider } from "../vfs/mounted.js";
import type { Namespace } from "../vfs/namespace.js";
import { S_IFDIR, S_IFREG, type DirEntry, type FileStat, type FsStatfs } from "../vfs/types.js";
import { attributesOf, XATTR_PREFIX } from "./attributes.js";
import type { IdcNode, IdcTree } from "./idc-tree.js";

export interface IdcNamespaceConfig {
  uid: number;
  gid: number;
  /** mtime of directories: when the index was loaded. */
  mtimeMs: number;
  /** Index version, shown in the root's attributes. */
  version: string;
}

export class IdcNamespace implements Namespace {
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
  private readonly attributeCache = new LRUCache<string, Record<string, string>>({ max: 1_000 });

  /** `close` releases what the tree reads from (the index database and the listings cache). */
  constructor(
    private readonly idc: IdcTree,
    private readonly config: IdcNamespaceConfig,
    private readonly onClose: () => void,
  ) {}

  async lookup(path: string): Promise<FileStat> {
    return this.statOf(await this.idc.resolve(path));
  }

  async lookupDir(path: string): Promise<FileStat> {
    const stat = await this.lookup(path);
    if (stat.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${path}`);
    return stat;
  }

  async list(path: string): Promise<DirEntry[]> {
    const children = await this.idc.children(await this.idc.resolve(path));
    return children.map((c) => ({
      name: c.name,
      stat:
        c.kind === "dir" ? this.dirStat(c.sizeMb) : this.fileStat(c.instance.size, c.instance.mtimeMs, c.instance.etag),
    }));
  }

  async readVersion(path: string): Promise<ObjectVersion> {
    const node = await this.idc.resolve(path);
    if (node.level !== "instance") throw new FsError("EISDIR", `is a directory: ${path}`);
    return {
      key: `${node.series.aws_bucket}/${node.series.crdc_series_uuid}/${node.instance.name}`,
      etag: node.instance.etag,
      size: node.instance.size,
    };
  }

  statfs(): FsStatfs {
    const summaries = this.idc.index.collections();
    const blockSize = 1024 * 1024;
    const blocks = Math.ceil((summaries.reduce((s, c) => s + c.size_mb, 0) * 1e6) / blockSize);
    const files = summaries.reduce((s, c) => s + c.instances, 0);
    // Capped to fuse-native's 32-bit fields.
    return {
      blockSize,
      blocks: Math.min(blocks, 2 ** 32 - 1),
      blocksFree: 0,
      files: Math.min(files, 2 ** 32 - 1),
      filesFree: 0,
      nameMax: 255,
    };
  }

  close(): void {
    this.onClose();
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
    return {
      kind: "dir",
      mode: S_IFDIR | 0o555,
      uid: this.config.uid,
      gid: this.config.gid,
      size: Math.round(sizeMb * 1e6),
      mtimeMs: this.config.mtimeMs,
      ctimeMs: this.config.mtimeMs,
    };
  }

  private fileStat(size: number, mtimeMs: number, etag: string): FileStat {
    return {
      kind: "file",
      mode: S_IFREG | 0o444,
      uid: this.config.uid,
      gid: this.config.gid,
      size,
      mtimeMs,
      ctimeMs: mtimeMs,
      etag,
    };
  }
}
