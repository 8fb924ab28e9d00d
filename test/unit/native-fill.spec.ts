/**
 * The native read path's JavaScript half: cache fill slots, the NativeChunkFiller (with a fill
 * function that does in JavaScript what native/src/fetch.c does, so no network is needed), the
 * CachingReader's fill() single flight, and FillAhead's read-ahead policy. The real addon is
 * exercised end to end by test/fuse/native-binding.fuse.spec.ts.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { ChunkCache } from "../../src/cache/chunk-cache.js";
import { verifyChunk } from "../../src/cache/chunk-format.js";
import { CachingReader } from "../../src/read/cached-reader.js";
import { FillAhead } from "../../src/read/fill-ahead.js";
import { NativeChunkFiller, type FillChunkSpec, type NativeFill } from "../../src/read/native-fill.js";
import { DEFAULT_PREFETCHER_CONFIG } from "../../src/read/prefetcher.js";
import type { ObjectVersion, RangeReader } from "../../src/read/range-reader.js";
import { ramp } from "../helpers/ramp.js";
import { testTempDir } from "../helpers/temp-dirs.js";

const CHUNK = 4096;
const SOURCE = "s3://b";
const caches: ChunkCache[] = [];
afterEach(() => {
  for (const cache of caches.splice(0)) cache.close();
});

function openCache(capacityBytes = 1 << 24): ChunkCache {
  const dir = testTempDir("bucketfs-fill-");
  const cache = ChunkCache.open(dir, { capacityBytes });
  caches.push(cache);
  return cache;
}

/** Writes chunk files as the addon does: data after the header, both checksums patched in. */
function fakeFill(object: Buffer, calls: [number, number][], fail = false): NativeFill {
  return (_url, headers, start, end, chunks, _options, callback) => {
    calls.push([start, end]);
    expect(headers).toContain(`Range: bytes=${start}-${end - 1}`);
    queueMicrotask(() => {
      if (fail)
        return callback(
          Object.assign(new Error("error response"), { body: Buffer.from("<Error/>") }),
          new Uint32Array(chunks.length),
          403,
        );
      const crcs = Uint32Array.from(chunks, (c: FillChunkSpec) => writeChunk(object, c));
      callback(null, crcs, 206);
    });
  };
}

function writeChunk(object: Buffer, c: FillChunkSpec): number {
  const data = object.subarray(c.offset, c.offset + c.length);
  const crc = crc32(data) >>> 0;
  const header = Buffer.from(c.header);
  header.writeUInt32LE(crc, 32);
  header.writeUInt32LE(crc32(header.subarray(0, header.length - 4)) >>> 0, header.length - 4);
  writeFileSync(c.tmp, Buffer.concat([header, data]));
  renameSync(c.tmp, c.path);
  return crc;
}

const signer = async ({ range }: { range: { start: number; end: number } }) => ({
  url: "http://x/b/k",
  headers: [`Range: bytes=${range.start}-${range.end - 1}`],
});

class NoNetwork implements RangeReader {
  reads = 0;
  constructor(private readonly object: Buffer) {}
  async read(_v: ObjectVersion, offset: number, length: number): Promise<Buffer> {
    this.reads++;
    return this.object.subarray(offset, offset + length);
  }
}

function setup(object: Buffer, options: { fail?: boolean; capacity?: number } = {}) {
  const cache = openCache(options.capacity);
  const calls: [number, number][] = [];
  const filler = new NativeChunkFiller(cache, SOURCE, {
    fill: fakeFill(object, calls, options.fail),
    sign: signer,
    timeoutSeconds: 5,
  });
  const direct = new NoNetwork(object);
  const reader = new CachingReader(cache, direct, { source: SOURCE, chunkSize: CHUNK, filler });
  const version: ObjectVersion = { key: "k", etag: '"e1"', size: object.length };
  return { cache, calls, filler, reader, version, direct };
}

