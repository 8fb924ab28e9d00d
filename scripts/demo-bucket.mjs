#!/usr/bin/env node
// demo-bucket.mjs seed|list BUCKET — creates the demo bucket with sample data, or lists what the
// bucket really holds (straight from S3 with the AWS SDK, not through the mount).
// Reads S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY from the environment.
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

const [command, bucket] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: "us-east-1",
  forcePathStyle: true,
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});

async function seed() {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err) => {
    if (err.name !== "BucketAlreadyOwnedByYou" && err.name !== "BucketAlreadyExists") throw err;
  });
  const put = (Key, Body) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  await put(
    "README.txt",
    "This bucket lives in a real S3 server (Ceph RADOS Gateway) on 127.0.0.1.\nbucketfs shows it as ordinary files.\n",
  );
  for (const patient of ["patient-001", "patient-002"]) {
    for (let i = 1; i <= 3; i++) await put(`slides/${patient}/tile-${i}.bin`, Buffer.alloc(64 * 1024, i));
  }
  await put("results/summary.csv", "patient,tiles\npatient-001,3\npatient-002,3\n");
  console.log(`seeded s3://${bucket}`);
}

async function list() {
  let token;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: o.Key }));
      const mode = head.Metadata?.mode ? ` mode=${Number(head.Metadata.mode).toString(8)}` : "";
      console.log(`  ${String(o.Size).padStart(10)}  ${o.Key}${mode}`);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

await (command === "seed" ? seed() : list());
