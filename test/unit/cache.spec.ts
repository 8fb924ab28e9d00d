/**
 * The chunk cache (src/cache) and its reader (src/read/cached-reader.ts): LRU order, the hard cap
 * under concurrent fills, restart reuse, a lost index, corrupt files, ETag invalidation, single
 * flight, and a model property (random put/get sequences against a Map).
 */
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { CacheBusyError, ChunkCache, chargedSize, chunkId, indexAllowance } from "../../src/cache/chunk-cache.js";
import type { ChunkIdentity } from "../../src/cache/chunk-format.js";
import { CachingReader } from "../../src/read/cached-reader.js";
import type { ObjectVersion, RangeReader } from "../../src/read/range-reader.js";
import { VersionPins } from "../../src/read/version-pins.js";
import { ramp } from "../helpers/ramp.js";
import { testTempDir } from "../helpers/temp-dirs.js";

const caches: ChunkCache[] = [];
function tempCacheDir(): string {
  return testTempDir("bucketfs-cache-");
}
function openCache(dir: string, capacityBytes: number): ChunkCache {
  const cache = ChunkCache.open(dir, { capacityBytes });
  caches.push(cache);
  return cache;
}
afterEach(() => {
  for (const cache of caches.splice(0)) cache.close();
});

const id = (index: number, key = "k", etag = "e1"): ChunkIdentity => ({ source: "s3://b", key, etag, index });
/** Capacity that holds exactly `n` chunks of `size` bytes (plus the index allowance). */
function capacityFor(n: number, size: number): number {
  const per = chargedSize(size + 200);
  let cap = n * per;
  while (cap - indexAllowance(cap) < n * per) cap += 4096;
  return cap;
}
function diskBytes(dir: string): number {
  let total = 0;
  for (const sub of ["chunks", "tmp"]) {
    const walk = (d: string): void => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        // A file may be renamed or evicted between readdir and stat: it no longer counts.
        const st = statSync(p, { throwIfNoEntry: false });
        if (!st) continue;
        if (st.isDirectory()) walk(p);
        else total += chargedSize(st.size);
      }
    };
    walk(join(dir, sub));
  }
  return total;
}

class CountingReader implements RangeReader {
  requests: [number, number][] = [];
  constructor(
    public data: Buffer,
    private readonly delayMs = 0,
  ) {}
  async read(_v: ObjectVersion, offset: number, length: number): Promise<Buffer> {
    this.requests.push([offset, length]);
    // Part of the scenario: a slow store, so concurrent readers really overlap (not a wait).
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return Buffer.from(this.data.subarray(offset, offset + length));
  }
}

