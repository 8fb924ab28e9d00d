/**
 * The Mount's lifecycle: opened, used, drained and closed, it leaves no file descriptor open
 * (checked in /proc/self/fd) and every SQLite file it used can afterwards be locked exclusively
 * by another connection — for a bucket mount (upload journal, attribute table, read cache index)
 * and an IDC mount (index and series listings).
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeIdcFixtures, type IdcFixtures } from "../../scripts/make-idc-fixtures.js";
import { resolveMountOptions } from "../../src/config/load.js";
import { parseSource } from "../../src/config/source.js";
import { createLogger } from "../../src/log/logger.js";
import { attributesPathFor, readCacheDir, uploadJournalPathFor } from "../../src/mount/dirs.js";
import { Mount } from "../../src/mount/mount.js";

let base: string;
let fixtures: IdcFixtures;
const savedRuntimeDir = process.env.BUCKETFS_RUNTIME_DIR;
const savedUmask = process.umask();

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "bucketfs-mount-lifecycle-"));
  process.env.BUCKETFS_RUNTIME_DIR = join(base, "run");
  fixtures = makeIdcFixtures(join(base, "fx"));
});
afterEach(() => {
  process.umask(savedUmask); // the Mount's security layer makes the process private (umask 077)
});
afterAll(() => {
  if (savedRuntimeDir === undefined) delete process.env.BUCKETFS_RUNTIME_DIR;
  else process.env.BUCKETFS_RUNTIME_DIR = savedRuntimeDir;
  rmSync(base, { recursive: true, force: true });
});

/** Open descriptors of this process that point into `dir`. */
function descriptorsUnder(dir: string): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) targets.push(target);
    } catch {
      // closed while listing (the directory's own descriptor)
    }
  }
  return targets.sort();
}

/** All open descriptors that are files (not pipes, sockets or event descriptors of the test runner). */
function fileDescriptors(): string[] {
  return readdirSync("/proc/self/fd")
    .flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return target.startsWith("/") ? [target] : [];
      } catch {
        return [];
      }
    })
    .sort();
}

/** Succeeds only if no other connection holds any lock on the database file. */
function lockExclusively(path: string): void {
  const db = new Database(path, { fileMustExist: true, timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE; COMMIT;");
  } finally {
    db.close();
  }
}

function openMount(sourceText: string, cacheDir: string, flags: Record<string, unknown> = {}): Promise<Mount> {
  const { config } = resolveMountOptions({ cacheDir, cacheSize: "64M", ...flags }, [], {});
  return Mount.open(
    { source: parseSource(sourceText), mountpoint: join(base, "mnt"), config },
    { log: createLogger({ level: "error" }) },
  );
}

describe("a bucket Mount opened, used and closed", () => {
  it("leaves no descriptor open and its journal, attribute table and cache index lockable", async () => {
    const cacheDir = join(base, "cache-bucket");
    const before = fileDescriptors();
    const mount = await openMount("mem://lifecycle", cacheDir);
    await mount.start();
    const fh = await mount.served.create("/a.txt", 0o644);
    await mount.served.write(fh, Buffer.from("hello"), 0);
    await mount.served.flush(fh);
    await mount.served.release(fh);
    const read = await mount.served.open("/a.txt", 0);
    expect((await mount.served.read(read, 0, 5)).toString()).toBe("hello");
    await mount.served.release(read);
    expect(descriptorsUnder(cacheDir).length).toBeGreaterThan(0); // the check can see what a Mount holds
    expect(await mount.drain()).toEqual([]);
    await mount.close();
    expect(descriptorsUnder(cacheDir)).toEqual([]);
    expect(fileDescriptors()).toEqual(before);
    lockExclusively(uploadJournalPathFor(cacheDir, "mem://lifecycle"));
    lockExclusively(attributesPathFor(cacheDir, "mem://lifecycle"));
    lockExclusively(join(readCacheDir(cacheDir), "index.sqlite"));
  });
});

describe("an IDC Mount opened, used and closed", () => {
  it("leaves no descriptor open and its index database lockable", async () => {
    const cacheDir = join(base, "cache-idc");
    const before = fileDescriptors();
    // The index is a local file and nothing below a series is listed: no request leaves the machine.
    const mount = await openMount("idc://", cacheDir, { idcIndex: fixtures.parquet, endpoint: "http://127.0.0.1:9" });
    await mount.start();
    const collections = (await mount.served.readdir("/")).map((e) => e.name);
    expect(collections).toContain(fixtures.series[0].row.collection_id);
    await expect(mount.served.tree.mkdir("/x", 0o755)).rejects.toMatchObject({ code: "EROFS" });
    expect(descriptorsUnder(cacheDir).length).toBeGreaterThan(0);
    await mount.close();
    expect(descriptorsUnder(cacheDir)).toEqual([]);
    expect(fileDescriptors()).toEqual(before);
    const databases = readdirSync(join(cacheDir, "idc"), { recursive: true, encoding: "utf8" }).filter((f) =>
      f.endsWith(".sqlite"),
    );
    expect(databases.length).toBeGreaterThan(0);
    for (const file of databases) lockExclusively(join(cacheDir, "idc", file));
  });
});
