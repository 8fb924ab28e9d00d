/**
 * Write-back through a real mount and a real S3 server: byte-exact content for the common write
 * patterns, partial rewrites that move only the changed parts, no data lost when the daemon is killed (-9) mid-way through writing 20 files, and
 * conflict safety against another client's edit. Uses only async shell helpers: this process
 * serves the fault proxy, and a blocking spawn would deadlock it.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers/eventually.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { freePort, MountMetrics, sumOf } from "../helpers/metrics.js";
import { shTry, tempDir, TestMount } from "../helpers/mount.js";
import { freshBucket, s3Server, sdkClient } from "../helpers/s3.js";
import { listKeys, objectBytes } from "../helpers/sdk.js";

const sha = (data: Buffer): string => createHash("sha256").update(data).digest("hex");
async function ok(command: string): Promise<string> {
  const r = await shTry(command);
  if (r.code !== 0) throw new Error(`${command} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

describe("write patterns through the mount are byte-exact in the bucket", () => {
  let bucket: string;
  let mount: TestMount;
  let local: string;
  beforeAll(async () => {
    bucket = await freshBucket("wpat");
    mount = await TestMount.start(`s3://${bucket}`, ["--part-size", "5M"]);
    local = tempDir("wlocal");
  });
  afterAll(async () => {
    await mount?.stop();
  });

  /** Applies the same shell edit to a local file and to the mounted one, then compares with the SDK. */
  async function same(name: string, edit: (file: string) => string): Promise<void> {
    await ok(edit(join(local, name)));
    await ok(edit(mount.path(name)));
    const expected = readFileSync(join(local, name));
    expect(sha(await objectBytes(bucket, name))).toBe(sha(expected));
    expect(sha(Buffer.from(await ok(`base64 -w0 ${mount.path(name)}`), "base64"))).toBe(sha(expected));
  }

  it("sequential (multipart), random, append, truncate-then-write and overwrite", async () => {
    const seed = join(local, "seed.bin");
    await ok(`head -c 13000000 /dev/urandom > ${seed}`);
    await same("seq.bin", (f) => `dd if=${seed} of=${f} bs=1M status=none`);
    await same("seq.bin", (f) => `printf 'PATCHED' | dd of=${f} bs=1 seek=7000000 conv=notrunc status=none`);
    await same("seq.bin", (f) => `head -c 1048576 ${seed} >> ${f}`);
    await same("seq.bin", (f) => `truncate -s 3000000 ${f} && printf tail >> ${f}`);
    await same("small.txt", (f) => `printf 'first version' > ${f}`);
    await same("small.txt", (f) => `printf 'second' > ${f}`);
    await same(
      "holes.bin",
      (f) =>
        `dd if=${seed} of=${f} bs=4096 count=3 seek=100 status=none && dd if=${seed} of=${f} bs=4096 count=1 seek=7 conv=notrunc status=none`,
    );
  });
});