describe("chunk cache", () => {
  it("evicts the least recently used chunk, where a hit counts as use", async () => {
    const cache = openCache(tempCacheDir(), capacityFor(3, 1000));
    for (const i of [0, 1, 2]) expect(await cache.put(id(i), i * 1000, ramp(1000, i))).toBe(true);
    expect(await cache.get(id(0))).toEqual(ramp(1000, 0)); // 0 is now the most recent
    await cache.put(id(3), 3000, ramp(1000, 3));
    expect(cache.has(id(1))).toBe(false);
    expect([0, 2, 3].every((i) => cache.has(id(i)))).toBe(true);
    expect(cache.stats().evictions).toBe(1);
  });

  it("never holds more than the cap on disk, even with many concurrent fills", async () => {
    const dir = tempCacheDir();
    const cap = capacityFor(8, 64 * 1024);
    const cache = openCache(dir, cap);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, diskBytes(dir))), 1);
    await Promise.all(Array.from({ length: 64 }, (_, i) => cache.put(id(i), i * 65536, ramp(64 * 1024, i))));
    clearInterval(sampler);
    peak = Math.max(peak, diskBytes(dir));
    expect(peak).toBeLessThanOrEqual(cap);
    expect(cache.stats().usedBytes).toBeLessThanOrEqual(cap);
    expect(cache.stats().chunks).toBe(8);
  });

  it("reuses chunks after a restart, in the same LRU order", async () => {
    const dir = tempCacheDir();
    const first = ChunkCache.open(dir, { capacityBytes: capacityFor(3, 1000) });
    for (const i of [0, 1, 2]) await first.put(id(i), 0, ramp(1000, i));
    await first.get(id(0));
    expect(() => ChunkCache.open(dir, { capacityBytes: 1 << 20 })).toThrow(CacheBusyError);
    first.close();
    const second = openCache(dir, capacityFor(3, 1000));
    expect(second.stats().chunks).toBe(3);
    expect(await second.get(id(2))).toEqual(ramp(1000, 2));
    await second.put(id(3), 0, ramp(1000, 3));
    expect(second.has(id(1))).toBe(false); // 1 was least recently used before the restart
  });

  it("rebuilds from the chunk files when the index is deleted or corrupt", async () => {
    const dir = tempCacheDir();
    const first = ChunkCache.open(dir, { capacityBytes: 1 << 20 });
    for (const i of [0, 1]) await first.put(id(i), 0, ramp(1000, i));
    first.close();
    rmSync(join(dir, "index.sqlite"));
    const second = ChunkCache.open(dir, { capacityBytes: 1 << 20 });
    expect(second.stats().chunks).toBe(2);
    expect(await second.get(id(1))).toEqual(ramp(1000, 1));
    second.close();
    for (const suffix of ["-wal", "-shm"]) rmSync(join(dir, `index.sqlite${suffix}`), { force: true });
    writeFileSync(join(dir, "index.sqlite"), "this is not a database, just garbage bytes ".repeat(200));
    const third = openCache(dir, 1 << 20);
    expect(third.stats().chunks).toBe(2);
  });

  it("never serves a corrupt chunk: it is dropped and reported as a miss", async () => {
    const dir = tempCacheDir();
    const cache = openCache(dir, 1 << 20);
    await cache.put(id(0), 0, ramp(1000));
    const key = chunkId(id(0));
    const file = join(dir, "chunks", key.slice(0, 2), key);
    const bytes = readFileSync(file);
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(file, bytes);
    expect(await cache.get(id(0))).toBeUndefined();
    expect(cache.has(id(0))).toBe(false);
    expect(cache.stats().corrupt).toBe(1);
  });

  it("verify drops bad chunks and keeps good ones", async () => {
    const dir = tempCacheDir();
    const cache = openCache(dir, 1 << 20);
    for (const i of [0, 1, 2]) await cache.put(id(i), 0, ramp(1000, i));
    const key = chunkId(id(1));
    writeFileSync(join(dir, "chunks", key.slice(0, 2), key), "truncated");
    const result = await cache.verifyAll();
    expect(result.checked).toBe(3);
    expect(result.bad).toHaveLength(1);
    expect(cache.stats().chunks).toBe(2);
  });
});

