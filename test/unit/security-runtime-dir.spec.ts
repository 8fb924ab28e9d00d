/**
 * Issue 15, finding 2: the runtime directory (control sockets, mount records, exit reports) must
 * be the user's own and private. A directory someone else created first — `/tmp/bucketfs-<uid>`
 * made by another user, or any XDG_RUNTIME_DIR/BUCKETFS_RUNTIME_DIR location — is refused with an
 * error that says what to do, like ssh-agent and tmux do. Needs root (chown to uid 65534).
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { privateRuntimeDir, RuntimeDirError } from "../../src/mount/dirs.js";
import { allMountRecords, readMountRecord, writeExitReport, writeMountRecord } from "../../src/cli/mount-table.js";
import { controlRequest, startControlServer } from "../../src/mount/control.js";

const OTHER = 65534;
const me = process.getuid!();
let base: string;
const savedEnv = process.env.BUCKETFS_RUNTIME_DIR;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "bucketfs-sec-rt-"));
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env.BUCKETFS_RUNTIME_DIR;
  else process.env.BUCKETFS_RUNTIME_DIR = savedEnv;
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A directory made by someone else first, with the right mode: only its owner is wrong. */
function squatted(name: string): string {
  const dir = join(base, name);
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  chownSync(dir, OTHER, OTHER);
  return dir;
}

const ownerMessage = (dir: string): string =>
  `runtime directory ${dir} is owned by uid ${OTHER}, not by you (uid ${me}): someone else may have created it to intercept bucketfs's ` +
  "control sockets and mount records. Remove it (as its owner or root), or set XDG_RUNTIME_DIR or BUCKETFS_RUNTIME_DIR to a private directory, then try again";

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

describe("the runtime directory", () => {
  it("is refused when another user owns it (BUCKETFS_RUNTIME_DIR and XDG_RUNTIME_DIR/bucketfs)", () => {
    const dir = squatted("by-other");
    const err = thrown(() => privateRuntimeDir({ BUCKETFS_RUNTIME_DIR: dir }));
    expect(err).toBeInstanceOf(RuntimeDirError);
    expect(err.message).toBe(ownerMessage(dir));
    const xdg = join(base, "xdg");
    mkdirSync(xdg, { mode: 0o700 });
    const inXdg = join(xdg, "bucketfs");
    mkdirSync(inXdg, { mode: 0o700 });
    chownSync(inXdg, OTHER, OTHER);
    expect(thrown(() => privateRuntimeDir({ XDG_RUNTIME_DIR: xdg })).message).toBe(ownerMessage(inXdg));
  });

  it("is refused when it is not mode 0700, or is a symbolic link", () => {
    const open = join(base, "open");
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    expect(thrown(() => privateRuntimeDir({ BUCKETFS_RUNTIME_DIR: open })).message).toBe(
      `runtime directory ${open} has mode 0755, but must be 0700 (private to you): if it is yours, run chmod 700 ${open}; otherwise remove it; then try again`,
    );
    const target = join(base, "target");
    mkdirSync(target, { mode: 0o700 });
    const link = join(base, "link");
    symlinkSync(target, link);
    expect(thrown(() => privateRuntimeDir({ BUCKETFS_RUNTIME_DIR: link })).message).toBe(
      `runtime directory ${link} is not a directory (a symbolic link?): remove it, or set XDG_RUNTIME_DIR or BUCKETFS_RUNTIME_DIR to a private directory, then try again`,
    );
  });

  it("is created 0700 when missing, and accepted when it is the user's own and 0700", () => {
    const dir = join(base, "fresh", "rt");
    expect(privateRuntimeDir({ BUCKETFS_RUNTIME_DIR: dir })).toBe(dir);
    const st = statSync(dir);
    expect([st.uid, st.mode & 0o777]).toEqual([me, 0o700]);
    expect(privateRuntimeDir({ BUCKETFS_RUNTIME_DIR: dir })).toBe(dir);
  });

  it("mount records and exit reports are neither written into nor read from a squatted directory", () => {
    const dir = squatted("records");
    process.env.BUCKETFS_RUNTIME_DIR = dir;
    // What a squatter plants: a record that would make `bucketfs unmount` signal a pid of its choice.
    chownSync(dir, me, me);
    writeFileSync(
      join(dir, "planted.json"),
      JSON.stringify({ pid: 1, source: "s3://x", mountpoint: "/mnt/x", startedAt: "" }),
    );
    chownSync(dir, OTHER, OTHER);
    const record = { pid: process.pid, source: "s3://b", mountpoint: "/mnt/b", startedAt: new Date().toISOString() };
    expect(thrown(() => writeMountRecord(record)).message).toBe(ownerMessage(dir));
    expect(thrown(() => writeExitReport("/mnt/b", { failed: [] })).message).toBe(ownerMessage(dir));
    expect(thrown(() => allMountRecords()).message).toBe(ownerMessage(dir));
    expect(thrown(() => readMountRecord("/mnt/x")).message).toBe(ownerMessage(dir));
    expect(readdirSync(dir)).toEqual(["planted.json"]);
  });

  it("a control socket is neither served from nor connected to in a squatted directory", async () => {
    const dir = squatted("sockets");
    const planted = join(dir, "planted.sock");
    let connections = 0;
    const sockets = new Set<Socket>();
    // The squatter's listener, answering like a daemon would.
    chownSync(dir, me, me);
    const fake: Server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.end(`${JSON.stringify({ ok: true, url: "https://attacker.example/" })}\n`);
    });
    await new Promise<void>((resolve) => fake.listen(planted, resolve));
    chownSync(dir, OTHER, OTHER);
    try {
      const asked = await controlRequest(planted, { op: "sign", path: "/secret.txt", expiresSeconds: 60 }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(asked?.message).toBe(ownerMessage(dir));
      expect(connections).toBe(0);
      const served = await startControlServer(join(dir, "mine.sock"), async () => ({ ok: true })).then(
        (s) => {
          s.close();
          return undefined;
        },
        (err: Error) => err,
      );
      expect(served?.message).toBe(ownerMessage(dir));
      expect(existsSync(join(dir, "mine.sock"))).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => fake.close(resolve));
    }
  });
});
