#!/usr/bin/env node
// The `aws s3 cp`-style baseline for scripts/bench-mount.sh: a file to S3 with the SDK's
// managed multipart upload, and back with parallel ranged GETs written at their offsets.
// Same part size and concurrency as bucketfs's defaults (8 MiB × 4 up, 8 MiB × 8 down).
//   upload <bucket> <key> <file>      prints seconds
//   download <bucket> <key> <file>    prints seconds
import { createReadStream, openSync, writeSync, closeSync, statSync } from "node:fs";
import { GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const [command, bucket, key, file] = process.argv.slice(2);
const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: "us-east-1",
  forcePathStyle: true,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const PART = 8 * 1024 * 1024;

async function upload() {
  const started = performance.now();
  const body = createReadStream(file, { highWaterMark: PART });
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: body, ContentLength: statSync(file).size },
    partSize: PART,
    queueSize: 4,
  }).done();
  return (performance.now() - started) / 1000;
}

async function download() {
  const started = performance.now();
  const { ContentLength: size } = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const fd = openSync(file, "w");
  let next = 0;
  const worker = async () => {
    while (next < size) {
      const start = next;
      next = Math.min(size, next + PART);
      const out = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${next - 1}` }),
      );
      const bytes = await out.Body.transformToByteArray();
      writeSync(fd, bytes, 0, bytes.length, start);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  closeSync(fd);
  return (performance.now() - started) / 1000;
}

console.log((await (command === "upload" ? upload() : download())).toFixed(3));
