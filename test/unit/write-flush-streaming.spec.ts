/**
 * Flushes of a file being written front to back (over MemoryStore): a flush before the first
 * whole part (`dd` closes a duplicate of its descriptor right after opening the file) uploads
 * what is there and the file keeps streaming; a flush or read while a part is being committed
 * sees every byte; a random mix of appends, flushes and reads is byte-exact at every flush.
 */
import fc from "fast-check";
import { open } from "node:fs/promises";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { DirtyFile } from "../../src/write/dirty-file.js";
import type { StagingHandle, StagingOpener } from "../../src/write/staging.js";
import { until } from "../helpers/eventually.js";
import { ramp } from "../helpers/ramp.js";
import { mountOn, newDisk } from "../helpers/write-disk.js";

const PART = 4096;

/** Staging files whose writes are counted and can be held at a gate. */
function watchedStaging(): {
  opener: StagingOpener;
  bytesWritten: () => number;
  held: () => number;
  hold: () => () => void;
} {
  let written = 0;
  let held = 0;
  let gate: Promise<void> = Promise.resolve();
  const opener: StagingOpener = async (path, how) => {
    const handle = await open(path, how === "create" ? "w+" : "r+", 0o600);
    const watched: StagingHandle = {
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: async (buffer, offset, length, position) => {
        held += 1;
        await gate;
        held -= 1;
        written += length;
        return handle.write(buffer, offset, length, position);
      },
      truncate: (length) => handle.truncate(length),
      close: () => handle.close(),
      datasync: () => handle.datasync(),
    };
    return watched;
  };
  const hold = (): (() => void) => {
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    return release;
  };
  return { opener, bytesWritten: () => written, held: () => held, hold };
}

/**
 * Counts calls of DirtyFile's commitPart (a whole part handed on; it runs synchronously up to
 * where it waits for the previous part's staging write) and takeStream (a flush taking the
 * stream): the signals that a write or a flush has reached the point the race test needs.
 */
function watchedParts(): { committed: () => number; taken: () => number } {
  const prototype = DirtyFile.prototype as unknown as Record<"commitPart" | "takeStream", () => unknown>;
  const commit = vi.spyOn(prototype, "commitPart");
  const take = vi.spyOn(prototype, "takeStream");
  onTestFinished(() => {
    commit.mockRestore();
    take.mockRestore();
  });
  return { committed: () => commit.mock.calls.length, taken: () => take.mock.calls.length };
}

describe("flushes while a file is written front to back", () => {
  it("dd's pattern: a flush of the empty file, then the parts stream while the file is written", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const fs = mountOn(memory, newDisk(), { partSize: PART });
    const fh = await fs.create("/dd", 0o644);
    await fs.flush(fh); // dd: dup2 onto stdout, close the original descriptor
    expect((await memory.get({ key: "dd" })).length).toBe(0);
    const data = ramp(PART * 10 + 123);
    for (let offset = 0; offset < data.length; offset += 1000)
      await fs.write(fh, data.subarray(offset, offset + 1000), offset);
    await until("the ten whole parts to stream", () => (memory.calls.get("uploadPart") ?? 0) >= 10);
    expect(memory.calls.get("uploadPart")).toBe(10); // streamed during the writes, not at close
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "dd" })).toEqual(data);
    expect(memory.calls.get("put")).toBe(1); // only the empty file's
    expect(memory.pendingUploadCount()).toBe(0);
  });

  it("each flush inside the first part uploads the file as it is; its bytes are staged once", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const staging = watchedStaging();
    const fs = mountOn(memory, newDisk(), { partSize: PART, stagingOpener: staging.opener });
    const fh = await fs.create("/log", 0o644);
    const data = ramp(PART * 3 + 10);
    let offset = 0;
    for (const length of [300, 700, 1000, 50]) {
      await fs.write(fh, data.subarray(offset, offset + length), offset);
      offset += length;
      await fs.fsync(fh);
      expect(await memory.get({ key: "log" })).toEqual(data.subarray(0, offset));
    }
    await fs.write(fh, data.subarray(offset), offset);
    await until("the three whole parts to stream", () => (memory.calls.get("uploadPart") ?? 0) >= 3);
    expect(memory.calls.get("uploadPart")).toBe(3); // still streaming after the fsyncs
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "log" })).toEqual(data);
    expect(staging.bytesWritten()).toBe(data.length);
  });

  it("a flush while a whole part waits for the staging disk uploads every byte of a write that crosses into the next part", async () => {
    const memory = new MemoryStore({ minPartSize: PART });
    const staging = watchedStaging();
    const fs = mountOn(memory, newDisk(), { partSize: PART, stagingOpener: staging.opener });
    const fh = await fs.create("/race", 0o644);
    const data = ramp(PART * 2 + PART / 2);
    const parts = watchedParts();
    const release1 = staging.hold(); // part 1's staging write waits here
    await fs.write(fh, data.subarray(0, PART), 0);
    await until(
      "part 1 to be committed and held at the staging gate",
      () => parts.committed() === 1 && staging.held() === 1,
    );
    // Fills part 2 (which waits for part 1's staging) and goes on into part 3.
    const crossing = fs.write(fh, data.subarray(PART), PART);
    await until("the crossing write to park on part 1's staging", () => parts.committed() === 2);
    const flushed = fs.flush(fh); // takes the stream while the write is parked
    await until("the flush to take the stream", () => parts.taken() === 1);
    const release2 = staging.hold(); // part 2's staging write waits here: the flush must wait for it
    release1();
    await until(
      "part 2's staging write to reach the gate",
      () => staging.bytesWritten() === PART && staging.held() === 1,
    );
    release2();
    await crossing;
    await flushed;
    // The flush saw at least the two whole parts, and all of their bytes.
    const atFlush = await memory.get({ key: "race" });
    expect(atFlush.length).toBeGreaterThanOrEqual(2 * PART);
    expect(atFlush).toEqual(data.subarray(0, atFlush.length));
    const read = await fs.read(fh, 0, data.length);
    expect(read).toEqual(data);
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "race" })).toEqual(data);
    expect(memory.pendingUploadCount()).toBe(0);
  });

  it("any mix of appends, flushes and reads is byte-exact at every flush and read", async () => {
    const step = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          op: fc.constant("append" as const),
          length: fc.integer({ min: 1, max: 3000 }),
          seed: fc.nat(255),
        }),
      },
      { weight: 2, arbitrary: fc.record({ op: fc.constant("flush" as const) }) },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant("read" as const),
          at: fc.nat(20000),
          length: fc.integer({ min: 1, max: 6000 }),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 14 }), async (steps) => {
        const memory = new MemoryStore({ minPartSize: PART });
        const fs = mountOn(memory, newDisk(), { partSize: PART });
        const fh = await fs.create("/f", 0o644);
        let model = Buffer.alloc(0);
        for (const s of steps) {
          if (s.op === "append") {
            const data = ramp(s.length, s.seed);
            await fs.write(fh, data, model.length);
            model = Buffer.concat([model, data]);
          } else if (s.op === "flush") {
            await fs.flush(fh);
            expect(await memory.get({ key: "f" })).toEqual(model);
          } else {
            const start = Math.min(s.at, model.length);
            expect(await fs.read(fh, start, s.length)).toEqual(model.subarray(start, start + s.length));
          }
        }
        await fs.flush(fh);
        await fs.release(fh);
        expect(await memory.get({ key: "f" })).toEqual(model);
        expect(memory.pendingUploadCount()).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});
