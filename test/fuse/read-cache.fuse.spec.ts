/**
 * End to end through a real mount on the real S3 server: byte-exact reads (sequential, random,
 * overlapping concurrent readers), a warm re-read that never reaches the daemon (kernel page
 * cache), a remount that serves a file from the disk cache without one GET (counted by the
 * daemon's own Prometheus metrics), an object replaced underneath, and `bucketfs cache`; and on
 * both FUSE bindings, a reader that keeps a file open while the object is replaced.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE } from "../../src/read/cached-reader.js";
import { until } from "../helpers/eventually.js";
import { MountMetrics } from "../helpers/metrics.js";
import { bucketfs, sh, tempDir, TestMount } from "../helpers/mount.js";
import { ramp } from "../helpers/ramp.js";
import { freshBucket, s3Server, sdkClient } from "../helpers/s3.js";

const SIZE = 24 * 1024 * 1024 + 12_345; // not a multiple of the chunk size
const METRICS_PORT = 17_000 + (process.pid % 1000);

async function mount(bucket: string, dir: string, cacheDir: string): Promise<void> {
  const result = await bucketfs([
    "mount",
    `s3://${bucket}`,
    dir,
    "--endpoint",
    s3Server().endpoint,
    "--cache-dir",
    cacheDir,
    "--metrics-addr",
    String(METRICS_PORT),
    "--metadata-ttl",
    "1s",
  ]);
  if (result.code !== 0) throw new Error(`mount failed: ${result.stderr}`);
}

async function unmount(dir: string): Promise<void> {
  const result = await bucketfs(["unmount", dir]);
  if (result.code !== 0) throw new Error(`unmount failed: ${result.stderr}`);
}

/** One counter from the daemon's /metrics, summed over label sets that contain `labels`. */
async function metric(name: string, labels = ""): Promise<number> {
  return new MountMetrics(METRICS_PORT).value(name, labels);
}

describe("reads through the chunk cache on a real mount", () => {
  let bucket: string;
  let dir: string;
  let cacheDir: string;
  let local: string;
  const data = ramp(SIZE, 5);

  beforeAll(async () => {
    bucket = await freshBucket("readcache");
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "slide.bin", Body: data }));
    dir = tempDir("rc-mnt");
    cacheDir = tempDir("rc-cache");
    local = tempDir("rc-local");
    writeFileSync(join(local, "slide.bin"), data);
    await mount(bucket, dir, cacheDir);
  });
  afterAll(async () => {
    await unmount(dir).catch(() => undefined);
    await sh(`rm -rf ${local} ${cacheDir}; rmdir ${dir}`); // rmdir: never deletes inside a live mount
  });

  it("reads sequentially byte for byte, and a warm re-read never reaches the daemon", async () => {
    expect(await sh(`cmp ${dir}/slide.bin ${local}/slide.bin && echo same`)).toBe("same\n");
    const reads = await metric("bucketfs_fuse_operations_total", 'op="read"');
    expect(await sh(`cmp ${dir}/slide.bin ${local}/slide.bin && echo same`)).toBe("same\n");
    expect(await metric("bucketfs_fuse_operations_total", 'op="read"')).toBe(reads);
  });

  it("serves random and overlapping concurrent reads byte for byte", async () => {
    const script = `
import os, random, sys, threading
random.seed(7)
size = os.path.getsize("${local}/slide.bin")
errors = []
def reader(seed):
    rnd = random.Random(seed)
    with open("${dir}/slide.bin", "rb", buffering=0) as m, open("${local}/slide.bin", "rb") as l:
        for _ in range(60):
            off = rnd.randrange(0, size); n = rnd.choice([1, 4096, 262144, 1048576 + 7])
            m.seek(off); l.seek(off)
            if m.read(n) != l.read(n): errors.append((seed, off, n))
threads = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print("errors", len(errors), errors[:3])
`;
    writeFileSync(join(local, "random.py"), script);
    // Fresh page cache for the mount's file: drop_caches affects only clean pages, so it is harmless.
    await sh("sync; echo 1 > /proc/sys/vm/drop_caches");
    expect((await sh(`python3 ${local}/random.py`)).trim()).toBe("errors 0 []");
    const concurrent = [0, 3, 5, 11]
      .map(
        (skip) =>
          `(dd if=${dir}/slide.bin bs=1M skip=${skip} status=none | cmp - <(tail -c +$((${skip} * 1048576 + 1)) ${local}/slide.bin) && echo ok) &`,
      )
      .join(" ");
    expect((await sh(`${concurrent} wait`)).trim().split("\n")).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("after a remount, serves the file from the disk cache without a single GET", async () => {
    await unmount(dir);
    await mount(bucket, dir, cacheDir);
    expect(await sh(`cmp ${dir}/slide.bin ${local}/slide.bin && echo same`)).toBe("same\n");
    expect(await metric("bucketfs_store_requests_total", 'op="get"')).toBe(0);
    expect(await metric("bucketfs_store_bytes_total", 'direction="in"')).toBe(0); // nor any other download (native fills)
    expect(await metric("bucketfs_cache_hits_total")).toBeGreaterThanOrEqual(Math.floor(SIZE / DEFAULT_CHUNK_SIZE));
  });

  it("an object replaced underneath is read whole in its new version", async () => {
    const replacement = ramp(SIZE, 77);
    writeFileSync(join(local, "slide.bin"), replacement);
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "slide.bin", Body: replacement }));
    await startsLike(`${dir}/slide.bin`, `${local}/slide.bin`); // the metadata TTL (1 s) has passed
    expect(await sh(`cmp ${dir}/slide.bin ${local}/slide.bin && echo same`)).toBe("same\n");
  });

  it("bucketfs cache stats / verify / clear", async () => {
    await unmount(dir);
    const stats = await bucketfs(["cache", "stats", "--cache-dir", cacheDir]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/chunks\s+\d+/);
    const chunkFile = (await sh(`find ${cacheDir}/read-cache/chunks -type f | head -1`)).trim();
    await sh(`printf 'garbage' | dd of=${chunkFile} bs=1 seek=200 conv=notrunc status=none`);
    const verify = await bucketfs(["cache", "verify", "--cache-dir", cacheDir]);
    expect(verify.stdout).toMatch(/1 bad/);
    const clear = await bucketfs(["cache", "clear", "--cache-dir", cacheDir]);
    expect(clear.code).toBe(0);
    expect((await sh(`find ${cacheDir}/read-cache/chunks -type f | wc -l`)).trim()).toBe("0");
    await mount(bucket, dir, cacheDir);
  });
});

