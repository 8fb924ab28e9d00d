/**
 * Reads and writes through a real mount while a fault-injecting proxy sits between bucketfs and
 * the S3 server (500, 503 SlowDown, resets, resets mid-body, stalls), and while an S3 server
 * restarts. The rules: transient faults never surface (every read returns the exact bytes, every
 * write ends intact in the bucket with close reporting success); only a read whose requests keep
 * failing is EIO. The EIO tally must match what the tests ask for, and each restart must happen
 * while its transfer is running.
 *
 * The proxy runs in this process, so every command on the mount uses the async `shTry`.
 * Sizes: BUCKETFS_FAULT_MIB (default 32) for the fault rounds, BUCKETFS_RESTART_MIB (default
 * 256) for the restart tests; scripts/faults-long.sh runs them with 1 GiB.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy, type FaultPlan } from "../helpers/fault-proxy.js";
import { until } from "../helpers/eventually.js";
import { freePort, MountMetrics } from "../helpers/metrics.js";
import { shTry, tempDir, TestMount } from "../helpers/mount.js";
import { ramp } from "../helpers/ramp.js";
import { bucketfsEnv, freshBucket, s3Server, sdkClient } from "../helpers/s3.js";
import { objectSha256 } from "../helpers/sdk.js";
import { startS3Somewhere, type S3TestServer } from "../helpers/global-setup.js";

const MiB = 1024 * 1024;
const FAULT_MIB = Number(process.env.BUCKETFS_FAULT_MIB ?? 32);
const RESTART_MIB = Number(process.env.BUCKETFS_RESTART_MIB ?? 256);
const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const tally = { faults: 0, operations: 0, bytesVerified: 0, eio: 0, dataLost: 0 };
/** EIOs the tests ask for (a read that keeps failing); any other EIO is a failure. */
let eioExpected = 0;

/**
 * Every round's faults are transient: a request gets 5 attempts (resets and refusals, outages,
 * are retried for longer), and a stall stays below --request-timeout. So the exact expectation
 * of every round is no EIO at all and every byte right: with a fault rate r a request fails
 * only after 5 faults in a row (r^5: 7.6e-5 at 0.15, for some 20 requests a round).
 */
const ROUNDS: Array<{ name: string; plan: FaultPlan; faulty: boolean }> = [
  { name: "500 InternalError", plan: { status: 500, rate: 0.15, seed: 1 }, faulty: true },
  { name: "503 SlowDown", plan: { status: 503, rate: 0.15, seed: 2 }, faulty: true },
  { name: "connection reset", plan: { reset: true, rate: 0.2, seed: 3 }, faulty: true },
  { name: "reset mid-body (truncated body)", plan: { midBodyResetAfter: 70_000, rate: 0.15, seed: 4 }, faulty: true },
  { name: "stall then answer", plan: { stallMs: 1_500, rate: 0.1, seed: 5 }, faulty: true },
  { name: "latency", plan: { latencyMs: 40 }, faulty: false },
];

