/** POSIX semantics of the filesystem core over MemoryStore (no kernel involved). */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FsError } from "../../src/vfs/index.js";
import { ramp } from "../helpers/ramp.js";
import { memoryFs, readFile, writeFile } from "../helpers/memory-fs.js";
import { O_APPEND, O_TRUNC, O_WRONLY } from "../helpers/open-flags.js";

const code = (e: unknown): string | undefined => (e instanceof FsError ? e.code : undefined);

describe("filesystem core", () => {
  it("creates, writes and reads back a file, stored as one object with s3fs attributes", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/a.txt", "hello", 0o100640);
    expect((await readFile(fs, "/a.txt")).toString()).toBe("hello");
    const head = await memory.head({ key: "a.txt" });
    expect(head.metadata).toMatchObject({ mode: String(0o100640), uid: "1000", gid: "1000" });
    expect(Number(head.metadata.mtime)).toBeGreaterThan(1e9);
  });

  it("uploads files larger than a part as a multipart upload, byte-exact", async () => {
    const { fs, memory } = memoryFs({ partSize: 4096 });
    const data = ramp(4096 * 5 + 123);
    await writeFile(fs, "/big", data);
    expect(memory.calls.get("uploadPart")).toBe(6);
    expect(await memory.get({ key: "big" })).toEqual(data);
    expect(memory.pendingUploadCount()).toBe(0);
  });

  it("keeps the current content when an existing file is opened for writing", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/f", "0123456789");
    const fh = await fs.open("/f", O_WRONLY);
    await fs.write(fh, Buffer.from("AB"), 4);
    await fs.flush(fh);
    await fs.release(fh);
    expect((await memory.get({ key: "f" })).toString()).toBe("0123AB6789");
  });

  it("appends with O_APPEND and empties with O_TRUNC", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/f", "abc");
    const append = await fs.open("/f", O_WRONLY | O_APPEND);
    await fs.write(append, Buffer.from("def"), 0); // the offset is ignored under O_APPEND
    await fs.release(append);
    expect((await memory.get({ key: "f" })).toString()).toBe("abcdef");
    const trunc = await fs.open("/f", O_WRONLY | O_TRUNC);
    await fs.write(trunc, Buffer.from("x"), 0);
    await fs.flush(trunc);
    await fs.release(trunc);
    expect((await memory.get({ key: "f" })).toString()).toBe("x");
  });

  it("truncates down and up (zero-filled) without a handle", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/f", "abcdef");
    await fs.truncate("/f", 2);
    expect((await memory.get({ key: "f" })).toString()).toBe("ab");
    await fs.truncate("/f", 4);
    expect(await memory.get({ key: "f" })).toEqual(Buffer.from("ab\0\0"));
  });

  it("lists directories from prefixes and from marker objects, hiding keys that cannot be names", async () => {
    const { fs, memory } = memoryFs();
    for (const key of ["top.txt", "implicit/child", "marked/", "a//b", "../escape", "x/./y", `${"n".repeat(256)}`]) {
      await memory.put({ key, body: Buffer.from("1") });
    }
    const names = (await fs.readdir("/")).map((e) => e.name).sort();
    expect(names).toEqual([".", "..", "a", "implicit", "marked", "top.txt", "x"]);
    expect((await fs.getattr("/implicit")).kind).toBe("dir");
    expect((await fs.getattr("/marked")).kind).toBe("dir");
    expect((await fs.readdir("/a")).map((e) => e.name)).toEqual([".", ".."]);
    expect((await fs.readdir("/x")).map((e) => e.name)).toEqual([".", ".."]);
  });

  it("prefers the directory when a key is both a file and a prefix", async () => {
    const { fs, memory } = memoryFs();
    await memory.put({ key: "both", body: Buffer.from("file") });
    await memory.put({ key: "both/inner", body: Buffer.from("x") });
    expect((await fs.getattr("/both")).kind).toBe("dir");
    expect((await fs.readdir("/")).filter((e) => e.name === "both")).toHaveLength(1);
  });

  it("mkdir writes a marker; rmdir refuses non-empty directories and removes empty ones", async () => {
    const { fs, memory } = memoryFs();
    await fs.tree.mkdir("/d", 0o750);
    expect((await memory.head({ key: "d/" })).metadata.mode).toBe(String(0o40750));
    await expect(fs.tree.mkdir("/d", 0o755)).rejects.toSatisfy((e) => code(e) === "EEXIST");
    await writeFile(fs, "/d/f", "x");
    await expect(fs.tree.rmdir("/d")).rejects.toSatisfy((e) => code(e) === "ENOTEMPTY");
    await fs.tree.unlink("/d/f");
    await fs.tree.rmdir("/d");
    await expect(fs.getattr("/d")).rejects.toSatisfy((e) => code(e) === "ENOENT");
  });

  it("renames files and whole directories, replacing an existing target file", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/dir/a", "A").catch(async () => {
      await fs.tree.mkdir("/dir", 0o755);
      await writeFile(fs, "/dir/a", "A");
    });
    await fs.tree.mkdir("/dir/sub", 0o755);
    await writeFile(fs, "/dir/sub/b", "B");
    await writeFile(fs, "/target", "old");
    await fs.tree.rename("/dir/a", "/target");
    expect((await memory.get({ key: "target" })).toString()).toBe("A");
    await fs.tree.rename("/dir", "/moved");
    const keys = (await memory.list({ prefix: "" })).objects.map((o) => o.key).sort();
    expect(keys).toEqual(["moved/", "moved/sub/", "moved/sub/b", "target"]);
    await expect(fs.tree.rename("/moved", "/moved/sub/inside")).rejects.toSatisfy((e) => code(e) === "EINVAL");
  });

  it("renaming a directory onto a non-empty directory fails with ENOTEMPTY", async () => {
    const { fs } = memoryFs();
    await fs.tree.mkdir("/a", 0o755);
    await fs.tree.mkdir("/b", 0o755);
    await writeFile(fs, "/b/x", "x");
    await expect(fs.tree.rename("/a", "/b")).rejects.toSatisfy((e) => code(e) === "ENOTEMPTY");
  });

  it("persists chmod, chown and utimens as object metadata", async () => {
    const { fs, memory } = memoryFs();
    await writeFile(fs, "/f", "data");
    await fs.tree.chmod("/f", 0o600);
    await fs.tree.chown("/f", 42, 0xffffffff);
    await fs.tree.utimens("/f", Date.UTC(2020, 0, 2, 3, 4, 5, 250));
    const head = await memory.head({ key: "f" });
    expect(head.metadata).toMatchObject({ mode: String(0o100600), uid: "42", gid: "1000", mtime: "1577934245.250" });
    expect((await memory.get({ key: "f" })).toString()).toBe("data");
    const stat = await fs.getattr("/f");
    expect(stat.mode).toBe(0o100600);
  });

  it("stores symlinks as s3fs does: the target as the body, S_IFLNK in the mode", async () => {
    const { fs, memory } = memoryFs();
    await fs.tree.symlink("../target", "/link");
    expect(await fs.tree.readlink("/link")).toBe("../target");
    expect(Number((await memory.head({ key: "link" })).metadata.mode) & 0o170000).toBe(0o120000);
  });

  it("reads a symlink written by another client even when only a listing has been seen", async () => {
    const { fs, memory } = memoryFs();
    await memory.put({ key: "l", body: Buffer.from("dest"), metadata: { mode: String(0o120777) } });
    await fs.readdir("/");
    expect(await fs.tree.readlink("/l")).toBe("dest");
  });

  it("reports a failed upload as EIO on flush, keeps the data, and succeeds on a later retry", async () => {
    const { fs, memory, faults, stagingDir } = memoryFs();
    faults.failNext(["put"], "Unreachable");
    const fh = await fs.create("/precious", 0o644);
    await fs.write(fh, Buffer.from("do not lose me"), 0);
    await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "EIO");
    await fs.release(fh);
    const staged = readdirSync(stagingDir);
    expect(staged).toHaveLength(1);
    expect(readFileSync(join(stagingDir, staged[0]), "utf8")).toBe("do not lose me");
    expect((await fs.getattr("/precious")).size).toBe(14); // still visible with its local size
    faults.heal();
    const again = await fs.open("/precious", O_WRONLY);
    await fs.flush(again);
    await fs.release(again);
    expect((await memory.get({ key: "precious" })).toString()).toBe("do not lose me");
    expect(readdirSync(stagingDir)).toHaveLength(0);
  });

  it("aborts the multipart upload when a part fails", async () => {
    const { fs, memory, faults } = memoryFs({ partSize: 1024 });
    faults.failNext(["uploadPart"], "Throttled", 1);
    const fh = await fs.create("/mp", 0o644);
    await fs.write(fh, ramp(5000), 0);
    await expect(fs.flush(fh)).rejects.toSatisfy((e) => code(e) === "EIO");
    expect(memory.pendingUploadCount()).toBe(0);
    await fs.flush(fh);
    await fs.release(fh);
    expect(await memory.get({ key: "mp" })).toEqual(ramp(5000));
  });

  it("an unlinked file that is still open is not uploaded on close", async () => {
    const { fs, memory } = memoryFs();
    const fh = await fs.create("/tmpfile", 0o644);
    await fs.write(fh, Buffer.from("scratch"), 0);
    await fs.tree.unlink("/tmpfile");
    await fs.flush(fh);
    await fs.release(fh);
    await expect(memory.head({ key: "tmpfile" })).rejects.toThrow();
  });

  it("serves a mount prefix as the root", async () => {
    const { fs, memory } = memoryFs({ prefix: "sub/dir/" });
    await memory.put({ key: "sub/dir/inside", body: Buffer.from("in") });
    await memory.put({ key: "sub/outside", body: Buffer.from("out") });
    expect((await fs.readdir("/")).map((e) => e.name)).toEqual([".", "..", "inside"]);
    await writeFile(fs, "/new", "n");
    expect((await memory.get({ key: "sub/dir/new" })).toString()).toBe("n");
  });

  it("gives clear errnos: ENOENT, EISDIR, ENOTDIR, ENAMETOOLONG", async () => {
    const { fs } = memoryFs();
    await writeFile(fs, "/file", "x");
    await expect(fs.getattr("/nope")).rejects.toSatisfy((e) => code(e) === "ENOENT");
    await fs.tree.mkdir("/dir", 0o755);
    await expect(fs.open("/dir", 0)).rejects.toSatisfy((e) => code(e) === "EISDIR");
    await expect(fs.readdir("/file")).rejects.toSatisfy((e) => code(e) === "ENOTDIR");
    await expect(fs.create(`/${"x".repeat(256)}`, 0o644)).rejects.toSatisfy((e) => code(e) === "ENAMETOOLONG");
    await expect(fs.create("/nodir/f", 0o644)).rejects.toSatisfy((e) => code(e) === "ENOENT");
  });
});
