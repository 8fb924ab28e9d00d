/**
 * The table of open file handles, and the registry of files with local (staged) data.
 * Handle numbers start at 1: fuse-native treats 0 as "no handle".
 */
import type { FillAhead } from "../read/fill-ahead.js";
import type { Prefetcher } from "../read/prefetcher.js";
import type { ObjectVersion } from "../read/range-reader.js";
import type { DirtyFile } from "../write/dirty-file.js";
import { badHandle } from "./errors.js";
import { PageCachePolicy, type PageCacheLease, type PageCacheMode } from "./page-cache.js";

export interface ReadHandle {
  kind: "read";
  path: string;
  flags: number;
  version: ObjectVersion;
  prefetcher: Prefetcher;
  /** Read-ahead into the disk cache, when the native binding serves reads from it. */
  fillAhead?: FillAhead;
  /** Whether the kernel may serve this open from its page cache (page-cache.ts). */
  pageCache: PageCacheLease;
  /** Ends the pin on the version's cached chunks (they may be dropped once nobody reads them). */
  unpin?: () => void;
}

export interface WriteHandle {
  kind: "write";
  path: string;
  flags: number;
  file: DirtyFile;
  pageCache: PageCacheMode;
}

export type OpenHandle = ReadHandle | WriteHandle;

export class OpenFiles {
  private readonly handles = new Map<number, OpenHandle>();
  /** INVARIANT: keyed by the file's current path; `file.path` equals its key. */
  private readonly dirty = new Map<string, DirtyFile>();
  private nextId = 1;
  /** What the kernel's page cache holds per path, decided at each open. */
  readonly pageCache = new PageCachePolicy();

  add(handle: OpenHandle): number {
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = 1; // fh is a uint32 in fuse-native
    this.handles.set(id, handle);
    return id;
  }

  get(id: number): OpenHandle {
    const handle = this.handles.get(id);
    if (!handle) throw badHandle(id);
    return handle;
  }

  remove(id: number): OpenHandle {
    const handle = this.get(id);
    this.handles.delete(id);
    return handle;
  }

  dirtyAt(path: string): DirtyFile | undefined {
    return this.dirty.get(path);
  }

  setDirty(file: DirtyFile): void {
    this.dirty.set(file.path, file);
  }

  dropDirty(file: DirtyFile): void {
    if (this.dirty.get(file.path) === file) this.dirty.delete(file.path);
  }

  /** Files with local data at or below `dirPath`. */
  dirtyUnder(dirPath: string): DirtyFile[] {
    const below = dirPath === "/" ? "/" : `${dirPath}/`;
    return [...this.dirty.values()].filter((f) => f.path.startsWith(below));
  }

  allDirty(): DirtyFile[] {
    return [...this.dirty.values()];
  }

  /** Files open for writing, including those that lost their name (not in the dirty registry). */
  openForWriting(): DirtyFile[] {
    return [...new Set([...this.handles.values()].flatMap((h) => (h.kind === "write" ? [h.file] : [])))];
  }

  /** Moves a path (and, for a directory, everything below it) after a rename. */
  movePath(from: string, to: string, newKey: (path: string) => string): void {
    this.pageCache.renamed(from, to);
    const moved = (p: string): string | undefined =>
      p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : undefined;
    for (const file of [...this.dirty.values()]) {
      const target = moved(file.path);
      if (target === undefined) continue;
      this.dirty.delete(file.path);
      file.path = target;
      file.key = newKey(target);
      this.dirty.set(target, file);
    }
    for (const handle of this.handles.values()) {
      const target = moved(handle.path);
      if (target === undefined) continue;
      handle.path = target;
      if (handle.kind === "read") {
        // The copy may carry a new ETag; reads continue from the renamed object without pinning.
        handle.version.key = newKey(target);
        handle.version.etag = "";
      }
    }
  }
}
