/** Property: whatever the read pattern, the prefetcher returns exactly the object's bytes. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Prefetcher } from "../../src/read/prefetcher.js";
import type { ObjectVersion, RangeReader } from "../../src/read/range-reader.js";
import { ramp } from "../helpers/ramp.js";

class RampReader implements RangeReader {
  requests: [number, number][] = [];
  constructor(private readonly data: Buffer) {}
  async read(_v: ObjectVersion, offset: number, length: number): Promise<Buffer> {
    this.requests.push([offset, length]);
    return Buffer.from(this.data.subarray(offset, offset + length));
  }
}

const SIZE = 300_000;
const config = { initialWindow: 4096, maxWindow: 65_536, blockSize: 16_384 };

describe("prefetcher", () => {
  it("returns the exact bytes for any sequence of reads", async () => {
    const data = ramp(SIZE);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(SIZE + 1000), fc.integer({ min: 1, max: 70_000 }), fc.boolean()), { maxLength: 40 }),
        async (reads) => {
          const prefetcher = new Prefetcher({ key: "k", etag: "e", size: SIZE }, new RampReader(data), config);
          let position = 0;
          for (const [offset, length, sequential] of reads) {
            const at = sequential ? position : offset;
            const got = await prefetcher.read(at, length);
            // Buffer.equals: vitest's deep equality on 70 KB buffers made this property take ~80 s.
            expect(got.equals(data.subarray(Math.min(at, SIZE), Math.min(at + length, SIZE)))).toBe(true);
            position = at + got.length;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reads sequentially with growing windows, and random reads ask only for what is needed", async () => {
    const reader = new RampReader(ramp(SIZE));
    const prefetcher = new Prefetcher({ key: "k", etag: "e", size: SIZE }, reader, config);
    for (let at = 0; at < SIZE; at += 4096) await prefetcher.read(at, 4096);
    const sizes = reader.requests.map(([, length]) => length);
    expect(Math.max(...sizes)).toBe(config.blockSize);
    expect(reader.requests.reduce((sum, [, l]) => sum + l, 0)).toBe(SIZE); // every byte fetched once
    reader.requests = [];
    await prefetcher.read(1000, 100);
    expect(reader.requests).toEqual([[1000, 100]]);
  });

  it("a failed block fails only the read that needs it, and the next read retries", async () => {
    const data = ramp(SIZE);
    let fail = true;
    const flaky: RangeReader = {
      read: async (_v, offset, length) => {
        if (fail && offset > 0) throw new Error("network");
        return Buffer.from(data.subarray(offset, offset + length));
      },
    };
    const prefetcher = new Prefetcher({ key: "k", etag: "e", size: SIZE }, flaky, config);
    await prefetcher.read(0, 4096);
    await expect(prefetcher.read(4096, 8192)).rejects.toThrow("network");
    fail = false;
    expect(await prefetcher.read(4096, 8192)).toEqual(data.subarray(4096, 12288));
  });
});
