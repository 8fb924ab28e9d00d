/**
 * Write-back durability over MemoryStore: the crash-safe upload journal (recovery by a new
 * filesystem on the same staging dir and journal), conflict safety, a full staging disk, and
 * the upload status that `bucketfs status` shows.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { FsError, type Filesystem } from "../../src/vfs/index.js";
import { UploadJournal } from "../../src/write/journal.js";
import type { StagingOpener } from "../../src/write/staging.js";
import { ramp } from "../helpers/ramp.js";
import { mountOn, newDisk } from "../helpers/write-disk.js";
import { O_WRONLY } from "../helpers/open-flags.js";

const code = (e: unknown): string | undefined => (e instanceof FsError ? e.code : undefined);

async function writeAndFlush(fs: Filesystem, path: string, data: Buffer): Promise<number> {
  const fh = await fs.create(path, 0o644);
  await fs.write(fh, data, 0);
  await fs.flush(fh).catch(() => undefined);
  return fh;
}

/** Staging files that take `room` bytes each, then fail like a full disk. */
const smallDisk =
  (room: number): StagingOpener =>
  async (path) => {
    const handle = await open(path, "w+", 0o600);
    let used = 0;
    return {
      read: (b, o, l, p) => handle.read(b, o, l, p),
      truncate: (l) => handle.truncate(l),
      close: () => handle.close(),
      datasync: () => handle.datasync(),
      write: async (b, o, l, p) => {
        if (used + l > room) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        used += l;
        return handle.write(b, o, l, p);
      },
    };
  };

describe("upload journal", () => {
  it("a remount finishes an upload that failed before the crash, serving the local data meanwhile", async () => {
    const memory = new MemoryStore({ minPartSize: 1024 });
    const faults = new FaultyStore(memory);
    const disk = newDisk();
    const before = mountOn(faults, disk);
    faults.failNext(["put"]);
    await writeAndFlush(before, "/precious", Buffer.from("closed before the crash"));
    expect(before.uploadStatus().uploads()).toMatchObject([{ path: "/precious", state: "failed", sizeBytes: 23 }]);
    // kill -9: the first filesystem is abandoned without release or flushAll.
    await before.abandon();
    faults.heal();
    const after = mountOn(memory, disk);
    const { adopted, done } = await after.recoverUploads();
    expect(adopted).toBe(1);
    expect((await after.getattr("/precious")).size).toBe(23);
    expect(await done).toEqual({ recovered: 1, failed: 0 });
    expect((await memory.get({ key: "precious" })).toString()).toBe("closed before the crash");
    expect(readdirSync(disk.stagingDir)).toHaveLength(0);
    expect(after.uploadStatus().uploads()).toEqual([]);
  });

  it("a remount finishes a multipart upload the crash interrupted", async () => {
    const memory = new MemoryStore({ minPartSize: 1024 });
    const hanging = new FaultyStore(memory);
    const disk = newDisk();
    const before = mountOn(hanging, disk, { partSize: 1024 });
    hanging.failNext(["completeMultipart"]);
    await writeAndFlush(before, "/big", ramp(10_000));
    await before.abandon();
    const after = mountOn(memory, disk, { partSize: 1024 });
    await (
      await after.recoverUploads()
    ).done;
    expect(await memory.get({ key: "big" })).toEqual(ramp(10_000));
  });

  it("drops an entry whose staging file is gone and keeps a failed one listed until it succeeds", async () => {
    const memory = new MemoryStore();
    const faults = new FaultyStore(memory);
    const disk = newDisk();
    const before = mountOn(faults, disk);
    faults.failNext(["put"]);
    const fh = await writeAndFlush(before, "/gone", Buffer.from("x"));
    await before.tree.unlink("/gone");
    await before.release(fh);
    await writeAndFlush(before, "/stuck", Buffer.from("still failing"));
    await before.abandon();
    const after = mountOn(faults, disk);
    expect(await (await after.recoverUploads()).done).toEqual({ recovered: 0, failed: 1 });
    const [entry] = after.uploadStatus().uploads();
    expect(entry).toMatchObject({ path: "/stuck", state: "failed", sizeBytes: 13 });
    expect(entry.error).toMatch(/injected fault/);
    faults.heal();
    const again = await after.open("/stuck", O_WRONLY);
    await after.flush(again);
    await after.release(again);
    expect((await memory.get({ key: "stuck" })).toString()).toBe("still failing");
    expect(after.uploadStatus().uploads()).toEqual([]);
  });
});

