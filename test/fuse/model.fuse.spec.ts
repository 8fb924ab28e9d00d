/**
 * The model-based test through a real mount: random sequences of create, write at offsets,
 * truncate, rename, unlink, mkdir, rmdir, read, fsync, close and remount, applied with the
 * same system calls to a bucketfs mount and to a local directory. After every step the outcome
 * (ok or errno), the bytes read, and the whole tree must match. Fewer runs than the core's
 * model test (BUCKETFS_MOUNT_MODEL_RUNS, default 8), since every step crosses the kernel.
 */
import {
  closeSync,
  ftruncateSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir, TestMount } from "../helpers/mount.js";
import { freshBucket } from "../helpers/s3.js";

const RUNS = Number(process.env.BUCKETFS_MOUNT_MODEL_RUNS ?? 8);
const stats = { sequences: 0, steps: 0 };

/** One side: a directory and its open fds (one per path). */
class Side {
  readonly fds = new Map<string, number>();
  constructor(public root: string) {}
  at(path: string): string {
    return this.root + path;
  }
  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
  tree(dir = ""): string[] {
    const lines: string[] = [];
    for (const name of readdirSync(this.root + dir).sort()) {
      const path = `${dir}/${name}`;
      if (statSync(this.root + path).isDirectory()) lines.push(`${path} dir`, ...this.tree(path));
      else lines.push(`${path} file ${readFileSync(this.root + path).toString("hex")}`);
    }
    return lines;
  }
}

interface World {
  mount: TestMount;
  bucket: string;
  /** Every mount of the run uses it: a remount finds the previous mount's cache and journal. */
  cacheDir: string;
  sides: [Side, Side];
}

type Op = (s: Side) => unknown;

