/** Test access to the loopback S3 server: a bucketfs S3Store and a plain SDK client. */
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { inject } from "vitest";
import { S3Store } from "../../src/store/s3/s3-store.js";
import type { S3TestServer } from "./global-setup.js";

export function s3Server(): S3TestServer {
  return inject("s3");
}

export function sdkClient(server = s3Server()): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

let counter = 0;
/** A fresh bucket for one test file, so files never see each other's objects. */
export async function freshBucket(label: string): Promise<string> {
  const name = `bfs-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`.toLowerCase().slice(0, 63);
  await sdkClient().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

export function s3Store(bucket: string, server = s3Server()): S3Store {
  return new S3Store({
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    pathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
}

/** Environment for a bucketfs child process talking to the test server. */
export function bucketfsEnv(server = s3Server()): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    AWS_REGION: server.region,
  };
}
