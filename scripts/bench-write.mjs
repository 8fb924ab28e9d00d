#!/usr/bin/env node
// Write benchmark (issue 4), all against one S3 server in one run, median of RUNS runs:
//  - SDK baseline: @aws-sdk/lib-storage Upload of SIZE_MIB from memory, 8 MiB parts × 4.
//  - 1 MiB writes + close into a bucketfs mount (same part size and concurrency): MB/s until
//    close returned (the object is in the bucket then), and the time from the last write to close.
//  - the same through s3fs and `rclone mount --vfs-cache-mode writes` (for rclone: until the
//    object is in the bucket, since its close returns before the upload).
//  - 1,000 × 64 KiB files with `cp -r`: files/s (bucketfs, s3fs: in the bucket at return;
//    rclone: until all are listed in the bucket).
//  - append 1 MiB to a 2 GiB object (APPEND_BASE_MIB): bytes bucketfs sent to the store (its
//    /metrics) against the object size a whole re-upload sends, and the seconds until the append's
//    close returned (one run for each peer: they move the whole object).
// Usage: S3_ENDPOINT=… AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… npx tsc -p . && node scripts/bench-write.mjs
// Env: RUNS (3), SIZE_MIB (1024), FILES (1000), APPEND_BASE_MIB (2048), SKIP_PEERS=1 to skip
// s3fs/rclone, PEERS=s3fs,rclone (which peers), SKIP_WRITE=1 to measure only the append.
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const RUNS = Number(process.env.RUNS ?? 3);
const PEERS = (process.env.PEERS ?? "s3fs,rclone").split(",").filter(Boolean);
const SIZE_MIB = Number(process.env.SIZE_MIB ?? 1024);
const FILES = Number(process.env.FILES ?? 1000);
const APPEND_BASE_MIB = Number(process.env.APPEND_BASE_MIB ?? 2048);
const METRICS_PORT = 19_000 + (process.pid % 1000);
const PART = 8 * 1024 * 1024;
const endpoint = process.env.S3_ENDPOINT;
const BIN = resolve(import.meta.dirname, "../bin/bucketfs.js");
const client = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sh = (cmd) => execFileSync("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "inherit"] }).toString();
const tmp = (label) => mkdtempSync(join(tmpdir(), `bench-write-${label}-`));
const chunk = Buffer.alloc(1024 * 1024, 7);

async function freshBucket(label) {
  const bucket = `bw-${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Waits until `key` exists (with `size` bytes, when given); returns its size. */
async function inBucket(bucket, key, size) {
  for (const deadline = Date.now() + 600_000; Date.now() < deadline; await sleep(50)) {
    const length = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      (h) => h.ContentLength,
      () => undefined,
    );
    if (length !== undefined && (size === undefined || length === size)) return length;
  }
  throw new Error(`${key} never appeared in ${bucket}${size === undefined ? "" : ` with ${size} bytes`}`);
}

async function countUnder(bucket, prefix) {
  let n = 0,
    token;
  do {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    n += out.KeyCount ?? 0;
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return n;
}

async function sdkUpload(bucket) {
  const body = Buffer.alloc(SIZE_MIB * 1024 * 1024, 7);
  const started = performance.now();
  const key = `sdk-${Date.now()}`;
  await new Upload({ client, params: { Bucket: bucket, Key: key, Body: body }, partSize: PART, queueSize: 4 }).done();
  const seconds = (performance.now() - started) / 1000;
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  return seconds;
}

/** 1 MiB writes then close; returns [seconds until close returned, seconds from last write to close]. */
function writeThrough(path) {
  const started = performance.now();
  const fd = openSync(path, "w");
  for (let i = 0; i < SIZE_MIB; i++) writeSync(fd, chunk);
  const wrote = performance.now();
  closeSync(fd);
  const closed = performance.now();
  return [(closed - started) / 1000, (closed - wrote) / 1000];
}

const mounts = {
  async bucketfs(bucket, dir) {
    const cache = tmp("cache");
    sh(
      `node ${BIN} mount s3://${bucket} ${dir} --endpoint ${endpoint} --cache-dir ${cache} --part-size 8M --upload-concurrency 4 --metrics-addr 127.0.0.1:${METRICS_PORT}`,
    );
    return () => sh(`node ${BIN} unmount ${dir}`);
  },
  async s3fs(bucket, dir) {
    const passwd = join(tmp("s3fs"), "passwd");
    writeFileSync(passwd, `${process.env.AWS_ACCESS_KEY_ID}:${process.env.AWS_SECRET_ACCESS_KEY}`, { mode: 0o600 });
    sh(
      `s3fs ${bucket} ${dir} -o url=${endpoint},use_path_request_style,passwd_file=${passwd},multipart_size=8,parallel_count=4`,
    );
    for (let i = 0; i < 100 && !sh(`mountpoint -q ${dir} && echo y || true`).includes("y"); i++) await sleep(100);
    return () => sh(`fusermount -u ${dir}`);
  },
  async rclone(bucket, dir) {
    const env = {
      ...process.env,
      RCLONE_CONFIG_B_TYPE: "s3",
      RCLONE_CONFIG_B_PROVIDER: "Ceph",
      RCLONE_CONFIG_B_ENDPOINT: endpoint,
      RCLONE_CONFIG_B_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
      RCLONE_CONFIG_B_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
    };
    delete env.AWS_CA_BUNDLE; // rclone 1.60 refuses to start with it set
    const child = spawn(
      "rclone",
      [
        "mount",
        `B:${bucket}`,
        dir,
        "--vfs-cache-mode",
        "writes",
        "--cache-dir",
        tmp("rclone"),
        "--s3-chunk-size",
        "8M",
        "--s3-upload-concurrency",
        "4",
      ],
      { env, stdio: "ignore" },
    );
    for (let i = 0; i < 100 && !sh(`mountpoint -q ${dir} && echo y || true`).includes("y"); i++) await sleep(100);
    return () => {
      sh(`fusermount -u ${dir}`);
      child.kill();
    };
  },
};

