/**
 * Streaming multipart uploads over MemoryStore: parts leave while the file is written, a seek
 * or truncate falls back to the staging file, writers wait while the parts in flight are at the
 * limit, and a random mix of appends and edits always ends byte-exact with no orphaned parts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import type { ObjectStore, UploadPartRequest } from "../../src/store/object-store.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { ramp } from "../helpers/ramp.js";
import { mountOn, newDisk } from "../helpers/write-disk.js";

const PART = 1024;

/** Turns of the event loop (timers included) until `ready()`; a minute of none is a hang. */
async function turnsUntil(ready: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error("turnsUntil: the condition never became true");
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe("streaming multipart upload", () => {
  it("uploads full parts while a file is written front to back; close sends only the tail", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const fs = mountOn(memory, newDisk(), { partSize: PART });
    const fh = await fs.create("/seq", 0o644);
    const data = ramp(PART * 10 + 100);
    for (let offset = 0; offset < data.length; offset += 300) await fs.write(fh, data.subarray(offset, offset + 300), offset);
    await new Promise((r) => setTimeout(r, 20));
    expect(memory.calls.get("uploadPart")).toBe(10);
    await fs.flush(fh);
    await fs.release(fh);
    expect(memory.calls.get("uploadPart")).toBe(11);
    expect(memory.calls.get("put") ?? 0).toBe(0);
    expect(await memory.get({ key: "seq" })).toEqual(data);
  });

  it("falls back to the staging file after a seek backwards, aborting the stream", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const fs = mountOn(memory, newDisk(), { partSize: PART });
    const fh = await fs.create("/edited", 0o644);
    const data = ramp(PART * 5);
    await fs.write(fh, data, 0);
    await fs.write(fh, Buffer.from("HEADER"), 0);
    Buffer.from("HEADER").copy(data, 0);
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "edited" })).toEqual(data);
    expect(memory.pendingUploadCount()).toBe(0);
  });

  it("makes the writer wait while `concurrency` parts are in flight", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const gates: (() => void)[] = [];
    const slow: ObjectStore = new FaultyStore(memory);
    const uploadPart = slow.uploadPart.bind(slow);
    slow.uploadPart = (req: UploadPartRequest) => new Promise<void>((r) => gates.push(r)).then(() => uploadPart(req));
    const fs = mountOn(slow, newDisk(), { partSize: PART }); // concurrency 3
    const fh = await fs.create("/slow", 0o644);
    let written = 0;
    const writer = (async () => {
      for (let i = 0; i < 6; i++) {
        await fs.write(fh, ramp(PART, i), i * PART);
        written++;
      }
    })();
    // Signals, not sleeps: three parts held at the gate and three writes returned...
    await turnsUntil(() => gates.length === 3 && written === 3);
    // ...and no further progress while every upload slot is held (the 4th part waits for one).
    // A bound that load cannot break: a slow machine only makes progress less likely.
    await new Promise((r) => setTimeout(r, 200));
    expect({ written, held: gates.length }).toEqual({ written: 3, held: 3 });
    gates.shift()!();
    await turnsUntil(() => written === 4); // one slot freed: exactly one more part goes
    expect(gates.length).toBe(3);
    const opener = (): void => void gates.shift()?.();
    while (written < 6) await turnsUntil(() => gates.length > 0).then(opener);
    await writer;
    const flushed = fs.flush(fh);
    let done = false;
    void flushed.then(() => (done = true));
    while (!done) await turnsUntil(() => gates.length > 0 || done).then(opener);
    await flushed;
    expect((await memory.get({ key: "slow" })).length).toBe(6 * PART);
  });

  it("--max-dirty: a writer waits while staged data is over the cap and an upload is draining it", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const gated = new FaultyStore(memory);
    const put = gated.put.bind(gated);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    gated.put = (req) => gate.then(() => put(req));
    const fs = mountOn(gated, newDisk(), { partSize: 100 * PART, maxDirtyBytes: 3 * PART });
    const a = await fs.create("/a", 0o644);
    await fs.write(a, ramp(4 * PART), 0);
    const flushed = fs.flush(a); // uploading, blocked at the gate
    const b = await fs.create("/b", 0o644);
    let wrote = false;
    const write = fs.write(b, ramp(10), 0).then(() => (wrote = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(wrote).toBe(false);
    release();
    await flushed;
    await write;
    expect(wrote).toBe(true);
    // Nothing uploading: over the cap, a write still proceeds rather than waiting forever.
    await fs.write(b, ramp(5 * PART), 10);
  });

  it("any mix of appends, seeks and truncates ends byte-exact with no orphaned parts", async () => {
    const step = fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constant("append" as const), length: fc.integer({ min: 1, max: 2500 }), seed: fc.nat(255) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("seek" as const), at: fc.nat(8000), seed: fc.nat(255) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), size: fc.nat(8000) }) },
    );
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
      const memory = new MemoryStore({ minPartSize: PART });
      const fs = mountOn(memory, newDisk(), { partSize: PART });
      const fh = await fs.create("/f", 0o644);
      let model = Buffer.alloc(0);
      for (const s of steps) {
        if (s.op === "append") {
          const data = ramp(s.length, s.seed);
          await fs.write(fh, data, model.length);
          model = Buffer.concat([model, data]);
        } else if (s.op === "seek") {
          const data = ramp(100, s.seed);
          await fs.write(fh, data, s.at);
          const next = Buffer.alloc(Math.max(model.length, s.at + 100));
          model.copy(next);
          data.copy(next, s.at);
          model = next;
        } else {
          await fs.ftruncate(fh, s.size);
          const next = Buffer.alloc(s.size);
          model.copy(next, 0, 0, Math.min(s.size, model.length));
          model = next;
        }
      }
      await fs.flush(fh);
      await fs.release(fh);
      expect(await memory.get({ key: "f" })).toEqual(model);
      expect(memory.pendingUploadCount()).toBe(0);
    }), { numRuns: 60 });
  });
});
