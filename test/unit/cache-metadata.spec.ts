/**
 * The metadata cache of the namespace: `ls -l` of N objects costs the LIST pages and no HEADs,
 * a warm listing costs nothing, negative lookups are cached briefly, the TTL bounds staleness of
 * changes made by other clients, changes made through the mount show at once, and a fresh
 * listing answers lookups of names it lacks.
 */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { createFilesystem, type Filesystem } from "../../src/vfs/index.js";
import { writeFile } from "../helpers/memory-fs.js";
import { testTempDir } from "../helpers/temp-dirs.js";

/** Counts calls per operation on any store. */
function counted(store: ObjectStore): { store: ObjectStore; calls: Map<string, number>; total: () => number } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls, total: () => [...calls.values()].reduce((a, b) => a + b, 0) };
}

/** A clock the test moves by hand: TTLs expire when the test says, however loaded the machine. */
class ManualClock {
  private ms = 1_000_000;
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

async function setup(
  ttlMs: number,
  objects: number,
): Promise<{
  fs: Filesystem;
  memory: MemoryStore;
  calls: Map<string, number>;
  total: () => number;
  clock: ManualClock;
}> {
  const memory = new MemoryStore({ minPartSize: 1024 });
  for (let i = 0; i < objects; i++) await memory.put({ key: `dir/f${i}`, body: Buffer.from(`object ${i}`) });
  const { store, calls, total } = counted(memory);
  const clock = new ManualClock();
  const fs = createFilesystem({
    store,
    prefix: "",
    stagingDir: testTempDir("bfs-meta-"),
    log: silentLogger(),
    metadataTtlMs: ttlMs,
    clock,
  });
  return { fs, memory, calls, total, clock };
}

/** What `ls -l dir` does: readdir, then a stat of every entry. */
async function lsLong(fs: Filesystem, dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir);
  const names = entries.map((e) => e.name).filter((n) => n !== "." && n !== "..");
  for (const name of names) await fs.getattr(`${dir}/${name}`);
  return names.sort();
}

describe("metadata cache", () => {
  it("ls -l of N objects never seen costs the LIST pages and one HEAD each, made by readdir; warm it costs nothing", async () => {
    const { fs, calls, total } = await setup(10_000, 300);
    await fs.getattr("/dir");
    calls.clear();
    expect(await lsLong(fs, "/dir")).toHaveLength(300);
    // A listing carries no mode or owner (S3, GCS): readdir HEADs each entry once, so the stats
    // that follow cost nothing and show the stored attributes (the POSIX issue's "ls -l that never lies").
    expect(calls.get("head") ?? 0).toBe(300);
    expect(calls.get("list")).toBeGreaterThanOrEqual(1);
    expect(total()).toBeLessThanOrEqual(303); // the pages of one LIST, the HEADs (plus the parent's stat)
    calls.clear();
    expect(await lsLong(fs, "/dir")).toHaveLength(300);
    expect(total()).toBe(0);
  });

  it("changes through the mount show at once; other clients' changes after the TTL", async () => {
    const { fs, memory, clock } = await setup(200, 2);
    expect(await lsLong(fs, "/dir")).toEqual(["f0", "f1"]);
    await writeFile(fs, "/dir/new", "through the mount");
    expect(await lsLong(fs, "/dir")).toEqual(["f0", "f1", "new"]);
    await fs.tree.unlink("/dir/f0");
    expect(await lsLong(fs, "/dir")).toEqual(["f1", "new"]);
    await memory.put({ key: "dir/remote", body: Buffer.from("x") });
    clock.advance(199);
    expect(await lsLong(fs, "/dir")).toEqual(["f1", "new"]); // cached listing, within the TTL
    clock.advance(51);
    expect(await lsLong(fs, "/dir")).toEqual(["f1", "new", "remote"]);
  });

  it("cp -r into a new directory: looking up each name before creating it costs no request", async () => {
    const { fs, calls } = await setup(10_000, 0);
    await fs.tree.mkdir("/copy", 0o755);
    calls.clear();
    for (let i = 0; i < 5; i++) {
      await expect(fs.getattr(`/copy/f${i}`)).rejects.toMatchObject({ code: "ENOENT" });
      await writeFile(fs, `/copy/f${i}`, `file ${i}`);
    }
    expect(Object.fromEntries(calls)).toEqual({ put: 5 });
    expect(await lsLong(fs, "/copy")).toEqual(["f0", "f1", "f2", "f3", "f4"]);
  });

  it("a fresh listing answers lookups of names it lacks; another client's object shows after the TTL", async () => {
    const { fs, memory, calls, clock } = await setup(300, 2);
    await lsLong(fs, "/dir");
    calls.clear();
    await expect(fs.getattr("/dir/late")).rejects.toMatchObject({ code: "ENOENT" });
    expect(calls.size).toBe(0);
    await memory.put({ key: "dir/late", body: Buffer.from("from elsewhere") });
    clock.advance(200);
    await writeFile(fs, "/dir/ours", "updates the listing, which still expires 300 ms after its LIST");
    clock.advance(150);
    expect((await fs.getattr("/dir/late")).size).toBe(14);
  });

  it("caches a negative lookup briefly", async () => {
    const { fs, memory, calls, clock } = await setup(500, 0);
    await expect(fs.getattr("/missing")).rejects.toMatchObject({ code: "ENOENT" });
    const after = calls.get("head") ?? 0;
    await expect(fs.getattr("/missing")).rejects.toMatchObject({ code: "ENOENT" });
    expect(calls.get("head") ?? 0).toBe(after);
    await memory.put({ key: "missing", body: Buffer.from("now here") });
    clock.advance(501); // negative TTL = min(TTL, 1 s)
    expect((await fs.getattr("/missing")).size).toBe(8);
  });
});