function outcome(op: Op, side: Side): string {
  try {
    const v = op(side);
    return Buffer.isBuffer(v) ? `ok ${v.toString("hex")}` : "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

class Step implements fc.AsyncCommand<object, World> {
  constructor(
    readonly label: string,
    readonly op: Op,
    readonly remount = false,
  ) {}
  toString(): string {
    return this.label;
  }
  check(): boolean {
    return true;
  }
  async run(_m: object, w: World): Promise<void> {
    stats.steps++;
    if (this.remount) {
      w.sides.forEach((s) => s.closeAll());
      await w.mount.stop();
      w.mount = await TestMount.start(`s3://${w.bucket}`, ["--metadata-ttl", "0", "--cache-dir", w.cacheDir]);
      w.sides[0].root = w.mount.dir;
    } else {
      const [mine, theirs] = w.sides.map((s) => outcome(this.op, s));
      expect(mine, `${this.label} outcome`).toBe(theirs);
    }
    expect(w.sides[0].tree(), `tree after ${this.label}`).toEqual(w.sides[1].tree());
  }
}

const DIRS = ["", "/d", "/d/e"];
const anyFile = fc.tuple(fc.constantFrom(...DIRS), fc.constantFrom("a", "b")).map(([d, n]) => `${d}/${n}`);
const anyDir = fc.constantFrom("/d", "/d/e", "/x");
const bytes = fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((a) => Buffer.from(a));
const withFd =
  (path: string, f: (fd: number) => unknown): Op =>
  (s) => {
    const fd = s.fds.get(path);
    return fd === undefined ? undefined : f(fd);
  };
/**
 * A path truncate closes everything first; rename, unlink, mkdir and rmdir run with files held
 * open, so a descriptor follows its file across a rename and keeps an unlinked file readable.
 */
const closed =
  (f: Op): Op =>
  (s) => {
    s.closeAll();
    return f(s);
  };

const create = (p: string): Step =>
  new Step(`create(${p})`, (s) => {
    if (!s.fds.has(p)) s.fds.set(p, openSync(s.at(p), "w+", 0o644));
  });
const unlink = (p: string): Step => new Step(`unlink(${p})`, (s) => unlinkSync(s.at(p)));

const steps = [
  anyFile.map(create),
  anyFile.map(
    (p) =>
      new Step(`open(${p})`, (s) => {
        if (!s.fds.has(p)) s.fds.set(p, openSync(s.at(p), "r+"));
      }),
  ),
  fc.tuple(anyFile, fc.nat(5000), bytes).map(
    ([p, o, d]) =>
      new Step(
        `write(${p}, @${o}, ${d.length}B)`,
        withFd(p, (fd) => writeSync(fd, d, 0, d.length, o)),
      ),
  ),
  fc.tuple(anyFile, fc.nat(6000), fc.nat(4000)).map(
    ([p, o, l]) =>
      new Step(
        `read(${p}, @${o}, ${l})`,
        withFd(p, (fd) => {
          const out = Buffer.alloc(l);
          return out.subarray(0, readSync(fd, out, 0, l, o));
        }),
      ),
  ),
  fc.tuple(anyFile, fc.nat(7000)).map(
    ([p, n]) =>
      new Step(
        `ftruncate(${p}, ${n})`,
        withFd(p, (fd) => ftruncateSync(fd, n)),
      ),
  ),
  fc.tuple(anyFile, fc.nat(7000)).map(
    ([p, n]) =>
      new Step(
        `truncate(${p}, ${n})`,
        closed((s) => truncateSync(s.at(p), n)),
      ),
  ),
  anyFile.map(
    (p) =>
      new Step(
        `fsync(${p})`,
        withFd(p, (fd) => fsyncSync(fd)),
      ),
  ),
  anyFile.map(
    (p) =>
      new Step(`close(${p})`, (s) => {
        const fd = s.fds.get(p);
        if (fd !== undefined) {
          s.fds.delete(p);
          closeSync(fd);
        }
      }),
  ),
  fc.tuple(anyFile, anyFile).map(([a, b]) => new Step(`rename(${a}, ${b})`, (s) => renameSync(s.at(a), s.at(b)))),
  anyFile.map(unlink),
  anyDir.map((p) => new Step(`mkdir(${p})`, (s) => mkdirSync(s.at(p), 0o755))),
  anyDir.map((p) => new Step(`rmdir(${p})`, (s) => rmdirSync(s.at(p)))),
  fc.constant(new Step("remount", () => undefined, true)),
];

describe("a bucketfs mount vs a local directory (model-based)", () => {
  let world: World;

  beforeAll(async () => {
    const bucket = await freshBucket("model");
    const cacheDir = tempDir("model-cache");
    const mount = await TestMount.start(`s3://${bucket}`, ["--metadata-ttl", "0", "--cache-dir", cacheDir]);
    world = { mount, bucket, cacheDir, sides: [new Side(mount.dir), new Side(tempDir("model-local"))] };
  });
  afterAll(async () => {
    world?.sides.forEach((s) => s.closeAll());
    await world?.mount.stop();
    // Unmounted now: the cache dir and the local side are plain directories of this test.
    for (const dir of world ? [world.cacheDir, world.sides[1].root] : []) rmSync(dir, { recursive: true, force: true });
    console.log(`mount model test: ${stats.sequences} sequences, ${stats.steps} steps`);
  });

  /** Each sequence starts from empty trees on both sides. */
  function emptyBothSides(): void {
    for (const side of world.sides) {
      side.closeAll();
      for (const name of readdirSync(side.root)) rmSync(side.at(`/${name}`), { recursive: true, force: true });
    }
  }

  it(`matches after every step (${RUNS} random sequences)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(steps, { maxCommands: 30, size: "+1" }), async (cmds) => {
        stats.sequences++;
        emptyBothSides();
        await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
      }),
      { numRuns: RUNS },
    );
  }, 900_000);

  // Shrunk failures, pinned. Each ran as a random sequence once and failed.
  it("create(/b), unlink(/b): a file unlinked while open leaves no entry (libfuse's .fuse_hidden name)", async () => {
    emptyBothSides();
    for (const step of [create("/b"), unlink("/b")]) await step.run({}, world);
  });
});
