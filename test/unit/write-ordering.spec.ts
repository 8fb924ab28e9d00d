/**
 * Tree operations ordered after the uploads of the paths they touch (issue 15, findings 7 and
 * 10): an unlink during an upload, a rename onto a file that is open with unsaved changes.
 * A gated store holds the upload in flight, so each race is forced, not hoped for.
 */
import { readdirSync } from "node:fs";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { FsError, type Filesystem } from "../../src/vfs/index.js";
import { gateStore, type Gate } from "../helpers/gated-store.js";
import { writeFile } from "../helpers/memory-fs.js";
import { ramp } from "../helpers/ramp.js";
import { mountOn, newDisk } from "../helpers/write-disk.js";

const code = (e: unknown): string | undefined => (e instanceof FsError ? e.code : undefined);
const keys = async (memory: MemoryStore): Promise<string[]> =>
  (await memory.list({ prefix: "" })).objects.map((o) => o.key);

/** Error lines the filesystem logs (an upload that claims "data kept" must not be one of them). */
function errorLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino(
    { level: "error" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    }),
  );
  return { log, lines };
}

async function expectGone(fs: Filesystem, memory: MemoryStore, path: string): Promise<void> {
  expect(await keys(memory)).not.toContain(path.slice(1));
  await expect(fs.getattr(path)).rejects.toSatisfy((e) => code(e) === "ENOENT");
}

/**
 * The held upload goes on once the unlink sent its DELETE (today's race: the upload lands after
 * it) or finished without one reaching the store first; a correct unlink cancels the upload or
 * waits for it, so the DELETE is the last word either way.
 */
async function letGoAfterDelete(gate: Gate, unlinked: Promise<void>): Promise<void> {
  await Promise.race([gate.seen("delete"), unlinked.catch(() => undefined)]);
  gate.open();
}

describe("unlink during an upload (finding 7)", () => {
  it("a file deleted while its close is uploading it stays deleted", async () => {
    const memory = new MemoryStore({ minPartSize: 1024 });
    const gate = gateStore(memory, "put");
    const disk = newDisk();
    const fs = mountOn(gate.store, disk);
    const fh = await fs.create("/doomed", 0o644);
    await fs.write(fh, Buffer.from("must not come back"), 0);
    const flushed = fs.flush(fh);
    await gate.entered();
    const unlinked = fs.tree.unlink("/doomed");
    await letGoAfterDelete(gate, unlinked);
    await flushed;
    await unlinked;
    await fs.release(fh);
    await expectGone(fs, memory, "/doomed");
    expect(readdirSync(disk.stagingDir)).toEqual([]);
  });

  it("a file deleted while the upload at its last close runs (no handle open) stays deleted", async () => {
    const memory = new MemoryStore({ minPartSize: 1024 });
    const gate = gateStore(memory, "put");
    const disk = newDisk();
    const { log, lines } = errorLog();
    const fs = mountOn(gate.store, disk, { log });
    const fh = await fs.create("/mapped", 0o644);
    await fs.write(fh, ramp(3000), 0);
    // No flush: like bytes written through mmap, the last release uploads them.
    const released = fs.release(fh);
    await gate.entered();
    const unlinked = fs.tree.unlink("/mapped");
    await letGoAfterDelete(gate, unlinked);
    await released;
    await unlinked;
    expect(lines).toEqual([]);
    await expectGone(fs, memory, "/mapped");
    expect(readdirSync(disk.stagingDir)).toEqual([]);
  });

  it("the staging file of a multipart upload at last close is not closed under it by an unlink", async () => {
    const memory = new MemoryStore({ minPartSize: 1024 });
    const gate = gateStore(memory, "uploadPart");
    const disk = newDisk();
    const { log, lines } = errorLog();
    const fs = mountOn(gate.store, disk, { partSize: 1024, log });
    const fh = await fs.create("/big", 0o644);
    // Written out of order, so it is uploaded whole from staging at close (not streamed).
    await fs.write(fh, ramp(4000).subarray(1000), 1000);
    await fs.write(fh, ramp(4000).subarray(0, 1000), 0);
    const released = fs.release(fh);
    await gate.entered();
    const unlinked = fs.tree.unlink("/big");
    await letGoAfterDelete(gate, unlinked);
    await released;
    await unlinked;
    await expectGone(fs, memory, "/big");
    expect(lines).toEqual([]);
    expect(memory.pendingUploadCount()).toBe(0);
    expect(readdirSync(disk.stagingDir)).toEqual([]);
  });
});

describe("rename onto a file open with unsaved changes (finding 10)", () => {
  it("the replaced file's close uploads nothing: the renamed file stays", async () => {
    const memory = new MemoryStore();
    const fs = mountOn(memory, newDisk());
    await writeFile(fs, "/new", "replacement");
    const victim = await fs.create("/old", 0o644);
    await fs.write(victim, Buffer.from("unsaved, then replaced by a rename"), 0);
    await fs.tree.rename("/new", "/old");
    expect(await fs.flushAll()).toEqual([]);
    await fs.flush(victim);
    await fs.release(victim);
    expect(await keys(memory)).toEqual(["old"]);
    expect((await memory.get({ key: "old" })).toString()).toBe("replacement");
    expect((await fs.getattr("/old")).size).toBe("replacement".length);
  });

  it("after a directory rename (no conflict check), the replaced file does not overwrite the renamed one", async () => {
    const memory = new MemoryStore();
    const fs = mountOn(memory, newDisk());
    await fs.tree.mkdir("/d0", 0o755);
    const victim = await fs.create("/d0/report", 0o644);
    await fs.write(victim, Buffer.from("draft"), 0);
    await fs.tree.rename("/d0", "/d1");
    await fs.write(victim, Buffer.from("draft, edited after the move"), 0);
    await writeFile(fs, "/final", "final version");
    await fs.tree.rename("/final", "/d1/report");
    await fs.flush(victim);
    await fs.release(victim);
    expect((await memory.get({ key: "d1/report" })).toString()).toBe("final version");
    expect(await keys(memory)).toEqual(["d1/", "d1/report"]);
  });
});
