/** The one part-size rule and the one multipart loop (src/store/multipart.ts) and their users. */
import { describe, expect, it } from "vitest";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { partSizeFor, runParts, type PartJob } from "../../src/store/multipart.js";
import { COPY_PART_TARGET, copyObject } from "../../src/store/object-copy.js";

const MiB = 1024 * 1024;
const TiB = 1024 * 1024 * MiB;
const s3 = { minPartSize: 5 * MiB, maxParts: 10_000 };

describe("partSizeFor", () => {
  it("fits a 5 TiB copy in at most 10,000 parts, in whole MiB", () => {
    const size = 5 * TiB;
    const part = partSizeFor(size, COPY_PART_TARGET, s3);
    expect(part).toBe(525 * MiB);
    expect(Math.ceil(size / part)).toBe(9987);
  });

  it("fits a 5 TiB upload with 8 MiB preferred parts in at most 10,000 parts", () => {
    const part = partSizeFor(5 * TiB, 8 * MiB, s3);
    expect(part).toBe(525 * MiB);
    expect(Math.ceil((5 * TiB) / part)).toBeLessThanOrEqual(10_000);
  });

  it("keeps the preferred size while the parts fit, raised to the store's minimum", () => {
    expect(partSizeFor(1024 * MiB, 8 * MiB, s3)).toBe(8 * MiB);
    expect(partSizeFor(10_000 * 8 * MiB, 8 * MiB, s3)).toBe(8 * MiB);
    expect(partSizeFor(10_000 * 8 * MiB + 1, 8 * MiB, s3)).toBe(9 * MiB);
    expect(partSizeFor(100 * MiB, 1 * MiB, s3)).toBe(5 * MiB);
    expect(partSizeFor(0, 8 * MiB, s3)).toBe(8 * MiB);
  });
});

describe("runParts", () => {
  const body = (n: number): Buffer => Buffer.alloc(5 * MiB, n);
  const jobs = (n: number): PartJob[] =>
    Array.from({ length: n }, (_, i) => (session, partNumber) => session.uploadPart(partNumber, body(i)));

  it("completes the parts in order whatever order they finish in", async () => {
    const store = new MemoryStore();
    const { etag } = await runParts(store, { key: "k" }, jobs(4), { concurrency: 3 });
    expect(etag).not.toBe("");
    expect((await store.get({ key: "k" })).equals(Buffer.concat([0, 1, 2, 3].map(body)))).toBe(true);
  });

  it("aborts the upload when a part fails, and when the check before completing fails", async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    store.failNext(["uploadPart"], "Unreachable", 1);
    await expect(runParts(store, { key: "k" }, jobs(3), { concurrency: 2 })).rejects.toMatchObject({
      kind: "Unreachable",
    });
    expect(inner.calls.get("abortMultipart")).toBe(1);
    await expect(
      runParts(store, { key: "k" }, jobs(1), {
        concurrency: 2,
        beforeComplete: () => Promise.reject(new Error("changed")),
      }),
    ).rejects.toThrow("changed");
    expect(inner.calls.get("abortMultipart")).toBe(2);
    expect(inner.calls.get("completeMultipart")).toBeUndefined();
  });
});

describe("copyObject", () => {
  it("copies above the single-copy limit with part copies through the same loop", async () => {
    const store = new MemoryStore();
    await store.put({ key: "src", body: Buffer.from("twenty bytes of data"), metadata: { mode: "33188" } });
    store.capabilities.maxCopySize = 10;
    await copyObject(store, { sourceKey: "src", key: "dst", size: 20 });
    expect((await store.get({ key: "dst" })).toString()).toBe("twenty bytes of data");
    expect((await store.head({ key: "dst" })).metadata).toEqual({ mode: "33188" });
    expect(store.calls.get("copyPart")).toBe(1);
    expect(store.calls.get("copy")).toBeUndefined();
  });
});
