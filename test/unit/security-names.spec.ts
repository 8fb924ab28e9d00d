/**
 * Issue 15, finding 8 (bucket side): listed keys that cannot be file names — an empty segment
 * (`a//b`), `.` or `..` segments, NUL, a segment over 255 bytes — neither break a listing nor
 * put a bogus entry in it. They are hidden and logged once per key (src/vfs/paths.ts).
 *
 * This part of the finding did not hold: the namespace already hid such keys. The test pins it.
 * Names that are not UTF-8 are refused with EILSEQ by the native binding (see
 * test/fuse/security-hardening.fuse.spec.ts).
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { createFilesystem } from "../../src/vfs/index.js";
import { testTempDir } from "../helpers/temp-dirs.js";

describe("listed keys that cannot be file names", () => {
  it("are hidden from every listing, never reachable, and logged once each", async () => {
    const memory = new MemoryStore({ bucket: "b" });
    const hostile = ["a//b", "a/./c", "a/../d", "./z", "../up", "x/", "nul\0k", `${"L".repeat(256)}`, "deep/x//y"];
    for (const key of [...hostile, "ok.txt", "a/fine", "deep/x/y"]) await memory.put({ key, body: Buffer.from(key) });
    const lines: string[] = [];
    const log = pino(
      { level: "warn" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString().split("\n").filter(Boolean));
          done();
        },
      }),
    );
    const stagingDir = testTempDir("bucketfs-sec-names-");
    const fs = createFilesystem({ store: memory, prefix: "", stagingDir, log, uid: 1000, gid: 1000, metadataTtlMs: 0 });
    const names = async (path: string): Promise<string[]> =>
      (await fs.readdir(path))
        .map((e) => e.name)
        .filter((n) => n !== "." && n !== "..")
        .sort();
    for (let round = 0; round < 2; round++) {
      expect(await names("/")).toEqual(["a", "deep", "ok.txt", "x"]);
      expect(await names("/a")).toEqual(["fine"]);
      expect(await names("/deep")).toEqual(["x"]);
      expect(await names("/deep/x")).toEqual(["y"]);
      expect(await names("/x")).toEqual([]);
    }
    expect((await fs.getattr("/deep/x/y")).size).toBe("deep/x/y".length);
    const hidden = lines.map((l) => JSON.parse(l) as { msg: string; key: string; reason: string });
    expect(hidden.every((h) => h.msg === "object hidden: its key cannot be shown as a file name")).toBe(true);
    // Each hidden key (or the common prefix it appears as) once, although every listing ran twice.
    expect(hidden.map((h) => h.key).sort()).toEqual(
      ["../", "./", "L".repeat(256), "a//", "a/../", "a/./", "deep/x//", "nul\0k"].sort(),
    );
  });
});
