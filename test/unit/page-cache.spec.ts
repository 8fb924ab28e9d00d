/**
 * The per-open page-cache decision (src/vfs/page-cache.ts): the kernel keeps one page cache per
 * file, so an open may keep it only when it holds this very version, must drop it when the
 * version changed, and must bypass it while a reader of another version reads through it.
 */
import { describe, expect, it } from "vitest";
import { PageCachePolicy } from "../../src/vfs/page-cache.js";

describe("page cache per open", () => {
  it("the first open starts afresh; reopening the same version keeps the pages", () => {
    const policy = new PageCachePolicy();
    const first = policy.openForRead("/a", "e1");
    expect(first.mode).toBe("fresh");
    first.release();
    expect(policy.openForRead("/a", "e1").mode).toBe("keep");
    expect(policy.openForRead("/b", "e1").mode).toBe("fresh"); // per path
  });

  it("a changed version with nobody reading starts afresh, and is kept from then on", () => {
    const policy = new PageCachePolicy();
    policy.openForRead("/a", "e1").release();
    const second = policy.openForRead("/a", "e2");
    expect(second.mode).toBe("fresh");
    second.release();
    expect(policy.openForRead("/a", "e2").mode).toBe("keep");
  });

  it("while a reader of one version is open, an open of another bypasses the cache and changes nothing", () => {
    const policy = new PageCachePolicy();
    const reader = policy.openForRead("/a", "e1");
    const other = policy.openForRead("/a", "e2");
    expect(other.mode).toBe("bypass");
    expect(policy.openForRead("/a", "e2").mode).toBe("bypass");
    // Readers of the open version still share its pages.
    const same = policy.openForRead("/a", "e1");
    expect(same.mode).toBe("keep");
    other.release();
    same.release();
    expect(policy.openForRead("/a", "e2").mode).toBe("bypass"); // the first reader is still open
    reader.release();
    reader.release(); // released once only
    const after = policy.openForRead("/a", "e2");
    expect(after.mode).toBe("fresh"); // the cache may hold e1's pages: drop them
    after.release();
    expect(policy.openForRead("/a", "e2").mode).toBe("keep");
  });

  it("a version without an ETag is never kept", () => {
    const policy = new PageCachePolicy();
    policy.openForRead("/a", "").release();
    expect(policy.openForRead("/a", "").mode).toBe("fresh");
  });

  it("a write open, truncate or create makes the next read open start afresh", () => {
    const policy = new PageCachePolicy();
    policy.openForRead("/a", "e1").release();
    expect(policy.openForWrite("/a")).toBe("fresh");
    expect(policy.openForRead("/a", "e1").mode).toBe("fresh");
  });

  it("a removed path forgets its readers: the next file there is a new inode", () => {
    const policy = new PageCachePolicy();
    policy.openForRead("/d/a", "e1");
    policy.removed("/d");
    expect(policy.openForRead("/d/a", "e2").mode).toBe("fresh");
  });

  it("a rename moves readers with the file and drops what the target held; the moved pages are not trusted", () => {
    const policy = new PageCachePolicy();
    const reader = policy.openForRead("/d/a", "e1");
    policy.openForRead("/e/a", "e9").release();
    policy.renamed("/d", "/e");
    expect(policy.openForRead("/e/a", "e2").mode).toBe("bypass"); // the moved reader still reads e1
    reader.release();
    expect(policy.openForRead("/e/a", "e1").mode).toBe("fresh");
    expect(policy.openForRead("/d/a", "e1").mode).toBe("fresh");
  });
});
