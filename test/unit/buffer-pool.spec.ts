/**
 * The part buffer pool: any sequence of acquires and releases never hands out a buffer that is
 * still in use, reuses released ones (up to maxIdle), and refuses double or foreign releases.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BufferPool } from "../../src/write/buffer-pool.js";

describe("BufferPool", () => {
  it("never hands out a buffer twice while it is in use, and keeps at most maxIdle idle", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("acquire" as const), size: fc.constantFrom(16, 32, 64) }),
      fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.array(op, { maxLength: 80 }), (maxIdle, ops) => {
        let allocated = 0;
        const pool = new BufferPool(maxIdle, (size) => {
          allocated++;
          return Buffer.alloc(size);
        });
        const held: { buffer: Buffer; mark: number }[] = [];
        const idle: Buffer[] = []; // the model: what the pool may hand out again
        let marks = 0;
        for (const o of ops) {
          if (o.kind === "acquire") {
            const before = allocated;
            const buffer = pool.acquire(o.size);
            expect(buffer.length).toBe(o.size);
            expect(held.some((h) => h.buffer === buffer)).toBe(false);
            const reusable = idle.findIndex((b) => b === buffer);
            if (idle.some((b) => b.length === o.size)) {
              expect(reusable).toBeGreaterThanOrEqual(0); // an idle buffer of that size is reused
              expect(allocated).toBe(before);
              idle.splice(reusable, 1);
            } else {
              expect(allocated).toBe(before + 1);
            }
            // The holder writes its own mark; no other holder may change it.
            const mark = ++marks & 0xff;
            buffer.fill(mark);
            held.push({ buffer, mark });
          } else if (held.length > 0) {
            const [{ buffer }] = held.splice(o.pick % held.length, 1);
            if (o.kind === "release") {
              pool.release(buffer);
              if (idle.length < maxIdle) idle.push(buffer);
            }
            // "drop": the holder forgets it without releasing; the pool never hands it out again.
          }
          expect(pool.idleBuffers).toBe(idle.length);
          for (const h of held) expect(h.buffer.every((x) => x === h.mark)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("reuses a released buffer of the same size and allocates for another size", () => {
    const pool = new BufferPool(2);
    const a = pool.acquire(4096);
    pool.release(a);
    expect(pool.acquire(4096)).toBe(a);
    expect(pool.acquire(4096)).not.toBe(a);
    expect(pool.acquire(8192).length).toBe(8192);
  });

  it("refuses to take back a buffer twice or one it did not hand out", () => {
    const pool = new BufferPool(4);
    const a = pool.acquire(16);
    pool.release(a);
    expect(() => pool.release(a)).toThrow(/not in use/);
    expect(() => pool.release(Buffer.alloc(16))).toThrow(/not in use/);
    expect(pool.idleBuffers).toBe(1);
  });
});