async function measure(name) {
  const bucket = await freshBucket(name);
  const dir = tmp("mnt");
  const unmount = await mounts[name](bucket, dir);
  const seconds = [],
    closeWait = [],
    filesPerSecond = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const key = `big-${run}`;
      const started = performance.now();
      const [untilClose, afterWrite] = writeThrough(join(dir, key));
      console.error(`${name} run ${run}: close after ${untilClose.toFixed(2)} s`);
      console.error(`${name} run ${run}: in bucket: ${await inBucket(bucket, key)}`); // immediate for bucketfs and s3fs (close waited for the upload)
      seconds.push(name === "rclone" ? (performance.now() - started) / 1000 : untilClose);
      closeWait.push(afterWrite);
      // Keeps the test server (a 30 GB RGW) from filling up over a full run.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      const src = tmp("small");
      mkdirSync(join(src, "d"));
      for (let i = 0; i < FILES; i++) writeFileSync(join(src, "d", `f${i}`), Buffer.alloc(64 * 1024, i % 256));
      const t0 = performance.now();
      sh(`cp -r ${src}/d ${dir}/small-${run}`);
      console.error(`${name} run ${run}: cp -r returned`);
      while ((await countUnder(bucket, `small-${run}/`)) < FILES) await sleep(200);
      filesPerSecond.push(FILES / ((performance.now() - t0) / 1000));
    }
  } finally {
    unmount();
  }
  return {
    mbps: (SIZE_MIB * 1.048576) / median(seconds),
    closeWait: median(closeWait),
    filesPerSecond: median(filesPerSecond),
  };
}

