/**
 * The table of open file handles (files with local data are kept by the write-back).
 * Handle numbers start at 1: fuse-native treats 0 as "no handle".
 */
import type { FillAhead } from "../read/fill-ahead.js";
import type { Prefetcher } from "../read/prefetcher.js";
import type { ObjectVersion } from "../read/range-reader.js";
import type { DirtyFile } from "../write/dirty-file.js";
import { badHandle } from "./errors.js";

export interface ReadHandle {
  kind: "read";
  path: string;
  flags: number;
  version: ObjectVersion;
  prefetcher: Prefetcher;
  /** Read-ahead into the disk cache, when the native binding serves reads from it. */
  fillAhead?: FillAhead;
}

export interface WriteHandle {
  kind: "write";
  path: string;
  flags: number;
  file: DirtyFile;
}

export type OpenHandle = ReadHandle | WriteHandle;

export class OpenFiles {
  private readonly handles = new Map<number, OpenHandle>();
  private nextId = 1;

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

  /** Moves the handles of a path (and, for a directory, everything below it) after a rename. */
  movePath(from: string, to: string, newKey: (path: string) => string): void {
    const moved = (p: string): string | undefined =>
      p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : undefined;
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