describe("reads and writes under injected faults", () => {
  let proxy: FaultProxy;
  let bucket: string;
  let mount: TestMount;
  const data = ramp(FAULT_MIB * MiB, 7);
  const expected = sha256(data);

  beforeAll(async () => {
    bucket = await freshBucket("faults");
    await new Upload({ client: sdkClient(), params: { Bucket: bucket, Key: "big.bin", Body: data } }).done();
    proxy = await new FaultProxy(new URL(s3Server().endpoint)).start();
    // No disk cache: every read goes to the (faulty) network.
    mount = await TestMount.start(`s3://${bucket}`, [
      "--endpoint",
      proxy.endpoint,
      "--cache-size",
      "0",
      "--request-timeout",
      "5s",
      "--metadata-ttl",
      "0",
    ]);
  });
  afterAll(async () => {
    if (proxy) {
      proxy.plan = {};
      tally.faults += proxy.faultCount;
    }
    await mount?.stop();
    await proxy?.stop();
    console.log(`faults summary: ${JSON.stringify(tally)}`);
  });

  // Transient faults never surface: the only EIOs are the ones a test asked for.
  afterAll(() => {
    expect(tally.eio).toBe(eioExpected);
  });

  for (const [n, round] of ROUNDS.entries()) {
    it(`reads exact bytes and writes intact through transient faults: ${round.name}`, async () => {
      // A fresh object per round: the kernel page cache (auto_cache) must not answer for it.
      const key = `in/${n}.bin`;
      await new Upload({ client: sdkClient(), params: { Bucket: bucket, Key: key, Body: data } }).done();
      const faultsBefore = proxy.faultCount;
      proxy.plan = round.plan.latencyMs ? round.plan : { ...round.plan, failMethods: ["GET", "PUT", "POST"] };
      // Regions first (each one fresh from the network), then the whole file.
      for (const offset of [0, 5 * MiB + 12345, data.length - 70_000]) {
        const r = await shTry(
          `set -o pipefail; dd if=${mount.path(key)} bs=4096 skip=${offset} count=16 iflag=skip_bytes 2>/dev/null | od -An -v -tx1 | tr -d ' \\n'`,
        );
        tally.operations++;
        if (r.code !== 0) tally.eio++;
        expect(r.code, `region at ${offset}`).toBe(0);
        expect(
          r.stdout.trim() === data.subarray(offset, offset + 65536).toString("hex"),
          `bytes of the region at ${offset}`,
        ).toBe(true);
        tally.bytesVerified += 65536;
      }
      const out = join(tempDir("fr"), "copy.bin");
      const read = await shTry(`dd if=${mount.path(key)} of=${out} bs=1M`);
      tally.operations++;
      if (read.code !== 0) tally.eio++;
      expect(read.code, read.stderr).toBe(0);
      const copy = readFileSync(out);
      expect(copy.length).toBe(data.length);
      expect(sha256(copy)).toBe(expected);
      tally.bytesVerified += data.length;
      // A write under the same faults ends intact in the bucket, with close reporting success.
      const local = join(tempDir("fw"), "w.bin");
      const payload = ramp(12 * MiB + 333, n + 1);
      writeFileSync(local, payload);
      const outKey = `out-${n}.bin`;
      const write = await shTry(`cp ${local} ${mount.path(outKey)}`);
      tally.operations++;
      if (write.code !== 0) tally.eio++;
      const injected = proxy.faultCount - faultsBefore;
      proxy.plan = {};
      expect(write.code, write.stderr).toBe(0);
      // The round really injected its faults (and the fault-free one none).
      if (round.faulty) expect(injected).toBeGreaterThan(0);
      else expect(injected).toBe(0);
      const stored = await objectSha256(bucket, outKey);
      if (stored !== sha256(payload)) tally.dataLost++;
      expect(stored).toBe(sha256(payload));
      tally.bytesVerified += payload.length;
    });
  }

  it("a read that keeps failing is EIO for that read only; the mount stays up", async () => {
    proxy.plan = { failMethods: ["GET"], status: 500 };
    const failing = await shTry(`dd if=${mount.path("big.bin")} of=/dev/null bs=1M count=1`);
    tally.operations++;
    eioExpected++;
    if (failing.code !== 0) tally.eio++;
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/Input\/output error/);
    proxy.plan = {};
    const ok = await shTry(`dd if=${mount.path("big.bin")} bs=1M count=2 2>/dev/null | sha256sum`);
    expect(ok.stdout.split(" ")[0]).toBe(sha256(data.subarray(0, 2 * MiB)));
    tally.bytesVerified += 2 * MiB;
  });
});

const run = promisify(execFile);
const SERVER_SCRIPT = join(import.meta.dirname, "../../scripts/s3-server.sh");

