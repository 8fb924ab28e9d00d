/** S3's signer for the native cache filler: a presigned SigV4 GET URL per key (see ../range-signer.ts). */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { RangeSigner } from "../object-store.js";
import { cachingRangeSigner, SIGNED_URL_EXPIRY_MS } from "../range-signer.js";

export function s3RangeSigner(client: S3Client, bucket: string): RangeSigner {
  return cachingRangeSigner((key, expiresOn) =>
    getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: Math.floor((expiresOn.getTime() - Date.now()) / 1000),
    }),
  );
}

/** A presigned SigV4 HEAD URL for one key, for the native HEAD threads (native/src/head.c). */
export function s3HeadSigner(client: S3Client, bucket: string): (key: string) => Promise<string> {
  return (key) =>
    getSignedUrl(client, new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      expiresIn: Math.floor(SIGNED_URL_EXPIRY_MS / 1000),
    });
}
