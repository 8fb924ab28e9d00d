/**
 * The write-back state machine (src/write/dirty-state.ts): a DirtyFile driven through random
 * sequences of the events the write-back gives it never makes a move the transition table does
 * not list (under test an illegal move throws), and its state always says what its data is.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { DirtyFile } from "../../src/write/dirty-file.js";
import { IllegalTransition, TRANSITIONS, checkTransition, type DirtyState } from "../../src/write/dirty-state.js";
import { SparseContent } from "../../src/write/sparse-content.js";
import type { StagingHandle } from "../../src/write/staging.js";
import { StreamingUpload } from "../../src/write/streaming-upload.js";
import { Uploader } from "../../src/write/uploader.js";

const PART = 16;

/** A staging file in memory; `full` makes writes fail as a full disk does. */
class MemoryStaging implements StagingHandle {
  bytes = Buffer.alloc(0);
  full = false;
  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const n = Math.max(0, Math.min(length, this.bytes.length - position));
    this.bytes.copy(buffer, offset, position, position + n);
    return { bytesRead: n };
  }
  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    if (this.full) throw Object.assign(new Error("no space"), { code: "ENOSPC" });
    if (this.bytes.length < position + length)
      this.bytes = Buffer.concat([this.bytes, Buffer.alloc(position + length - this.bytes.length)]);
    buffer.copy(this.bytes, position, offset, offset + length);
    return { bytesWritten: length };
  }
  async truncate(length = 0): Promise<void> {
    this.bytes =
      length <= this.bytes.length
        ? this.bytes.subarray(0, length)
        : Buffer.concat([this.bytes, Buffer.alloc(length - this.bytes.length)]);
  }
  async close(): Promise<void> {}
}

type Event =
  | { kind: "write"; offset: number; length: number }
  | { kind: "truncate"; size: number }
  | { kind: "chmod" }
  | { kind: "upload"; outcome: "ok" | "fail" | "conflict"; changeDuring: boolean }
  | { kind: "diskFull" };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    offset: fc.integer({ min: 0, max: 80 }),
    length: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), size: fc.integer({ min: 0, max: 80 }) }),
  fc.record({ kind: fc.constant("chmod" as const) }),
  fc.record({
    kind: fc.constant("upload" as const),
    outcome: fc.constantFrom("ok" as const, "fail" as const, "conflict" as const),
    changeDuring: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("diskFull" as const) }).map((e) => e as Event),
);

/** A file as the write-back makes it: new (written front to back) or opened over a larger object (sparse). */
function makeFile(opening: "new" | "existing", staging: MemoryStaging): DirtyFile {
  const store = new MemoryStore({ minPartSize: PART });
  const uploader = new Uploader(store, { partSize: PART, concurrency: 2 });
  const base = { key: "k", etag: '"base"', size: 64 };
  const file = new DirtyFile({
    path: "/f",
    key: "k",
    staging: { path: "mem", handle: staging },
    metadata: {},
    baseEtag: opening === "existing" ? base.etag : undefined,
    size: opening === "existing" ? base.size : 0,
  });
  if (opening === "existing") {
    file.makeSparse(new SparseContent(base), async (range) => Buffer.alloc(range.end - range.start, 7));
  } else {
    file.markChanged();
    file.allowStreaming(
      PART,
      () =>
        new StreamingUpload({
          store,
          uploader,
          key: file.uploadKey,
          source: staging,
          partSize: PART,
          concurrency: 2,
          metadata: {},
        }),
    );
  }
  return file;
}

/** One upload as write-back runs it, with the outcome chosen by the test. */
async function upload(file: DirtyFile, outcome: "ok" | "fail" | "conflict", changeDuring: boolean): Promise<void> {
  await file.runUpload(async () => {
    if (file.beforeFirstPart) file.stageTail();
    else void file.takeStream()?.abort();
    await file.settled().catch(() => undefined);
    if (file.incomplete || !file.dirty) return;
    const generation = file.generation;
    const captured = file.metadata;
    if (changeDuring) file.changeAttributes({ mode: 0o100600 }, true);
    if (outcome === "conflict" && file.conflictKey === undefined) file.divertToConflictCopy(`${file.key}.conflict-1`);
    if (outcome === "fail") file.uploadFailed(new Error("unreachable"));
    else file.uploadSucceeded({ generation, etag: '"new"', captured, sent: { ...captured } });
  });
}

async function apply(file: DirtyFile, staging: MemoryStaging, e: Event): Promise<void> {
  const guard = (p: Promise<unknown>): Promise<unknown> =>
    p.catch((err: unknown) => {
      if (err instanceof IllegalTransition) throw err;
    });
  if (e.kind === "write") await guard(file.write(Buffer.alloc(e.length, 1), e.offset));
  else if (e.kind === "truncate") await guard(file.truncate(e.size));
  else if (e.kind === "chmod") file.changeAttributes({ mode: 0o100644 }, file.dirty);
  else if (e.kind === "diskFull") staging.full = true;
  else await upload(file, e.outcome, e.changeDuring);
}

/** What the state must be, from what can be observed of the file. */
function expectedState(file: DirtyFile): DirtyState {
  if (file.conflictKey !== undefined) return "conflict";
  if (file.incomplete || file.lastError !== undefined) return "failed";
  if (!file.dirty) return "clean";
  if (file.frontToBack) return "streaming";
  if (file.sparse && !file.sparse.complete) return "sparse";
  return "staged";
}

describe("write-back state machine", () => {
  it("rejects a move the table does not list, and allows every listed one", () => {
    expect(() => checkTransition("sparse", "streaming", "/f")).toThrow(IllegalTransition);
    expect(() => checkTransition("conflict", "clean", "/f")).toThrow(
      "illegal write-back state change conflict -> clean",
    );
    expect(() => checkTransition("failed", "clean", "/f")).toThrow(IllegalTransition);
    for (const [from, targets] of Object.entries(TRANSITIONS) as [DirtyState, readonly DirtyState[]][]) {
      for (const to of targets) expect(() => checkTransition(from, to, "/f")).not.toThrow();
    }
  });

  it("a new file starts streaming, and a clean upload leaves it clean; a conflict is final", async () => {
    const staging = new MemoryStaging();
    const file = makeFile("new", staging);
    expect(file.state).toBe("streaming");
    await file.write(Buffer.alloc(5, 1), 0);
    await upload(file, "ok", false);
    expect(file.state).toBe("clean");
    await file.write(Buffer.alloc(5, 1), 100);
    expect(file.state).toBe("staged");
    await upload(file, "fail", false);
    expect(file.state).toBe("failed");
    await upload(file, "conflict", false);
    expect(file.state).toBe("conflict");
    await file.write(Buffer.alloc(1, 1), 0);
    expect(file.state).toBe("conflict");
  });

  it("any sequence of writes, truncates, attribute changes, uploads and a full disk moves only along the table", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("new" as const, "existing" as const),
        fc.array(event, { maxLength: 25 }),
        async (opening, events) => {
          const staging = new MemoryStaging();
          const file = makeFile(opening, staging);
          for (const e of events) {
            await apply(file, staging, e);
            expect(file.state).toBe(expectedState(file));
          }
          await upload(file, "ok", false);
          expect(file.state).toBe(expectedState(file));
        },
      ),
      { numRuns: 300, seed: 1313 },
    );
  });
});