describe("partial rewrites of a large object", () => {
  const PART = 8 * 1024 * 1024;
  const METRICS_PORT = 18_000 + (process.pid % 1000);
  let bucket: string;
  let mount: TestMount;
  let local: string;

  beforeAll(async () => {
    bucket = await freshBucket("partial");
    local = tempDir("partial");
    await ok(`head -c ${6 * PART + 12_345} /dev/urandom > ${join(local, "big.bin")}`);
    await sdkClient().send(
      new PutObjectCommand({ Bucket: bucket, Key: "big.bin", Body: readFileSync(join(local, "big.bin")) }),
    );
    mount = await TestMount.start(`s3://${bucket}`, [
      "--part-size",
      "8M",
      "--metrics-addr",
      `127.0.0.1:${METRICS_PORT}`,
    ]);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  /** Bytes the daemon sent to / received from the store, and its copyPart requests. */
  async function traffic(): Promise<{ out: number; in: number; copies: number }> {
    const text = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
    const value = (pattern: string): number => Number(new RegExp(`^${pattern} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
    return {
      out: value('bucketfs_store_bytes_total\\{direction="out"\\}'),
      in: value('bucketfs_store_bytes_total\\{direction="in"\\}'),
      copies: value('bucketfs_store_requests_total\\{op="copyPart",status="ok"\\}'),
    };
  }

  /** Runs the same edit on the local copy and through the mount; returns the daemon's traffic for it. */
  async function edit(command: (file: string) => string): Promise<{ out: number; in: number; copies: number }> {
    await ok(command(join(local, "big.bin")));
    const before = await traffic();
    await ok(command(mount.path("big.bin")));
    const after = await traffic();
    expect(sha(await objectBytes(bucket, "big.bin"))).toBe(sha(readFileSync(join(local, "big.bin"))));
    return { out: after.out - before.out, in: after.in - before.in, copies: after.copies - before.copies };
  }

  it("appending 1 MiB sends about 1 MiB: unchanged parts are copied server-side", async () => {
    await ok(`head -c 1048576 /dev/urandom > ${join(local, "tail.bin")}`);
    const moved = await edit((f) => `cat ${join(local, "tail.bin")} >> ${f}`);
    expect(moved.out).toBeLessThanOrEqual(2 * PART);
    expect(moved.in).toBeLessThanOrEqual(PART);
    expect(moved.copies).toBeGreaterThanOrEqual(1);
  });

  it("a small edit in the middle fetches and sends one part, not the object", async () => {
    const moved = await edit(
      (f) => `printf 'EDITED' | dd of=${f} bs=1 seek=${3 * PART + 100} conv=notrunc status=none`,
    );
    expect(moved.out).toBe(PART);
    expect(moved.in).toBeLessThanOrEqual(PART);
  });
});

describe("kill -9 of the daemon while writing 20 files", () => {
  let bucket: string;
  let proxy: FaultProxy;

  beforeAll(async () => {
    bucket = await freshBucket("crash");
    proxy = await new FaultProxy(new URL(s3Server().endpoint)).start();
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("a second mount of the same source on the same cache directory is refused while the first lives (finding 6)", async () => {
    const cacheDir = tempDir("twin-cache");
    const first = await TestMount.start(`s3://${bucket}`, ["--cache-dir", cacheDir]);
    try {
      // The second daemon's recovery would adopt the first one's journaled files and delete their staging.
      const second = await TestMount.start(`s3://${bucket}`, ["--cache-dir", cacheDir]).catch((err: unknown) => err);
      if (second instanceof TestMount) await second.stop();
      expect(second).toBeInstanceOf(Error);
      expect((second as Error).message).toMatch(new RegExp(`staging directory .* is in use by process ${first.pid}`));
    } finally {
      await first.stop();
    }
    const again = await TestMount.start(`s3://${bucket}`, ["--cache-dir", cacheDir]);
    await again.stop();
  });

  it("every file whose close returned before the kill is in the bucket intact after a remount", async () => {
    const cacheDir = tempDir("crash-cache");
    const pidFile = join(tempDir("crash-pid"), "pid");
    const first = await TestMount.start(`s3://${bucket}`, [
      "--endpoint",
      proxy.endpoint,
      "--cache-dir",
      cacheDir,
      "--pid-file",
      pidFile,
    ]);
    const src = tempDir("crash-src");
    const progress = join(src, "closed.log");
    const hashes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const data = Buffer.alloc(200_000 + i * 1000, i + 1);
      data.write(`file ${i}`);
      writeFileSync(join(src, `f${i}`), data);
      hashes.push(sha(data));
    }
    // Files 0-9 upload normally; then PUTs fail, so closes of 10+ report EIO with the data journaled.
    const writer = (from: number, to: number): Promise<unknown> =>
      shTry(`for i in $(seq ${from} ${to}); do cp ${src}/f$i ${first.path("")}/f$i; echo "$i $?" >> ${progress}; done`);
    await writer(0, 9);
    proxy.plan = { failMethods: ["PUT"], status: 503 };
    const rest = writer(10, 19);
    const closedLines = (): string[] => (existsSync(progress) ? readFileSync(progress, "utf8").trim().split("\n") : []);
    await until("13 copies to have closed", () => closedLines().length >= 13);
    const pid = Number(readFileSync(pidFile, "utf8"));
    process.kill(pid, "SIGKILL");
    const closedBeforeKill = closedLines().map((line) => Number(line.split(" ")[0]));
    expect(closedBeforeKill.length).toBeGreaterThanOrEqual(13);
    expect(
      closedLines()
        .slice(10)
        .every((line) => line.endsWith(" 1")),
    ).toBe(true); // EIO reached cp
    await rest; // the copies after the kill fail at once (the mount is dead)
    await first.stop(); // detaches the dead mount and clears its record
    proxy.plan = {};

    const second = await TestMount.start(`s3://${bucket}`, ["--cache-dir", cacheDir]);
    try {
      const wanted = closedBeforeKill.map((i) => `f${i}`);
      await until(
        "the journaled uploads to reach the bucket",
        async () => {
          const keys = new Set(await listKeys(bucket));
          return wanted.every((k) => keys.has(k));
        },
        { intervalMs: 250 },
      );
      for (const i of closedBeforeKill) expect(sha(await objectBytes(bucket, `f${i}`)), `f${i}`).toBe(hashes[i]);
      // Files whose close had not returned may or may not be there, but never truncated.
      for (const key of await listKeys(bucket))
        expect(sha(await objectBytes(bucket, key))).toBe(hashes[Number(key.slice(1))]);
      expect(sha(Buffer.from(await ok(`base64 -w0 ${second.path("f12")}`), "base64"))).toBe(hashes[12]);
    } finally {
      await second.stop();
    }
  });
});

describe("conflict safety", () => {
  it("a file changed by another client while open is not overwritten; ours is kept as a conflict copy", async () => {
    const bucket = await freshBucket("conflict");
    const mount = await TestMount.start(`s3://${bucket}`);
    try {
      await ok(`printf 'original' > ${mount.path("notes.txt")}`);
      const signals = tempDir("conflict-go");
      const go = join(signals, "go");
      const opened = join(signals, "opened");
      // Opens for update, says so, waits until the other client has written, then writes and closes.
      const edit = shTry(`python3 -c "
import os, sys, time
f = open('${mount.path("notes.txt")}', 'r+b')
open('${opened}', 'w').close()
while not os.path.exists('${go}'): time.sleep(0.05)
f.write(b'our edit')
f.close()
"`);
      await until("the editor to have opened the file", () => existsSync(opened), { timeoutMs: 120_000 });
      await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "notes.txt", Body: "their edit" }));
      writeFileSync(go, "");
      const result = await edit;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/Input\/output error/);
      expect((await objectBytes(bucket, "notes.txt")).toString()).toBe("their edit");
      const copies = (await listKeys(bucket)).filter((k) => k.startsWith("notes.txt.conflict-"));
      expect(copies).toHaveLength(1);
      expect((await objectBytes(bucket, copies[0])).toString()).toBe("our edit");
    } finally {
      await mount.stop();
    }
  });
});

