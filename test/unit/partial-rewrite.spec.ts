/**
 * Partial rewrites of large objects (issue 4): sparse staging, server-side copies of unchanged
 * parts, and the pure pieces behind them (RangeSet, planParts) checked against simple models.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MeteredStore } from "../../src/store/metered-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { createFilesystem, FsError, type Filesystem } from "../../src/vfs/index.js";
import { planParts, uploadedBytes } from "../../src/write/part-plan.js";
import { RangeSet } from "../../src/write/range-set.js";
import { UploadJournal } from "../../src/write/journal.js";
import { ramp } from "../helpers/ramp.js";
import { newDisk, type Disk } from "../helpers/write-disk.js";
import { O_APPEND, O_RDWR, O_WRONLY } from "../helpers/open-flags.js";

const PART = 4096;

interface Traffic {
  sent: number;
  received: number;
  ops: string[];
}

/** A filesystem over a metered memory store: what went over the "network" is counted. */
function setup(
  disk: Disk = newDisk(),
  inner: ObjectStore = new MemoryStore({ minPartSize: PART }),
): { fs: Filesystem; memory: MemoryStore; traffic: Traffic; disk: Disk } {
  const traffic: Traffic = { sent: 0, received: 0, ops: [] };
  const memory = inner instanceof MemoryStore ? inner : new MemoryStore();
  const store = new MeteredStore(inner, {
    storeRequest: (op, _status, _ms, bytesIn, bytesOut) => {
      traffic.ops.push(op);
      traffic.sent += bytesOut;
      traffic.received += bytesIn;
    },
  });
  const fs = createFilesystem({
    store,
    prefix: "",
    stagingDir: disk.stagingDir,
    journalPath: disk.journalPath,
    log: silentLogger(),
    uid: 1000,
    gid: 1000,
    upload: { partSize: PART, concurrency: 3 },
  });
  return { fs, memory, traffic, disk };
}

const reset = (t: Traffic): void => {
  t.sent = 0;
  t.received = 0;
  t.ops = [];
};

describe("RangeSet", () => {
  const op = fc.tuple(fc.constantFrom("add", "clip"), fc.nat(200), fc.nat(60));
  it("matches a per-byte model under adds and clips (property)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.nat(200), fc.nat(80), (ops, qs, ql) => {
        const set = new RangeSet();
        const model = new Array<boolean>(300).fill(false);
        for (const [kind, a, b] of ops) {
          if (kind === "add") {
            set.add(a, a + b);
            for (let i = a; i < a + b; i++) model[i] = true;
          } else {
            set.clip(a);
            for (let i = a; i < model.length; i++) model[i] = false;
          }
        }
        const ranges = set.list();
        ranges.forEach((r, i) => {
          expect(r.end).toBeGreaterThan(r.start);
          if (i > 0) expect(r.start).toBeGreaterThan(ranges[i - 1]!.end); // disjoint, never adjacent
        });
        expect(set.bytes).toBe(model.filter(Boolean).length);
        const inGaps = new Set(
          set.gaps(qs, qs + ql).flatMap((g) => Array.from({ length: g.end - g.start }, (_, k) => g.start + k)),
        );
        for (let i = qs; i < qs + ql; i++) expect(inGaps.has(i)).toBe(!model[i]);
        expect(set.intersects(qs, qs + ql)).toBe(model.slice(qs, qs + ql).some(Boolean));
      }),
    );
  });

  it("regression: an empty range intersects nothing", () => {
    expect(RangeSet.of([{ start: 0, end: 2 }]).intersects(1, 1)).toBe(false);
  });
});

