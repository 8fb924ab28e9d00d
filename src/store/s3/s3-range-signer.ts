/**
 * Ranged GETs signed for another HTTP client: the native cache filler (native/src/fetch.c)
 * sends them with libcurl. A presigned URL (query-string SigV4, valid 15 minutes) plus plain
 * Range and If-Match headers, which S3 honours without their being signed.
 */
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { RangeSigner } from "../object-store.js";

/** Long enough for any queued transfer to start; a URL is signed per transfer. */
const URL_EXPIRY_SECONDS = 15 * 60;

export function s3RangeSigner(client: S3Client, bucket: string): RangeSigner {
  return async ({ key, range, ifMatch }) => {
    // The ETag comes from the server: it must not smuggle a header line into the request.
    if (ifMatch !== undefined && /[\r\n\0]/.test(ifMatch)) throw new Error("refusing an ETag with control characters");
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: URL_EXPIRY_SECONDS });
    const headers = [`Range: bytes=${range.start}-${range.end - 1}`, ...(ifMatch ? [`If-Match: ${ifMatch}`] : [])];
    return { url, headers };
  };
}