describe("recovery keeps every copy the user was told is kept (finding 9)", () => {
  it("a conflict copy journaled for the same path as a later version is uploaded, not dropped", async () => {
    const memory = new MemoryStore();
    const disk = newDisk();
    mkdirSync(disk.stagingDir, { recursive: true, mode: 0o700 });
    const journal = new UploadJournal(disk.journalPath);
    const stage = (name: string, text: string): string => {
      const path = join(disk.stagingDir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    const mine = "my edits, kept as a conflict copy";
    const conflict = stage("conflict.data", mine);
    journal.record({
      stagingFile: conflict,
      path: "/notes",
      key: "notes.conflict-2026",
      size: mine.length,
      conflictCheck: false,
      metadata: {},
    });
    journal.markFailed(conflict, "the object changed in the bucket", "conflict");
    const later = stage("later.data", "a later version");
    journal.record({ stagingFile: later, path: "/notes", key: "notes", size: 15, conflictCheck: false, metadata: {} });
    journal.close();
    const fs = mountOn(memory, disk);
    expect(await (await fs.recoverUploads()).done).toEqual({ recovered: 2, failed: 0 });
    expect((await memory.get({ key: "notes.conflict-2026" })).toString()).toBe(mine);
    expect((await memory.get({ key: "notes" })).toString()).toBe("a later version");
    expect(readdirSync(disk.stagingDir)).toEqual([]);
  });

  it("a conflict copy whose upload fails again stays journaled (its staging file closed, not leaked)", async () => {
    const memory = new MemoryStore();
    const faults = new FaultyStore(memory);
    const disk = newDisk();
    mkdirSync(disk.stagingDir, { recursive: true, mode: 0o700 });
    const journal = new UploadJournal(disk.journalPath);
    const stagingFile = join(disk.stagingDir, "conflict.data");
    writeFileSync(stagingFile, "mine", { mode: 0o600 });
    journal.record({
      stagingFile,
      path: "/notes",
      key: "notes.conflict-2026",
      size: 4,
      conflictCheck: false,
      metadata: {},
    });
    journal.close();
    faults.failNext(["put"]);
    const fs = mountOn(faults, disk);
    expect(await (await fs.recoverUploads()).done).toEqual({ recovered: 0, failed: 1 });
    expect(fs.uploadStatus().uploads()).toMatchObject([{ path: "/notes", state: "failed", stagingFile }]);
    expect(readFileSync(stagingFile, "utf8")).toBe("mine");
    await fs.abandon();
  });

  it("a full staging disk does not discard data an earlier failed close reported as kept", async () => {
    const memory = new MemoryStore();
    const faults = new FaultyStore(memory);
    const disk = newDisk();
    const fs = mountOn(faults, disk, { stagingOpener: smallDisk(1000) });
    faults.failNext(["put"]);
    const fh = await fs.create("/log", 0o644);
    await fs.write(fh, Buffer.from("first entry"), 0);
    await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "EIO" && /data kept at/.test((e as Error).message));
    await fs.release(fh);
    const [kept] = fs.uploadStatus().uploads();
    expect(kept).toMatchObject({ path: "/log", state: "failed", sizeBytes: 11 });
    const again = await fs.open("/log", O_WRONLY);
    // An append at the end is collected in memory (the part tail) and reaches the staging disk at
    // the flush: that is where the full disk is reported.
    expect(await fs.write(again, ramp(2000), 11)).toBe(2000);
    await expect(fs.flush(again)).rejects.toSatisfy((e) => code(e) === "ENOSPC");
    await fs.release(again);
    // Nothing incomplete reached the bucket, and the kept data is still where the user was told.
    await expect(memory.head({ key: "log" })).rejects.toThrow(/not found|NotFound|no such/i);
    expect(readFileSync(kept!.stagingFile!).subarray(0, 11).toString()).toBe("first entry");
    expect(fs.uploadStatus().uploads()).toMatchObject([
      { path: "/log", state: "failed", stagingFile: kept!.stagingFile },
    ]);
    // A remount, with the bucket reachable again, lists it but never uploads incomplete data.
    faults.heal();
    const after = mountOn(memory, disk);
    expect(await (await after.recoverUploads()).done).toEqual({ recovered: 0, failed: 0 });
    await expect(memory.head({ key: "log" })).rejects.toThrow(/not found|NotFound|no such/i);
    expect(after.uploadStatus().uploads()).toMatchObject([{ path: "/log", state: "failed" }]);
  });
});

describe("conflict safety", () => {
  const conflictCopies = async (memory: MemoryStore, name: string): Promise<string[]> =>
    (await memory.list({ prefix: `${name}.conflict-` })).objects.map((o) => o.key);

  for (const partSize of [4096, 1024]) {
    it(`keeps the bucket's newer version and saves ours as a conflict copy (${partSize === 1024 ? "multipart" : "single PUT"})`, async () => {
      const memory = new MemoryStore({ minPartSize: 1024 });
      const fs = mountOn(memory, newDisk(), { partSize });
      await memory.put({ key: "shared", body: Buffer.from("original") });
      const fh = await fs.open("/shared", O_WRONLY);
      await memory.put({ key: "shared", body: Buffer.from("someone else's edit") });
      await fs.write(fh, ramp(3000), 0);
      await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "EIO" && /conflict/.test((e as Error).message));
      await fs.release(fh);
      expect((await memory.get({ key: "shared" })).toString()).toBe("someone else's edit");
      const [copy] = await conflictCopies(memory, "shared");
      expect(await memory.get({ key: copy })).toEqual(ramp(3000));
      expect(memory.pendingUploadCount()).toBe(0);
      expect((await fs.getattr("/shared")).size).toBe("someone else's edit".length);
    });
  }

  it("a new file does not replace an object another client created meanwhile", async () => {
    const memory = new MemoryStore();
    const fs = mountOn(memory, newDisk());
    const fh = await fs.create("/report", 0o644);
    await memory.put({ key: "report", body: Buffer.from("theirs") });
    await fs.write(fh, Buffer.from("ours"), 0);
    await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "EIO");
    await fs.release(fh);
    expect((await memory.get({ key: "report" })).toString()).toBe("theirs");
    expect((await memory.get({ key: (await conflictCopies(memory, "report"))[0] })).toString()).toBe("ours");
  });

  it("repeated edits of our own file and edits after a rename are not conflicts", async () => {
    const memory = new MemoryStore();
    const fs = mountOn(memory, newDisk());
    const fh = await fs.create("/mine", 0o644);
    for (let i = 0; i < 3; i++) {
      await fs.write(fh, Buffer.from(`v${i}`), 0);
      await fs.flush(fh);
    }
    await fs.tree.rename("/mine", "/moved");
    await fs.write(fh, Buffer.from("v3"), 0);
    await fs.flush(fh);
    await fs.release(fh);
    expect((await memory.get({ key: "moved" })).toString()).toBe("v3");
    expect((await memory.list({ prefix: "" })).objects.map((o) => o.key)).toEqual(["moved"]);
  });
});

describe("a full staging disk", () => {
  it("gives ENOSPC to the writer and never uploads the incomplete file", async () => {
    const memory = new MemoryStore();
    const disk = newDisk();
    const fs = mountOn(memory, disk, { stagingOpener: smallDisk(10_000) });
    const fh = await fs.create("/huge", 0o644);
    await fs.write(fh, ramp(8000), 0);
    // Whole parts of a sequential write reach staging in the background: the ENOSPC of one comes
    // with this write or a later one, and at the latest with the flush (close).
    const second = await fs.write(fh, ramp(8000), 8000).then(
      () => "ok",
      (e: unknown) => code(e),
    );
    expect(["ok", "ENOSPC"]).toContain(second);
    await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "ENOSPC");
    await expect(fs.write(fh, ramp(10), 16_000)).rejects.toSatisfy((e) => code(e) === "ENOSPC");
    await fs.release(fh);
    await expect(memory.head({ key: "huge" })).rejects.toThrow();
    expect(readdirSync(disk.stagingDir)).toHaveLength(0);
    expect(fs.uploadStatus().uploads()).toEqual([]);
  });
});
