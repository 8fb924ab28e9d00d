/**
 * bench-s3-data-path.ts — the SDK data path against the lean one (src/store/s3/s3-data-path.ts),
 * in one process against one S3 server, so both see the same machine load.
 *
 *   set -a; eval "$(bash scripts/s3-server.sh start 7880 /tmp/bench-s3)"; set +a
 *   npx tsx scripts/bench-s3-data-path.ts
 *   bash scripts/s3-server.sh stop /tmp/bench-s3 --purge
 *
 * Reads: a 1 GiB object as 8 MiB ranged GETs, 8 in flight. Writes: UploadPart of 8 MiB parts,
 * 4 in flight (BENCH_UPLOAD_MIB per run, default 1024; the upload is aborted afterwards). Each
 * run measures both paths, SDK first on even runs and lean first on odd ones, so drift in the
 * machine's load hits both alike; RUNS (default 3) runs, medians printed. CPU is this
 * process's user+system time (process.cpuUsage, so thread-pool hashing counts too) per GiB moved.
 * Reads S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; BENCH_BUCKET optional.
 */
import { randomFillSync } from "node:crypto";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { S3Store } from "../src/store/s3/s3-store.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const PART = 8 * MiB;
const OBJECT_SIZE = GiB;
const READ_CONCURRENCY = 8;
const UPLOAD_CONCURRENCY = 4;
const RUNS = Number(process.env.RUNS ?? 3);
const UPLOAD_BYTES = Number(process.env.BENCH_UPLOAD_MIB ?? 1024) * MiB;
const KEY = "bench/data-path-1GiB";

interface Sample {
  mbPerSec: number;
  cpuSecPerGiB: number;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start a server with scripts/s3-server.sh and export its lines`);
  return value;
}

const endpoint = env("S3_ENDPOINT");
const credentials = { accessKeyId: env("AWS_ACCESS_KEY_ID"), secretAccessKey: env("AWS_SECRET_ACCESS_KEY") };
const region = process.env.AWS_REGION ?? "us-east-1";
const bucket = process.env.BENCH_BUCKET ?? "bench-data-path";

/** A store on the SDK data path or the lean one; the choice is read once, at construction. */
function makeStore(path: "sdk" | "lean"): S3Store {
  if (path === "sdk") process.env.BUCKETFS_S3_DATA_PATH = "sdk";
  else delete process.env.BUCKETFS_S3_DATA_PATH;
  const store = new S3Store({ bucket, endpoint, region, pathStyle: true, credentials });
  delete process.env.BUCKETFS_S3_DATA_PATH;
  if (store.dataPath !== path) throw new Error(`asked for the ${path} data path, got ${store.dataPath}`);
  return store;
}

/** Runs `jobs` with `concurrency` workers. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Wall time and CPU of `work`, which moves `bytes`. */
async function measure(bytes: number, work: () => Promise<void>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { mbPerSec: bytes / 1e6 / seconds, cpuSecPerGiB: (used.user + used.system) / 1e6 / (bytes / GiB) };
}

async function ensureObject(store: S3Store, part: Buffer): Promise<void> {
  await new S3Client({ endpoint, region, forcePathStyle: true, credentials })
    .send(new CreateBucketCommand({ Bucket: bucket }))
    .catch(() => undefined);
  const size = await store.head({ key: KEY }).then(
    (info) => info.size,
    () => -1,
  );
  if (size === OBJECT_SIZE) return;
  console.log(`uploading the 1 GiB test object to s3://${bucket}/${KEY} ...`);
  const { uploadId } = await store.createMultipart({ key: KEY });
  const parts = new Array<{ partNumber: number; etag: string }>(OBJECT_SIZE / PART);
  await pool(parts.length, UPLOAD_CONCURRENCY, async (i) => {
    parts[i] = await store.uploadPart({ key: KEY, uploadId, partNumber: i + 1, body: part });
  });
  await store.completeMultipart({ key: KEY, uploadId, parts });
}

function readRun(store: S3Store): Promise<Sample> {
  return measure(OBJECT_SIZE, () =>
    pool(OBJECT_SIZE / PART, READ_CONCURRENCY, async (i) => {
      const body = await store.get({ key: KEY, range: { start: i * PART, end: (i + 1) * PART } });
      if (body.length !== PART) throw new Error(`short read: ${body.length}`);
    }),
  );
}

async function uploadRun(store: S3Store, part: Buffer): Promise<Sample> {
  const key = `bench/upload-${Date.now()}`;
  const { uploadId } = await store.createMultipart({ key });
  const sample = await measure(UPLOAD_BYTES, () =>
    pool(Math.ceil(UPLOAD_BYTES / PART), UPLOAD_CONCURRENCY, async (i) => {
      await store.uploadPart({ key, uploadId, partNumber: i + 1, body: part });
    }),
  );
  await store.abortMultipart({ key, uploadId });
  return sample;
}

function order(run: number): ("sdk" | "lean")[] {
  return run % 2 === 0 ? ["sdk", "lean"] : ["lean", "sdk"];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function report(what: string, samples: Record<"sdk" | "lean", Sample[]>): void {
  const row = (path: "sdk" | "lean"): Sample => ({
    mbPerSec: median(samples[path].map((s) => s.mbPerSec)),
    cpuSecPerGiB: median(samples[path].map((s) => s.cpuSecPerGiB)),
  });
  const [sdk, lean] = [row("sdk"), row("lean")];
  console.log(`\n${what} (median of ${RUNS})`);
  for (const [name, s, runs] of [
    ["sdk ", sdk, samples.sdk],
    ["lean", lean, samples.lean],
  ] as const) {
    const each = runs.map((r) => `${r.mbPerSec.toFixed(0)} MB/s ${r.cpuSecPerGiB.toFixed(2)} s`).join(" | ");
    console.log(
      `  ${name}  ${s.mbPerSec.toFixed(0).padStart(5)} MB/s  ${s.cpuSecPerGiB.toFixed(3)} CPU-s/GiB   (runs: ${each})`,
    );
  }
  console.log(
    `  lean/sdk: throughput ×${(lean.mbPerSec / sdk.mbPerSec).toFixed(2)}, CPU per GiB ×${(lean.cpuSecPerGiB / sdk.cpuSecPerGiB).toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const stores = { sdk: makeStore("sdk"), lean: makeStore("lean") };
  const part = randomFillSync(Buffer.allocUnsafe(PART));
  await ensureObject(stores.lean, part);
  // One warm-up read each: connections open, code paths compiled.
  for (const store of Object.values(stores)) await store.get({ key: KEY, range: { start: 0, end: PART } });
  const reads: Record<"sdk" | "lean", Sample[]> = { sdk: [], lean: [] };
  const uploads: Record<"sdk" | "lean", Sample[]> = { sdk: [], lean: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const path of order(run)) reads[path].push(await readRun(stores[path]));
  }
  report(`ranged GET, 8 MiB × ${READ_CONCURRENCY} in flight, 1 GiB`, reads);
  for (let run = 0; run < RUNS; run++) {
    for (const path of order(run)) uploads[path].push(await uploadRun(stores[path], part));
  }
  report(`UploadPart, 8 MiB × ${UPLOAD_CONCURRENCY} in flight, ${UPLOAD_BYTES / MiB} MiB`, uploads);
  for (const store of Object.values(stores)) store.destroy();
}

await main();
