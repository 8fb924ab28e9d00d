#!/usr/bin/env node
// Raw S3 client baselines for scripts/bench-read.sh (the AWS SDK straight to memory, no FUSE).
// Reads S3_ENDPOINT and AWS_* credentials from the environment. Prints one number per command.
//
//   put <bucket> <key> <MiB>          create the bucket if needed, upload MiB of random bytes (multipart)
//   put-many <bucket> <prefix> <n>    upload n small objects (for ls -l)
//   parallel-get <bucket> <key>       whole object as 8 MiB ranged GETs, 8 in flight: prints MB/s
//   ranges <bucket> <key> <file>      one GET per "offset length" line, one after another: prints seconds
import { readFileSync } from "node:fs";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";

const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.AWS_REGION ?? "us-east-1",
  forcePathStyle: true,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const [command, bucket, key, arg] = process.argv.slice(2);

async function get(start, end) {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
  return out.Body.transformToByteArray();
}

async function put() {
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  const mib = Number(arg);
  const block = randomBytes(8 << 20);
  async function* body() {
    for (let sent = 0; sent < mib; sent += 8) {
      const piece = Buffer.from(block);
      piece.writeUInt32LE(sent, 0); // every 8 MiB differs, so no chunk is a copy of another
      yield piece.subarray(0, Math.min(8, mib - sent) << 20);
    }
  }
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: Readable.from(body()) },
    partSize: 16 << 20,
    queueSize: 4,
  }).done();
  console.log(mib);
}

async function putMany() {
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  const n = Number(arg);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: `${key}/f${String(i).padStart(5, "0")}`, Body: `object ${i}\n` }),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  console.log(n);
}

async function parallelGet() {
  const { ContentLength: size } = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const part = 8 << 20;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < size) {
      const start = next;
      next += part;
      await get(start, Math.min(start + part, size));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  console.log((size / 1e6 / ((performance.now() - started) / 1000)).toFixed(1));
}

async function ranges() {
  const list = readFileSync(arg, "utf8")
    .trim()
    .split("\n")
    .map((line) => line.split(" ").map(Number));
  const started = performance.now();
  for (const [offset, length] of list) await get(offset, offset + length);
  console.log(((performance.now() - started) / 1000).toFixed(3));
}

const commands = { put, "put-many": putMany, "parallel-get": parallelGet, ranges };
if (!commands[command]) {
  console.error(`usage: bench-read-client.mjs ${Object.keys(commands).join("|")} …`);
  process.exit(2);
}
await commands[command]();