/** Bytes bucketfs has sent to the store so far (its Prometheus counter). */
async function bytesSent() {
  // A fresh connection each time: a kept-alive one may have been closed by the server meanwhile.
  const text = await new Promise((resolveText, reject) => {
    http
      .get(`http://127.0.0.1:${METRICS_PORT}/metrics`, { agent: false }, (res) => {
        let body = "";
        res
          .setEncoding("utf8")
          .on("data", (d) => {
            body += d;
          })
          .on("end", () => resolveText(body))
          .on("error", reject);
      })
      .on("error", reject);
  });
  return Number(/^bucketfs_store_bytes_total\{direction="out"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** Appends 1 MiB to a fresh APPEND_BASE_MIB object `runs` times; median seconds and bytes sent (bucketfs only). */
async function measureAppend(name, runs) {
  const bucket = await freshBucket(`append-${name}`);
  const base = Buffer.alloc(APPEND_BASE_MIB * 1024 * 1024, 5);
  await new Upload({
    client,
    params: { Bucket: bucket, Key: "base", Body: base },
    partSize: PART,
    queueSize: 4,
  }).done();
  const dir = tmp("mnt");
  const unmount = await mounts[name](bucket, dir);
  const seconds = [],
    sent = [];
  try {
    for (let run = 0; run < runs; run++) {
      const before = name === "bucketfs" ? await bytesSent() : 0;
      const started = performance.now();
      appendFileSync(join(dir, "base"), chunk);
      // rclone's close returns before its upload: time until the bucket has the appended object.
      const size = await inBucket(bucket, "base", base.length + (run + 1) * chunk.length);
      seconds.push((performance.now() - started) / 1000);
      if (name === "bucketfs") sent.push((await bytesSent()) - before);
      console.error(
        `${name} append run ${run}: ${seconds.at(-1).toFixed(2)} s, object now ${size} bytes${name === "bucketfs" ? `, sent ${sent.at(-1)} bytes` : ""}`,
      );
    }
  } finally {
    unmount();
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "base" }));
  }
  return { seconds: median(seconds), sent: sent.length ? median(sent) : undefined };
}

if (!process.env.SKIP_PEERS) {
  // The peers come from Debian's packages; install them on a machine that lacks them.
  const missing = PEERS.filter((p) => {
    try {
      execFileSync("which", [p], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) execFileSync("apt-get", ["install", "-y", "-q", ...missing], { stdio: "inherit" });
}

if (!process.env.SKIP_WRITE) {
  console.error("sdk baseline…");
  const sdkBucket = await freshBucket("sdk");
  const sdkSeconds = [];
  for (let run = 0; run < RUNS; run++) sdkSeconds.push(await sdkUpload(sdkBucket));
  const sdk = (SIZE_MIB * 1.048576) / median(sdkSeconds);
  console.error(`sdk ${sdk.toFixed(0)} MB/s`);
  const results = { bucketfs: await measure("bucketfs") };
  if (!process.env.SKIP_PEERS) for (const peer of PEERS) results[peer] = await measure(peer);

  console.log(
    `\nwrite ${SIZE_MIB} MiB (1 MiB writes + close), median of ${RUNS}; lib-storage Upload from memory: ${sdk.toFixed(0)} MB/s`,
  );
  console.log(
    "| system | MB/s until in bucket | × SDK | × this system (bucketfs ÷) | last write → close returned | cp -r of " +
      FILES +
      " × 64 KiB, files/s |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [name, r] of Object.entries(results)) {
    const ratio = (results.bucketfs.mbps / r.mbps).toFixed(2);
    console.log(
      `| ${name} | ${r.mbps.toFixed(0)} | ${(r.mbps / sdk).toFixed(2)} | ${name === "bucketfs" ? "–" : ratio} | ${r.closeWait.toFixed(2)} s | ${r.filesPerSecond.toFixed(0)} (bucketfs ÷ = ${(results.bucketfs.filesPerSecond / r.filesPerSecond).toFixed(2)}) |`,
    );
  }
}

const appends = { bucketfs: await measureAppend("bucketfs", RUNS) };
if (!process.env.SKIP_PEERS) for (const peer of PEERS) appends[peer] = await measureAppend(peer, 1);

const whole = APPEND_BASE_MIB * 1024 * 1024;
console.log(`\nappend 1 MiB to a ${APPEND_BASE_MIB} MiB object (8 MiB parts), bucketfs median of ${RUNS}, peers 1 run`);
console.log(
  "| system | bytes sent to the store | ÷ part size (target ≤ 2) | ÷ whole re-upload | seconds until in the bucket | bucketfs speed-up |",
);
console.log("|---|---|---|---|---|---|");
for (const [name, r] of Object.entries(appends)) {
  const bytes = r.sent === undefined ? "not measured" : String(r.sent);
  const parts = r.sent === undefined ? "–" : (r.sent / PART).toFixed(2);
  const ofWhole = r.sent === undefined ? "–" : (r.sent / whole).toFixed(4);
  console.log(
    `| ${name} | ${bytes} | ${parts} | ${ofWhole} | ${r.seconds.toFixed(2)} | ${name === "bucketfs" ? "–" : (r.seconds / appends.bucketfs.seconds).toFixed(1) + "× faster"} |`,
  );
}
process.exit(0);
