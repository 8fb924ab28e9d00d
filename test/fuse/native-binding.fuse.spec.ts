/**
 * The libfuse3 binding (native/, `--fuse-binding native`) through a real mount on the real S3
 * server: which binding the daemon runs, cached chunks served on the FUSE thread without
 * JavaScript in 1 MiB requests (counted by the daemon's own metrics), a corrupted chunk file
 * caught by its checksum, names that are not UTF-8 refused with EILSEQ, and kill -9 of the
 * daemon during a native-path read and during the upload of a file already closed.
 *
 * Programs (cmp, dd, touch, python3) do every file operation on the mounts; this process only
 * reads the cache dir, the daemon's log and its /metrics. One test serves a fault proxy in this
 * process, so only the async shell helpers are used.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_CHUNK_SIZE } from "../../src/read/cached-reader.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { until } from "../helpers/eventually.js";
import { freePort, MountMetrics } from "../helpers/metrics.js";
import { bucketfs, rmdirQuietly, shTry, tempDir, TestMount } from "../helpers/mount.js";
import { freshBucket, s3Server, sdkClient } from "../helpers/s3.js";
import { listKeys, objectBytes } from "../helpers/sdk.js";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const CHUNK = DEFAULT_CHUNK_SIZE;
const sha = (data: Buffer): string => createHash("sha256").update(data).digest("hex");
const NATIVE = ["--fuse-binding", "native"];

async function ok(command: string): Promise<string> {
  const r = await shTry(command);
  if (r.code !== 0) throw new Error(`${command} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** How long a daemon-side condition may take on a loaded 2-core machine. */
const patiently = { timeoutMs: 120_000 };

/** stop() for afterAll, unless the test stopped the mount itself (a killed one included). */
const stopLater = (mount: TestMount) => (): Promise<void> | undefined => (mount.stopped ? undefined : mount.stop());

/** Processes whose environment mentions `text` (a daemon's request carries its cache dir). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(text)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** A process that is gone and reaped (a zombie would still hold the cache lock). */
const gone = (pid: number): boolean => !existsSync(`/proc/${pid}`);

/** Clean pages of every file, the mount's included: the next read goes to the daemon. */
const dropCaches = (): Promise<string> => ok("echo 3 > /proc/sys/vm/drop_caches");