describe("native cache fill", () => {
  it("fills missing chunks with one transfer per run, and they read back verified", async () => {
    const object = ramp(10 * CHUNK + 100);
    const { cache, calls, reader, version, direct } = setup(object);
    await reader.fill(version, 0, 3 * CHUNK);
    expect(calls).toEqual([[0, 3 * CHUNK]]);
    // The last chunk is short: the transfer ends at the object's end.
    await reader.fill(version, 9 * CHUNK, 5 * CHUNK);
    expect(calls).toEqual([
      [0, 3 * CHUNK],
      [9 * CHUNK, 10 * CHUNK + 100],
    ]);
    const local = cache.localChunks({ source: SOURCE, key: "k", etag: '"e1"' }, object.length, CHUNK);
    expect([...local!.indexes]).toEqual([0, 1, 2, 9, 10]);
    expect([...local!.verified]).toEqual([1, 1, 1, 1, 1]);
    const file = readFileSync(`${local!.base}10`);
    expect(verifyChunk(file, { source: SOURCE, key: "k", etag: '"e1"', index: 10 })).toEqual(
      object.subarray(10 * CHUNK),
    );
    expect(await reader.read(version, 2 * CHUNK - 10, 20)).toEqual(object.subarray(2 * CHUNK - 10, 2 * CHUNK + 10));
    expect(direct.reads).toBe(0);
  });

  it("concurrent fills of overlapping ranges share transfers (single flight)", async () => {
    const object = ramp(8 * CHUNK);
    const { calls, reader, version } = setup(object);
    await Promise.all([
      reader.fill(version, 0, 4 * CHUNK),
      reader.fill(version, CHUNK, 2 * CHUNK),
      reader.fill(version, 2 * CHUNK, 4 * CHUNK),
    ]);
    // Transfers start in whichever order their reservations finish; each chunk is fetched once.
    expect([...calls].sort((a, b) => a[0] - b[0])).toEqual([
      [0, 4 * CHUNK],
      [4 * CHUNK, 6 * CHUNK],
    ]);
  });

  it("a failed transfer rejects, returns its reservations and leaves the chunks to JavaScript", async () => {
    const object = ramp(4 * CHUNK);
    const { cache, reader, version, direct, filler } = setup(object, { fail: true });
    await expect(reader.fill(version, 0, 2 * CHUNK)).rejects.toThrow("error response");
    expect(cache.stats().usedBytes).toBe(0);
    expect(filler.counts).toEqual({ transfers: 0, failures: 1, bytes: 0 });
    expect(await reader.read(version, 0, 2 * CHUNK)).toEqual(object.subarray(0, 2 * CHUNK));
    expect(direct.reads).toBe(1);
  });

  it("an ETag with a line break is refused by the S3 signer before any request", async () => {
    const { s3RangeSigner } = await import("../../src/store/s3/s3-range-signer.js");
    const { S3Client } = await import("@aws-sdk/client-s3");
    const sign = s3RangeSigner(
      new S3Client({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }),
      "bucket1",
    );
    await expect(sign({ key: "k", range: { start: 0, end: 10 }, ifMatch: '"e"\r\nX-Evil: 1' })).rejects.toThrow(
      "control characters",
    );
    const signed = await sign({ key: "dir/a b+c", range: { start: 5, end: 10 }, ifMatch: '"e1"' });
    expect(signed.headers).toEqual(["Range: bytes=5-9", 'If-Match: "e1"']);
    expect(signed.url).toMatch(/^https:\/\/bucket1\.s3\.us-east-1\.amazonaws\.com\/dir\/a%20b%2Bc\?.*X-Amz-Signature=/);
  });
});

describe("FillAhead", () => {
  const config = {
    ...DEFAULT_PREFETCHER_CONFIG,
    initialWindow: 2 * CHUNK,
    maxWindow: 8 * CHUNK,
    blockSize: 4 * CHUNK,
    seekTolerance: CHUNK,
    minRunBeforeReadAhead: 2 * CHUNK,
    firstRequestSize: CHUNK,
  };
  const version: ObjectVersion = { key: "k", etag: "e", size: 100 * CHUNK };

  function recorder() {
    const fills: [number, number][] = [];
    const fill = async (_v: ObjectVersion, offset: number, length: number): Promise<void> => {
      fills.push([offset, offset + length]);
    };
    return { fills, fill };
  }

  it("a sequential reader is filled ahead in aligned blocks, the window doubling to its maximum", async () => {
    const { fills, fill } = recorder();
    const ahead = new FillAhead(version, fill, config);
    for (let offset = 0; offset < 12 * CHUNK; offset += CHUNK) await ahead.ensure(offset, CHUNK);
    const readAhead = fills.filter(([s, e]) => e - s !== CHUNK);
    // Blocks never cross a blockSize boundary, and read-ahead never exceeds the read plus the maximum window.
    for (const [s, e] of readAhead) expect(Math.floor(s / (4 * CHUNK))).toBe(Math.floor((e - 1) / (4 * CHUNK)));
    expect(Math.max(...readAhead.map(([, e]) => e))).toBe(12 * CHUNK + 8 * CHUNK);
    expect(readAhead[0]).toEqual([0, 4 * CHUNK]);
  });

  it("a random read fills its own range (at least firstRequestSize) and starts no read-ahead", async () => {
    const { fills, fill } = recorder();
    const ahead = new FillAhead(version, fill, config);
    await ahead.ensure(50 * CHUNK, 100);
    await ahead.ensure(20 * CHUNK, 100);
    expect(fills).toEqual([
      [50 * CHUNK, 51 * CHUNK],
      [20 * CHUNK, 21 * CHUNK],
    ]);
  });
});
