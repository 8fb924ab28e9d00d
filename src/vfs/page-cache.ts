/**
 * Whether the kernel may serve an open file from its page cache, decided per open.
 *
 * The kernel keeps ONE page cache per inode (per path here), shared by every open of it. Pages
 * a reader of version A brought in are served to any later reader, and a later open that drops
 * them lets pages of version B be read by the reader still on A: its file ends with bytes of
 * both. So each read-only open gets one of:
 * - "keep":   the cache holds only pages of this very version (unchanged since the last open):
 *             keep them (re-reads never reach the daemon);
 * - "fresh":  no other version is being read through the cache: drop what it holds and start
 *             afresh with this version;
 * - "bypass": a reader of another version is reading through the cache: this open reads past it
 *             (direct I/O; the daemon answers each read from the version the handle pinned).
 * A version without an ETag cannot be told apart from the next one: it is never kept.
 */
export type PageCacheMode = "keep" | "fresh" | "bypass";

/** What the kernel's cache for one path may hold, and who reads through it. */
interface PathCache {
  /** The only version whose pages the cache may hold (undefined: unknown, start afresh). */
  cached?: string;
  /** Live opens reading through the cache, by ETag. */
  readers: Map<string, number>;
}

/** An open's decision, and its release (called once, at close). */
export interface PageCacheLease {
  mode: PageCacheMode;
  release(): void;
}

/** Paths remembered without open readers; beyond it the oldest are forgotten (their next open starts afresh). */
const REMEMBERED_PATHS = 100_000;

export class PageCachePolicy {
  private readonly paths = new Map<string, PathCache>();

  /** Decides for a read-only open of `path` at version `etag` ("" when the store gave none). */
  openForRead(path: string, etag: string): PageCacheLease {
    const state = this.stateOf(path);
    const otherVersionReading = [...state.readers.keys()].some((reader) => reader !== etag);
    if (otherVersionReading) return { mode: "bypass", release: () => undefined };
    const mode: PageCacheMode = etag !== "" && state.cached === etag ? "keep" : "fresh";
    state.cached = etag === "" ? undefined : etag;
    state.readers.set(etag, (state.readers.get(etag) ?? 0) + 1);
    let released = false;
    return {
      mode,
      release: () => {
        if (released) return;
        released = true;
        const left = (state.readers.get(etag) ?? 1) - 1;
        if (left > 0) state.readers.set(etag, left);
        else state.readers.delete(etag);
      },
    };
  }

  /**
   * A write open or a create: local changes go through the cache, so the next read-only open
   * starts afresh. Writers are not readers of a version: their pages follow the local data.
   */
  openForWrite(path: string): PageCacheMode {
    this.stateOf(path).cached = undefined;
    return "fresh";
  }

  /** The path names a new file from now on (unlinked, replaced): nothing of the old one is kept. */
  removed(path: string): void {
    for (const key of [...this.paths.keys()]) if (key === path || key.startsWith(`${path}/`)) this.paths.delete(key);
  }

  /**
   * The kernel moves an inode (and its cache) with a rename; the object behind it may have been
   * copied to a new ETag, so the moved cache is not trusted for the next open.
   */
  renamed(from: string, to: string): void {
    this.removed(to);
    for (const [key, state] of [...this.paths]) {
      const target = key === from ? to : key.startsWith(`${from}/`) ? to + key.slice(from.length) : undefined;
      if (target === undefined) continue;
      this.paths.delete(key);
      state.cached = undefined;
      this.paths.set(target, state);
    }
  }

  private stateOf(path: string): PathCache {
    let state = this.paths.get(path);
    if (!state) {
      state = { readers: new Map() };
      this.paths.set(path, state);
      if (this.paths.size > REMEMBERED_PATHS) this.forgetOldestIdle();
    }
    return state;
  }

  private forgetOldestIdle(): void {
    for (const [key, state] of this.paths) {
      if (state.readers.size === 0) {
        this.paths.delete(key);
        return;
      }
    }
  }
}