describe("caching reader", () => {
  const CHUNK = 4096;
  const version = (etag = "e1", size = 100_000): ObjectVersion => ({ key: "obj", etag, size });

  it("fetches a run of missing chunks with one GET, then serves from the cache", async () => {
    const data = ramp(100_000);
    const next = new CountingReader(data);
    const reader = new CachingReader(openCache(tempCacheDir(), 1 << 20), next, { source: "s3://b", chunkSize: CHUNK });
    expect(await reader.read(version(), 5000, 10_000)).toEqual(data.subarray(5000, 15_000));
    expect(next.requests).toEqual([[4096, 12_288]]);
    await reader.writesSettled();
    expect(await reader.read(version(), 6000, 9000)).toEqual(data.subarray(6000, 15_000));
    expect(next.requests).toHaveLength(1);
  });

  it("two readers missing the same chunk cause one GET (single flight)", async () => {
    const data = ramp(100_000);
    const next = new CountingReader(data, 20);
    const reader = new CachingReader(openCache(tempCacheDir(), 1 << 20), next, { source: "s3://b", chunkSize: CHUNK });
    const [a, b] = await Promise.all([reader.read(version(), 0, 8192), reader.read(version(), 4096, 4096)]);
    expect(a).toEqual(data.subarray(0, 8192));
    expect(b).toEqual(data.subarray(4096, 8192));
    expect(next.requests).toEqual([[0, 8192]]);
  });

  it("a corrupt cached chunk is refetched, never served", async () => {
    const dir = tempCacheDir();
    const data = ramp(100_000);
    const next = new CountingReader(data);
    const reader = new CachingReader(openCache(dir, 1 << 20), next, { source: "s3://b", chunkSize: CHUNK });
    await reader.read(version(), 0, CHUNK);
    await reader.writesSettled();
    const key = chunkId({ source: "s3://b", key: "obj", etag: "e1", index: 0 });
    const file = join(dir, "chunks", key.slice(0, 2), key);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(file, bytes);
    expect(await reader.read(version(), 0, CHUNK)).toEqual(data.subarray(0, CHUNK));
    expect(next.requests).toEqual([
      [0, CHUNK],
      [0, CHUNK],
    ]);
  });

  it("a new ETag misses the old chunks and drops them", async () => {
    const cache = openCache(tempCacheDir(), 1 << 20);
    const next = new CountingReader(ramp(100_000));
    const reader = new CachingReader(cache, next, { source: "s3://b", chunkSize: CHUNK });
    await reader.read(version("e1"), 0, 3 * CHUNK);
    await reader.writesSettled();
    expect(cache.stats().chunks).toBe(3);
    next.data = ramp(100_000, 9);
    expect(await reader.read(version("e2"), 0, CHUNK)).toEqual(ramp(100_000, 9).subarray(0, CHUNK));
    await reader.writesSettled();
    expect(cache.has({ source: "s3://b", key: "obj", etag: "e1", index: 1 })).toBe(false);
    expect(cache.stats().chunks).toBe(1);
  });

  it("a version still open keeps its chunks when a new ETag is fetched; once closed, the next new version drops it", async () => {
    const cache = openCache(tempCacheDir(), 1 << 20);
    const next = new CountingReader(ramp(100_000));
    const pins = new VersionPins();
    const reader = new CachingReader(cache, next, { source: "s3://b", chunkSize: CHUNK, pins });
    const unpin = pins.pin("obj", "e1");
    await reader.read(version("e1"), 0, 3 * CHUNK);
    await reader.writesSettled();
    next.data = ramp(100_000, 9);
    await reader.read(version("e2"), 0, CHUNK);
    await reader.writesSettled();
    // The reader of e1 goes on reading e1 from the cache (the store has only e2 now).
    expect(await reader.read(version("e1"), CHUNK, 2 * CHUNK)).toEqual(ramp(100_000).subarray(CHUNK, 3 * CHUNK));
    expect(next.requests).toEqual([
      [0, 3 * CHUNK],
      [0, CHUNK],
    ]);
    unpin();
    unpin(); // a second call changes nothing
    expect(pins.pinned("obj").size).toBe(0);
    await reader.read(version("e3"), 0, CHUNK);
    await reader.writesSettled();
    expect(cache.has({ source: "s3://b", key: "obj", etag: "e1", index: 1 })).toBe(false);
    expect(cache.has({ source: "s3://b", key: "obj", etag: "e2", index: 0 })).toBe(false);
    expect(cache.stats().chunks).toBe(1);
  });

  it("returns the exact bytes for any reads, with the cap far below the object (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(120_000), fc.integer({ min: 1, max: 30_000 })), { minLength: 1, maxLength: 30 }),
        async (reads) => {
          const dir = tempCacheDir();
          const cache = ChunkCache.open(dir, { capacityBytes: capacityFor(5, CHUNK) });
          const data = ramp(100_000, 3);
          const reader = new CachingReader(cache, new CountingReader(data), { source: "s3://b", chunkSize: CHUNK });
          try {
            const results = await Promise.all(
              reads.map(([offset, length]) => reader.read(version("e1"), offset, length)),
            );
            results.forEach((got, i) => {
              const [offset, length] = reads[i];
              // Buffer.equals, not toEqual: deep equality of large buffers dominates the run time.
              expect(got.equals(data.subarray(Math.min(offset, 100_000), Math.min(offset + length, 100_000)))).toBe(
                true,
              );
            });
            expect(cache.stats().usedBytes).toBeLessThanOrEqual(cache.capacityBytes);
          } finally {
            await reader.writesSettled();
            cache.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("chunk cache model", () => {
  it("behaves like a bounded LRU map (random put/get sequences)", async () => {
    const capacity = 4;
    const op = fc.oneof(
      fc.record({ kind: fc.constant("put" as const), index: fc.nat(9), seed: fc.nat(255) }),
      fc.record({ kind: fc.constant("get" as const), index: fc.nat(9) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const dir = tempCacheDir();
        const cache = ChunkCache.open(dir, { capacityBytes: capacityFor(capacity, 500) });
        const model = new Map<number, Buffer>(); // insertion order = LRU order
        try {
          for (const o of ops) {
            if (o.kind === "put") {
              const data = ramp(500, o.seed);
              await cache.put(id(o.index), 0, data);
              if (!model.has(o.index)) {
                if (model.size === capacity) model.delete(model.keys().next().value!);
                model.set(o.index, data);
              }
            } else {
              const got = await cache.get(id(o.index));
              const expected = model.get(o.index);
              expect(got).toEqual(expected);
              if (expected) {
                model.delete(o.index);
                model.set(o.index, expected);
              }
            }
          }
        } finally {
          cache.close();
        }
      }),
      { numRuns: 80 },
    );
  });
});