/**
 * The kernel keeps one page cache per file. Before each open decided whether it may use it
 * (src/vfs/page-cache.ts), a reader half-way through a file whose object was replaced ended with
 * bytes of both versions: another process's open dropped the cache and filled it with the new
 * version, which the reader then read. Now the reader reads the version it opened to the end,
 * while the other process reads the new one.
 */
describe.each(["native", "fuse-native"])("a file replaced while it is open (%s binding)", (binding) => {
  let bucket: string;
  let mount: TestMount;
  let local: string;
  const first = ramp(SIZE, 5);
  const second = ramp(SIZE, 77); // same size: only the content tells the versions apart

  beforeAll(async () => {
    bucket = await freshBucket("replaced");
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "slide.bin", Body: first }));
    mount = await TestMount.start(`s3://${bucket}`, ["--fuse-binding", binding, "--metadata-ttl", "1s"]);
    local = tempDir("replaced-local");
  });
  afterAll(async () => {
    if (mount && !mount.stopped) await mount.stop();
    await sh(`rm -rf ${local}`);
  });

  it("a reader open while the object is replaced reads the version it opened, never mixed", async () => {
    const file = mount.path("slide.bin");
    // The store keeps no old versions: after the replacement the first version's bytes exist
    // only in the disk cache, so it must hold them all (a reader pins its version there).
    expect((await sh(`sha256sum < ${file}`)).split(" ")[0]).toBe(sha256(first));
    const reader = halfwayReader(file, Math.floor(SIZE / 2));
    await reader.halfway;
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "slide.bin", Body: second }));
    writeFileSync(join(local, "slide.bin"), second);
    // Another process sees the new version (size and content) while the reader is still open,
    // once the metadata TTL has passed.
    await startsLike(file, `${local}/slide.bin`);
    expect(await sh(`cmp ${file} ${local}/slide.bin && echo same`)).toBe("same\n");
    expect(await reader.finish()).toBe(sha256(first));
    expect(await sh(`cmp ${file} ${local}/slide.bin && echo same`)).toBe("same\n");
  });
});

/** Waits until the mounted file's first 4 KiB are the local file's (a new version shows). */
async function startsLike(mounted: string, localFile: string): Promise<void> {
  await until(
    `${mounted} to start like ${localFile}`,
    async () => (await sh(`cmp -s -n 4096 ${mounted} ${localFile} && echo same || true`)) === "same\n",
  );
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A python reader that reads `half` bytes of `file`, says "half" on stdout, waits for a line on
 * stdin, then reads the rest; `finish` sends the line and resolves with the hash of all it read.
 */
function halfwayReader(file: string, half: number): { halfway: Promise<void>; finish(): Promise<string> } {
  const script = [
    "import hashlib, sys",
    "h = hashlib.sha256()",
    "with open(sys.argv[1], 'rb') as f:",
    "    h.update(f.read(int(sys.argv[2])))",
    "    print('half', flush=True)",
    "    sys.stdin.readline()",
    "    for block in iter(lambda: f.read(1 << 20), b''):",
    "        h.update(block)",
    "print(h.hexdigest(), flush=True)",
  ].join("\n");
  const child = spawn("python3", ["-c", script, file, String(half)], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  const halfway = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith("half\n")) resolve();
    });
    child.stderr.on("data", (chunk: Buffer) => void (err += chunk.toString()));
    void exited.then((code) => reject(new Error(`reader exited (${code}) before half-way: ${err}`)));
  });
  return {
    halfway,
    async finish() {
      child.stdin.end("go\n");
      const code = await exited;
      if (code !== 0) throw new Error(`reader failed (${code}): ${err}`);
      return out.slice("half\n".length).trim();
    },
  };
}