describe("the native FUSE binding on a real mount", () => {
  let bucket: string;
  let local: string;
  let reference: string;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  /** A mount of the test bucket on the native binding with metrics; stopped after the file at the latest. */
  async function mountNative(
    cacheDir: string,
    extra: string[] = [],
  ): Promise<{ mount: TestMount; metrics: MountMetrics }> {
    const metrics = new MountMetrics(await freePort());
    const mount = await TestMount.start(`s3://${bucket}`, [
      ...NATIVE,
      "--cache-dir",
      cacheDir,
      "--metrics-addr",
      metrics.addr,
      ...extra,
    ]);
    cleanups.push(stopLater(mount));
    return { mount, metrics };
  }

  /** A cache dir holding every chunk of big.bin: read once through a mount, then unmounted cleanly. */
  async function warmCache(): Promise<string> {
    const cacheDir = tempDir("native-cache");
    cleanups.push(() => rmSync(cacheDir, { recursive: true, force: true }));
    const { mount } = await mountNative(cacheDir);
    expect(await ok(`cmp ${mount.path("big.bin")} ${reference} && echo same`)).toBe("same\n");
    await mount.stop();
    return cacheDir;
  }

  beforeAll(async () => {
    bucket = await freshBucket("native");
    local = tempDir("native-local");
    reference = join(local, "big.bin");
    await ok(`head -c ${SIZE} /dev/urandom > ${reference}`);
    await new Upload({
      client: sdkClient(),
      params: { Bucket: bucket, Key: "big.bin", Body: readFileSync(reference) },
    }).done();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse())
      await Promise.resolve(cleanup()).catch((err: unknown) => console.error("cleanup:", err));
    rmSync(local, { recursive: true, force: true });
  });

  it("runs the native binding by default, and an unknown binding fails the mount with a clear message", async () => {
    const byDefault = await TestMount.start(`s3://${bucket}`);
    try {
      expect(byDefault.log()).toContain('"binding":"native"');
    } finally {
      await byDefault.stop();
    }

    const dir = tempDir("bogus-mnt");
    const cacheDir = tempDir("bogus-cache");
    try {
      const result = await bucketfs([
        "mount",
        `s3://${bucket}`,
        dir,
        "--endpoint",
        s3Server().endpoint,
        "--cache-dir",
        cacheDir,
        "--fuse-binding",
        "bogus",
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe('bucketfs: --fuse-binding must be auto, native or fuse-native (got "bogus")');
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(` ${dir} `);
      await until("the refusing daemon to exit", () => processesMentioning(cacheDir).length === 0, patiently);
    } finally {
      rmdirQuietly(dir);
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("serves a re-read after a remount from the cached chunk files without JavaScript, in 1 MiB requests", async () => {
    const cacheDir = await warmCache();
    const { mount, metrics } = await mountNative(cacheDir);
    expect(mount.log()).toContain('"binding":"native"');
    await dropCaches();
    expect(await ok(`cmp ${mount.path("big.bin")} ${reference} && echo same`)).toBe("same\n");
    const native = await metrics.value("bucketfs_fuse_native_reads_total");
    expect(native).toBeGreaterThanOrEqual(SIZE / MiB);
    expect(native).toBeLessThanOrEqual(70); // 1 MiB READs; 128 KiB ones would be 512
    // Every byte once; a page the kernel reclaims mid-cmp under load is read again, so allow one READ more.
    const nativeBytes = await metrics.value("bucketfs_fuse_native_read_bytes_total");
    expect(nativeBytes).toBeGreaterThanOrEqual(SIZE);
    expect(nativeBytes).toBeLessThanOrEqual(SIZE + MiB);
    expect(await metrics.value("bucketfs_fuse_operations_total", 'op="read"')).toBe(0);
    expect(await metrics.value("bucketfs_fuse_native_bad_chunks_total")).toBe(0);
    expect(await metrics.value("bucketfs_store_bytes_total", 'direction="in"')).toBe(0); // not a byte fetched, by any path
    await mount.stop();
  });

  it("catches a chunk file corrupted on disk: the read still returns the right bytes, and it is counted once", async () => {
    const cacheDir = await warmCache();
    // Flip one byte in the data of chunk 5 (after its header) while nothing is mounted.
    const chunkFile = (await ok(`find ${cacheDir}/read-cache/chunks -type f -name '*.5'`)).trim();
    expect(chunkFile.split("\n")).toHaveLength(1);
    const fd = openSync(chunkFile, "r+");
    try {
      const fixed = Buffer.alloc(16);
      readSync(fd, fixed, 0, 16, 0);
      expect(fixed.subarray(0, 8).toString("latin1")).toBe("BFSCHUNK");
      const headerLength = fixed.readUInt32LE(12);
      expect(readFileSync(chunkFile).length).toBe(headerLength + CHUNK);
      const at = headerLength + 1000;
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, at);
      writeSync(fd, Buffer.from([byte[0] ^ 0xff]), 0, 1, at);
    } finally {
      closeSync(fd);
    }

    const { mount, metrics } = await mountNative(cacheDir);
    await dropCaches();
    expect(await ok(`cmp ${mount.path("big.bin")} ${reference} && echo same`)).toBe("same\n");
    expect(await metrics.value("bucketfs_fuse_native_bad_chunks_total")).toBe(1);
    expect(await metrics.value("bucketfs_fuse_operations_total", 'op="read"')).toBeGreaterThanOrEqual(1); // the fallback
    // On close the bad file is dropped; the chunk is fetched again and never counted bad again.
    await until(
      "the bad chunk to be dropped",
      () => mount.log().includes("chunk file bad (checked by the native read path): dropped"),
      { timeoutMs: 30_000 },
    );
    await dropCaches();
    expect(await ok(`cmp ${mount.path("big.bin")} ${reference} && echo same`)).toBe("same\n");
    expect(await metrics.value("bucketfs_fuse_native_bad_chunks_total")).toBe(1);
    await mount.stop();
  });

  it("refuses a name that is not UTF-8 with EILSEQ and creates nothing; UTF-8 names work", async () => {
    const { mount } = await mountNative(tempDir("native-names"));
    cleanups.push(() => rmSync(mount.cacheDir, { recursive: true, force: true }));
    await ok(`mkdir ${mount.path("names")}`);
    const refused = [
      `touch names/$'\\xff'`,
      `mkdir names/$'\\xfe'`,
      `printf x > names/ok && mv names/ok names/$'\\xfd'`,
      `ln -s ok names/$'\\xfc'`,
      `ln -s $'\\xfb' names/link`,
    ];
    for (const command of refused) {
      const r = await shTry(`cd ${mount.dir} && ${command}`);
      expect(r.code, command).not.toBe(0);
      expect(r.stderr, command).toContain("Invalid or incomplete multibyte or wide character");
    }
    const name = "caf\u00e9 na\u00efve.txt";
    await ok(`cd ${mount.dir} && printf 'accented' > 'names/${name}' && cat 'names/${name}' > /dev/null`);
    expect((await ok(`cd ${mount.path("names")} && LC_ALL=C ls -A`)).split("\n").filter(Boolean).sort()).toEqual(
      [name, "ok"].sort(),
    );
    expect(await ok(`cat '${mount.path(`names/${name}`)}'`)).toBe("accented");
    expect((await listKeys(bucket, "names/")).sort()).toEqual(["names/", `names/${name}`, "names/ok"].sort());
    expect((await objectBytes(bucket, `names/${name}`)).toString()).toBe("accented");
    await mount.stop();
  });

  it("kill -9 during native-path reads loses nothing: after a remount the cache serves the exact bytes natively", async () => {
    const cacheDir = await warmCache();
    const { mount, metrics } = await mountNative(cacheDir);
    const marker = join(local, "first-pass");
    const stop = join(local, "stop");
    const reader = join(local, "reader.py");
    // Reads the file over and over in 1 MiB preads, dropping its pages after each so every pass
    // reaches the daemon; compares each answer with the local copy until the mount goes away.
    writeFileSync(
      reader,
      `
import errno, os, sys
path, ref, marker, stop = sys.argv[1:5]
want = open(ref, "rb").read()
fd = os.open(path, os.O_RDONLY)
passes = verified = mismatches = 0
error = ""
try:
    while passes < 2000 and not os.path.exists(stop):
        for off in range(0, len(want), 1 << 20):
            got = os.pread(fd, 1 << 20, off)
            if got != want[off:off + len(got)] or not got: mismatches += 1
            verified += len(got)
            os.posix_fadvise(fd, off, 1 << 20, os.POSIX_FADV_DONTNEED)
        passes += 1
        if passes == 1: open(marker, "w").close()
except OSError as e:
    error = errno.errorcode.get(e.errno, str(e.errno))
print(f"passes={passes} verified={verified} mismatches={mismatches} error={error}")
`,
    );
    await dropCaches();
    const reading = shTry(`python3 ${reader} ${mount.path("big.bin")} ${reference} ${marker} ${stop}`);
    try {
      await until("a first full pass", () => existsSync(marker), patiently);
      await until(
        "native reads in progress",
        async () => (await metrics.value("bucketfs_fuse_native_reads_total")) >= 2 * (SIZE / MiB),
        patiently,
      );
      mount.kill("SIGKILL");
    } catch (failure) {
      // Only a failed wait stops the reader by hand. After the kill it must run into the dead
      // mount on its own: a stop file written then races its next pread and hides the error.
      writeFileSync(stop, "");
      throw failure;
    }
    const result = await reading;
    expect(result.code, result.stderr).toBe(0);
    const report = Object.fromEntries(
      result.stdout
        .trim()
        .split(" ")
        .map((kv) => kv.split("=")),
    );
    expect(report.mismatches).toBe("0");
    expect(Number(report.verified)).toBeGreaterThanOrEqual(SIZE);
    expect(report.error).toMatch(/^(ENOTCONN|ECONNABORTED)$/); // the reads in flight end with an error, never wrong bytes
    await until("the killed daemon to be reaped", () => gone(mount.pid), patiently);
    await mount.stop(); // detaches the dead mount

    const again = await mountNative(cacheDir);
    await dropCaches();
    expect(await ok(`cmp ${again.mount.path("big.bin")} ${reference} && echo same`)).toBe("same\n");
    expect(await again.metrics.value("bucketfs_fuse_native_reads_total")).toBeGreaterThanOrEqual(SIZE / MiB);
    expect(await again.metrics.value("bucketfs_fuse_operations_total", 'op="read"')).toBe(0);
    expect(await again.metrics.value("bucketfs_fuse_native_bad_chunks_total")).toBe(0);
    await again.mount.stop();
  });

  it("kill -9 while the upload of a closed file is in flight: the upload journal completes it after a remount", async () => {
    const crashBucket = await freshBucket("native-crash");
    const proxy = await new FaultProxy(new URL(s3Server().endpoint)).start();
    cleanups.push(() => proxy.stop());
    const cacheDir = tempDir("native-crash-cache");
    cleanups.push(() => rmSync(cacheDir, { recursive: true, force: true }));
    const files = { "small.bin": 300_000, "multi.bin": 20 * MiB + 4321 };
    const hashes: Record<string, string> = {};
    for (const [name, size] of Object.entries(files)) {
      await ok(`head -c ${size} /dev/urandom > ${join(local, name)}`);
      hashes[name] = sha(readFileSync(join(local, name)));
    }
    const first = await TestMount.start(`s3://${crashBucket}`, [
      ...NATIVE,
      "--endpoint",
      proxy.endpoint,
      "--cache-dir",
      cacheDir,
    ]);
    cleanups.push(stopLater(first));
    expect(first.log()).toContain('"binding":"native"');

    // Uploads fail: each close reports EIO and keeps the data, journaled for the next mount.
    proxy.plan = { failMethods: ["PUT", "POST"], status: 503 };
    for (const name of Object.keys(files)) {
      const copy = await shTry(`cp ${join(local, name)} ${first.path(name)}`);
      expect(copy.code, name).not.toBe(0);
      expect(copy.stderr).toMatch(/Input\/output error/);
    }
    // The next close retries the upload; the proxy holds it, so it is in flight when the daemon dies.
    proxy.plan = { failMethods: ["PUT", "POST"], stallMs: 600_000, reset: true };
    const requests = (): number => (proxy.seen.get("PUT") ?? 0) + (proxy.seen.get("POST") ?? 0);
    const before = requests();
    const retries = Object.keys(files).map((name) => shTry(`python3 -c 'open("${first.path(name)}", "ab").close()'`));
    await until("both retried uploads to reach the server", () => requests() >= before + 2, patiently);
    first.kill("SIGKILL");
    for (const retry of await Promise.all(retries))
      expect(retry.code, "a close whose upload never finished must not succeed").not.toBe(0);
    proxy.plan = {};
    await until("the killed daemon to be reaped", () => gone(first.pid), patiently);
    await first.stop();
    expect(await listKeys(crashBucket)).toEqual([]);

    const second = await TestMount.start(`s3://${crashBucket}`, [...NATIVE, "--cache-dir", cacheDir]);
    cleanups.push(stopLater(second));
    await until("the journaled uploads to complete", async () => (await listKeys(crashBucket)).length === 2, {
      timeoutMs: 180_000,
      intervalMs: 250,
    });
    for (const name of Object.keys(files)) {
      expect(sha(await objectBytes(crashBucket, name)), name).toBe(hashes[name]);
      expect(await ok(`cmp ${second.path(name)} ${join(local, name)} && echo same`)).toBe("same\n");
    }
    await second.stop();
  });
});
