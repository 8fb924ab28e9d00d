/** Reads the bucket directly with the AWS SDK, to check what the mount really stored. */
import { createHash } from "node:crypto";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type HeadObjectCommandOutput,
} from "@aws-sdk/client-s3";
import { sdkClient } from "./s3.js";

export async function objectBytes(bucket: string, key: string): Promise<Buffer> {
  const out = await sdkClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function objectSha256(bucket: string, key: string): Promise<string> {
  return createHash("sha256")
    .update(await objectBytes(bucket, key))
    .digest("hex");
}

export async function objectHead(bucket: string, key: string): Promise<HeadObjectCommandOutput> {
  return sdkClient().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

export async function listKeys(bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await sdkClient().send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(out.Contents ?? []).map((o) => o.Key!));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}