describe("an S3 server restart in the middle of a large transfer", () => {
  let dataDir = "";
  let server: S3TestServer;
  let mount: TestMount;
  let metrics: MountMetrics;
  const bucket = "restart-test";
  const size = RESTART_MIB * MiB;

  beforeAll(async () => {
    // A private RGW for the restart tests (the shared one must not restart), its port block
    // clear of the suite's (7480, 7580, …).
    ({ server, dataDir } = startS3Somewhere(Number(process.env.BUCKETFS_RESTART_PORT ?? 7560), "bucketfs-restart-"));
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await new Upload({
      client,
      params: { Bucket: bucket, Key: "big.bin", Body: ramp(size, 3) },
      partSize: 16 * MiB,
    }).done();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "marker", Body: "x" }));
    metrics = new MountMetrics(await freePort());
    mount = await TestMount.start(
      `s3://${bucket}`,
      ["--endpoint", server.endpoint, "--cache-size", "0", "--request-timeout", "10s", "--metrics-addr", metrics.addr],
      bucketfsEnv(server),
    );
  }, 600_000);
  afterAll(async () => {
    await mount?.stop().catch(() => undefined);
    if (dataDir) await run("bash", [SERVER_SCRIPT, "stop", dataDir, "--purge"]).catch(() => undefined);
  }, 120_000);

  /**
   * Starts `work`, restarts the server once the daemon has moved bytes of it in `direction`
   * (its own metrics say the transfer is under way: a signal, not a guessed delay), and returns
   * what the work ended with. Fails unless the restart succeeded while the work was running: the
   * work must still be running when the server is back (a transfer that ended before the outage
   * proves nothing).
   */
  async function acrossRestart<T>(what: string, direction: "in" | "out", work: () => Promise<T>): Promise<T> {
    const moved = (): Promise<number> => metrics.value("bucketfs_store_bytes_total", `direction="${direction}"`);
    const before = await moved();
    const started = Date.now();
    let endedAt = 0;
    const working = work().finally(() => {
      endedAt = Date.now();
    });
    await until(`the ${what} to move its first bytes`, async () => (await moved()) > before || endedAt > 0);
    const restartAt = Date.now();
    const restart = await run("bash", [SERVER_SCRIPT, "restart", dataDir]).then(
      () => "ok",
      (e: Error) => e.message,
    );
    const backAt = Date.now();
    const result = await working;
    tally.operations++;
    console.log(
      `restart during ${what}: restart began ${restartAt - started} ms in, server back ${backAt - started} ms in, ${what} took ${endedAt - started} ms, restart: ${restart}`,
    );
    expect(restart).toBe("ok");
    expect(endedAt, `the ${what} ended before the server restart finished`).toBeGreaterThan(backAt);
    return result;
  }

  it(`a ${RESTART_MIB} MiB read completes with the exact bytes after the server returns`, async () => {
    const read = await acrossRestart("read", "in", () =>
      shTry(`dd if=${mount.path("big.bin")} bs=1M 2>/dev/null | sha256sum`),
    );
    expect(read.code).toBe(0);
    expect(read.stdout.split(" ")[0]).toBe(sha256(ramp(size, 3)));
    tally.bytesVerified += size;
  }, 600_000);

  it(`a ${RESTART_MIB} MiB upload completes intact after the server returns`, async () => {
    const local = join(tempDir("rw"), "up.bin");
    const payload = ramp(size, 11);
    writeFileSync(local, payload);
    const copy = await acrossRestart("upload", "out", () => shTry(`cp ${local} ${mount.path("up.bin")}`));
    expect(copy.stderr).toBe("");
    expect(copy.code).toBe(0);
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    const { GetObjectCommand } = await import("@aws-sdk/client-s3");
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "up.bin" }));
    const stored = Buffer.from(await out.Body!.transformToByteArray());
    if (sha256(stored) !== sha256(payload)) tally.dataLost++;
    expect(sha256(stored)).toBe(sha256(payload));
    tally.bytesVerified += size;
  }, 600_000);
});
