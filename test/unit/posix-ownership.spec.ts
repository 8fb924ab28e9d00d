/**
 * The rules behind owners and remembered attributes, without a mount: chown/chmod as Linux
 * applies them to a caller, owners of new entries, and KnownAttributes matching only the exact
 * object version (ETag and LastModified to the second), across a reopen of its database.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { createFilesystem } from "../../src/vfs/index.js";
import { KnownAttributes } from "../../src/vfs/known-attributes.js";
import { chmodMode, chownAttributes, ownerOfNew } from "../../src/vfs/ownership.js";
import type { FileStat } from "../../src/vfs/types.js";
import { tempDir } from "../helpers/mount.js";

const file = (mode: number, uid = 1000, gid = 1000): FileStat => ({
  kind: "file",
  mode: 0o100000 | mode,
  uid,
  gid,
  size: 0,
  mtimeMs: 0,
  ctimeMs: 0,
});
const dirStat = (mode: number, gid = 50): FileStat => ({
  kind: "dir",
  mode: 0o040000 | mode,
  uid: 0,
  gid,
  size: 4096,
  mtimeMs: 0,
  ctimeMs: 0,
});
// pid 0 has no /proc entry: the caller has no supplementary groups.
const caller = (uid: number, gid: number) => ({ uid, gid, pid: 0, umask: 0o022 });
const UNCHANGED = 0xffffffff;

describe("ownership rules", () => {
  it("gives new entries the caller's ids, and a set-group-ID parent's group", () => {
    expect(ownerOfNew(caller(7, 8), dirStat(0o755), { uid: 0, gid: 0 })).toEqual({ uid: 7, gid: 8 });
    expect(ownerOfNew(caller(7, 8), dirStat(0o2775, 50), { uid: 0, gid: 0 })).toEqual({ uid: 7, gid: 50 });
    expect(ownerOfNew(undefined, dirStat(0o755), { uid: 3, gid: 4 })).toEqual({ uid: 3, gid: 4 });
  });

  it("lets only root change the owner, and the owner change the group only to its own", () => {
    expect(() => chownAttributes(file(0o644), 0, UNCHANGED, caller(1000, 1000))).toThrow(
      expect.objectContaining({ code: "EPERM" }),
    );
    expect(() => chownAttributes(file(0o644), UNCHANGED, 5, caller(1000, 1000))).toThrow(
      expect.objectContaining({ code: "EPERM" }),
    );
    expect(() => chownAttributes(file(0o644), UNCHANGED, 1001, caller(2000, 1001))).toThrow(
      expect.objectContaining({ code: "EPERM" }),
    );
    expect(chownAttributes(file(0o644), UNCHANGED, 1001, caller(1000, 1001))).toEqual({ uid: 1000, gid: 1001 });
    expect(chownAttributes(file(0o644), 1000, 1000, caller(1000, 1000))).toEqual({ uid: 1000, gid: 1000 });
    expect(chownAttributes(file(0o644), 5, 6, caller(0, 0))).toEqual({ uid: 5, gid: 6 });
  });

  it("clears set-user-ID, and set-group-ID when group-executable, on a non-directory", () => {
    expect(chownAttributes(file(0o6755), 5, UNCHANGED, caller(0, 0)).mode).toBe(0o100755);
    expect(chownAttributes(file(0o6745), 5, UNCHANGED, caller(0, 0)).mode).toBe(0o102745);
    expect(chownAttributes(dirStat(0o2755), 5, UNCHANGED, caller(0, 0)).mode).toBeUndefined();
    expect(chownAttributes(file(0o4755), UNCHANGED, UNCHANGED, caller(0, 0)).mode).toBeUndefined();
  });

  it("lets only the owner or root chmod, dropping set-group-ID for a caller outside the group", () => {
    expect(() => chmodMode(file(0o644), 0o600, caller(2000, 2000))).toThrow(expect.objectContaining({ code: "EPERM" }));
    expect(chmodMode(file(0o644), 0o600, caller(1000, 1000))).toBe(0o100600);
    // The kernel clears set-ID bits after a write by another user, in that user's name.
    expect(chmodMode(file(0o6777), 0o777, caller(2000, 2000))).toBe(0o100777);
    expect(() => chmodMode(file(0o6777), 0o775, caller(2000, 2000))).toThrow(
      expect.objectContaining({ code: "EPERM" }),
    );
    expect(chmodMode(file(0o644, 1000, 50), 0o2755, caller(1000, 1000))).toBe(0o100755);
    expect(chmodMode(file(0o644, 1000, 50), 0o2755, caller(0, 0))).toBe(0o102755);
  });
});

describe("KnownAttributes", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("answers only for the same ETag and LastModified second, and survives a reopen", () => {
    const dir = tempDir("known");
    dirs.push(dir);
    const path = join(dir, "attributes.sqlite");
    const known = new KnownAttributes(path);
    const modified = new Date("2026-01-02T03:04:05.000Z");
    known.record("a/b", "etag1", modified, {
      mode: "33188",
      uid: "7",
      gid: "8",
      mtime: "1500000000",
      other: "x".repeat(10_000),
    });
    expect(known.lookup("a/b", "etag1", new Date("2026-01-02T03:04:05.900Z"))).toEqual({
      mode: "33188",
      uid: "7",
      gid: "8",
      mtime: "1500000000",
    });
    expect(known.lookup("a/b", "etag2", modified)).toBeUndefined();
    expect(known.lookup("a/b", "etag1", new Date("2026-01-02T03:04:06.000Z"))).toBeUndefined();
    known.close();
    const reopened = new KnownAttributes(path);
    expect(reopened.lookup("a/b", "etag1", modified)?.uid).toBe("7");
    reopened.forget("a/b");
    expect(reopened.lookup("a/b", "etag1", modified)).toBeUndefined();
    reopened.close();
  });

  it("keeps the rows a filesystem learnt just before close (unmount), without waiting for the write timer", async () => {
    const dir = tempDir("known-close");
    dirs.push(dir);
    const path = join(dir, "attributes.sqlite");
    const store = new MemoryStore({ minPartSize: 1024 });
    const metadata = { mode: String(0o100640), uid: "12", gid: "34" };
    await store.put({ key: "d/f", body: Buffer.from("x"), metadata });
    const fs = createFilesystem({
      store,
      prefix: "",
      stagingDir: join(dir, "staging"),
      log: silentLogger(),
      attributesPath: path,
    });
    await fs.readdir("/d"); // HEADs f, whose version the table then records
    fs.close();
    const head = await store.head({ key: "d/f" });
    const reopened = new KnownAttributes(path);
    expect(reopened.lookup("d/f", head.etag, head.lastModified)).toEqual(metadata);
    reopened.close();
  });
});
