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

/**
 * A URL signs the method, host and key only, so one serves every range of a key: it is reused
 * for up to a third of its validity (signing costs far more CPU than the rest of a request).
 */
const REUSE_MS = (URL_EXPIRY_SECONDS * 1000) / 3;
const CACHED_URLS = 256;

export function s3RangeSigner(client: S3Client, bucket: string): RangeSigner {
  const urls = new Map<string, { url: string; signedAt: number }>();
  const urlFor = async (key: string): Promise<string> => {
    const cached = urls.get(key);
    if (cached && Date.now() - cached.signedAt < REUSE_MS) return cached.url;
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: URL_EXPIRY_SECONDS });
    if (urls.size >= CACHED_URLS) urls.delete(urls.keys().next().value!);
    urls.set(key, { url, signedAt: Date.now() });
    return url;
  };
  return async ({ key, range, ifMatch }) => {
    // The ETag comes from the server: it must not smuggle a header line into the request.
    if (ifMatch !== undefined && /[\r\n\0]/.test(ifMatch)) throw new Error("refusing an ETag with control characters");
    const url = await urlFor(key);
    const headers = [`Range: bytes=${range.start}-${range.end - 1}`, ...(ifMatch ? [`If-Match: ${ifMatch}`] : [])];
    return { url, headers };
  };
}