describe("planParts", () => {
  it("tiles the object, copies only unchanged parts, keeps parts ≥ partSize but the last (property)", () => {
    const input = fc.record({
      size: fc.integer({ min: 0, max: 100_000 }),
      partSize: fc.integer({ min: 100, max: 5000 }),
      maxCopyPart: fc.integer({ min: 0, max: 30_000 }),
      baseValid: fc.nat(100_000),
      changed: fc.array(fc.tuple(fc.nat(100_000), fc.integer({ min: 1, max: 3000 })), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(input, ({ size, partSize, maxCopyPart, baseValid, changed }) => {
        const set = RangeSet.of(changed.map(([start, length]) => ({ start, end: start + length })));
        const copyable = (s: number, e: number): boolean => e <= baseValid && !set.intersects(s, e);
        const parts = planParts({ size, partSize, maxCopyPart, copyable });
        expect(parts[0]!.start).toBe(0);
        expect(parts.at(-1)!.end).toBe(size);
        parts.forEach((p, i) => {
          if (i > 0) expect(p.start).toBe(parts[i - 1]!.end);
          if (i < parts.length - 1) expect(p.end - p.start).toBeGreaterThanOrEqual(partSize);
          if (p.source === "copy") {
            expect(copyable(p.start, p.end)).toBe(true);
            expect(p.end - p.start).toBeLessThanOrEqual(Math.max(partSize, maxCopyPart));
          } else {
            expect(p.end - p.start).toBeLessThanOrEqual(partSize);
          }
        });
        // Data goes through this machine only for parts that hold a change or lie past the base.
        const grid = Math.ceil(size / partSize);
        const needed = Array.from(
          { length: grid },
          (_, i) => !copyable(i * partSize, Math.min(size, (i + 1) * partSize)),
        ).filter(Boolean).length;
        expect(uploadedBytes(parts)).toBeLessThanOrEqual(needed * partSize);
      }),
    );
  });
});

describe("partial rewrites of large objects", () => {
  const big = ramp(PART * 40 + 100, 3);

  async function seeded(): Promise<ReturnType<typeof setup>> {
    const env = setup();
    await env.memory.put({ key: "big", body: big });
    reset(env.traffic);
    return env;
  }

  it("appends by copying the unchanged parts server-side: about the appended bytes are sent", async () => {
    const { fs, memory, traffic } = await seeded();
    const fh = await fs.open("/big", O_WRONLY | O_APPEND);
    const tail = ramp(1000, 9);
    await fs.write(fh, tail, 0);
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "big" })).toEqual(Buffer.concat([big, tail]));
    expect(traffic.sent).toBeLessThanOrEqual(2 * PART);
    expect(traffic.received).toBeLessThanOrEqual(PART); // only the base's partial last part
    expect(traffic.ops).toContain("copyPart");
  });

  it("rewrites a few bytes in the middle by fetching and sending one part only", async () => {
    const { fs, memory, traffic } = await seeded();
    const fh = await fs.open("/big", O_RDWR);
    await fs.write(fh, Buffer.from("XYZ"), PART * 17 + 5);
    expect(traffic.received).toBe(0); // a write fetches nothing
    await fs.flush(fh);
    await fs.release(fh);
    const expected = Buffer.from(big);
    expected.write("XYZ", PART * 17 + 5);
    expect(await memory.get({ key: "big" })).toEqual(expected);
    expect(traffic.sent).toBe(PART);
    expect(traffic.received).toBe(PART - 3);
  });

  it("reads an open sparse file from staging where changed and from the bucket elsewhere", async () => {
    const { fs, traffic } = await seeded();
    const fh = await fs.open("/big", O_RDWR);
    await fs.write(fh, Buffer.from("hello"), 10);
    const head = await fs.read(fh, 0, 32);
    const expected = Buffer.from(big.subarray(0, 32));
    expected.write("hello", 10);
    expect(head).toEqual(expected);
    expect(traffic.received).toBeLessThan(PART);
    expect(await fs.read(fh, PART * 30, 100)).toEqual(big.subarray(PART * 30, PART * 30 + 100));
    await fs.release(fh);
  });

  it("truncate-then-extend shows zeros, not the old bytes, and uploads byte-exact", async () => {
    const { fs, memory } = await seeded();
    const fh = await fs.open("/big", O_RDWR);
    await fs.ftruncate(fh, PART * 10 + 7);
    await fs.write(fh, Buffer.from("end"), PART * 20);
    const expected = Buffer.concat([
      big.subarray(0, PART * 10 + 7),
      Buffer.alloc(PART * 20 - (PART * 10 + 7)),
      Buffer.from("end"),
    ]);
    expect(await fs.read(fh, 0, expected.length + 10)).toEqual(expected);
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "big" })).toEqual(expected);
  });

  it("a second edit after a successful flush copies from the object that flush wrote", async () => {
    const { fs, memory, traffic } = await seeded();
    const fh = await fs.open("/big", O_RDWR);
    await fs.write(fh, Buffer.from("one"), 100);
    await fs.flush(fh);
    reset(traffic);
    await fs.write(fh, Buffer.from("two"), PART * 35);
    await fs.flush(fh);
    await fs.release(fh);
    const expected = Buffer.from(big);
    expected.write("one", 100);
    expected.write("two", PART * 35);
    expect(await memory.get({ key: "big" })).toEqual(expected);
    expect(traffic.sent).toBe(PART);
  });

  it("a crash after a failed upload is finished on the next mount, still copying the unchanged parts", async () => {
    const disk = newDisk();
    const memory = new MemoryStore({ minPartSize: PART });
    await memory.put({ key: "big", body: big });
    const faults = new FaultyStore(memory);
    const first = setup(disk, faults);
    const fh = await first.fs.open("/big", O_RDWR);
    await first.fs.write(fh, Buffer.from("saved"), PART * 3);
    faults.failNext(["uploadPart", "copyPart", "put"]);
    await expect(first.fs.flush(fh)).rejects.toThrow(/upload of \/big failed/);
    faults.heal();
    // The first process dies here; a new one on the same disk finishes the journaled upload.
    await first.fs.abandon();
    const second = setup(disk, faults);
    const { adopted, done } = await second.fs.recoverUploads();
    expect(adopted).toBe(1);
    expect(await done).toEqual({ recovered: 1, failed: 0 });
    const expected = Buffer.from(big);
    expected.write("saved", PART * 3);
    expect(await memory.get({ key: "big" })).toEqual(expected);
    expect(second.traffic.sent).toBe(PART);
  });

  it("a conflict on a sparse file gives EIO, keeps the bucket's version and the changes", async () => {
    const { fs, memory, disk } = await seeded();
    const fh = await fs.open("/big", O_RDWR);
    await fs.write(fh, Buffer.from("mine"), 50);
    await memory.put({ key: "big", body: Buffer.from("someone else's") });
    const err = await fs.flush(fh).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).code).toBe("EIO");
    expect((err as Error).message).toMatch(/changes \(4 bytes\) are kept at/);
    expect((await memory.get({ key: "big" })).toString()).toBe("someone else's");
    const journal = new UploadJournal(disk.journalPath);
    expect(journal.entries().map((e) => e.state)).toEqual(["conflict"]);
    journal.close();
    await fs.release(fh);
    await fs.abandon(); // the kept changes stay on disk, as after the daemon stops
  });
});