describe("a full staging disk", () => {
  it("gives the writer ENOSPC and leaves no object (complete or partial) in the bucket", async () => {
    const bucket = await freshBucket("enospc");
    const cacheDir = tempDir("tiny-cache");
    await ok(`mount -t tmpfs -o size=4m tmpfs ${cacheDir}`);
    try {
      const metrics = new MountMetrics(await freePort());
      const mount = await TestMount.start(`s3://${bucket}`, [
        "--metrics-addr",
        metrics.addr,
        "--cache-dir",
        cacheDir,
        "--part-size",
        "1M",
        "--cache-size",
        "0",
      ]);
      try {
        const result = await shTry(`head -c 12000000 /dev/urandom > ${mount.path("big.bin")}`);
        expect(result.code).not.toBe(0);
        expect(result.stderr).toMatch(/No space left on device/);
        expect((await shTry(`printf small > ${mount.path("small.txt")}`)).code).toBe(0); // the mount still works
        // Nothing more can reach the bucket once the daemon holds no change still to upload and no
        // failed one to retry: its own gauges say so (a signal, not a pause long enough to hope).
        const idle = /^bucketfs_dirty_bytes 0$[\s\S]*^bucketfs_pending_uploads 0$[\s\S]*^bucketfs_failed_uploads 0$/m;
        await until("the daemon to hold no upload", async () => idle.test(await metrics.text()));
        const writesToBucket = async (): Promise<number> => {
          const text = await metrics.text();
          const ops = ["put", "createMultipart", "uploadPart", "completeMultipart"];
          return ops.reduce((sum, op) => sum + sumOf(text, "bucketfs_store_requests_total", `op="${op}"`), 0);
        };
        const written = await writesToBucket();
        // The shell's open/dup/close flushed the new file once while still empty; that empty
        // version is all the bucket may hold — never the partial data.
        expect(await listKeys(bucket)).toEqual(["big.bin", "small.txt"]);
        expect((await objectBytes(bucket, "big.bin")).length).toBe(0);
        expect(await writesToBucket()).toBe(written); // and nothing was sent meanwhile
        // Every multipart upload the partial file started was aborted (none was completed).
        const started = await metrics.value("bucketfs_store_requests_total", 'op="createMultipart"');
        expect(await metrics.value("bucketfs_store_requests_total", 'op="abortMultipart"', 'status="ok"')).toBe(
          started,
        );
        expect(await metrics.value("bucketfs_store_requests_total", 'op="completeMultipart"')).toBe(0);
      } finally {
        await mount.stop();
      }
    } finally {
      await shTry(`umount ${cacheDir}`);
    }
  });
});
