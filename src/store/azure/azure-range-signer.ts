/**
 * Ranged Get Blob requests for another HTTP client: the native cache filler (native/src/fetch.c)
 * sends them with libcurl. A read-only SAS URL for the blob (signed locally with the account key,
 * valid 15 minutes) plus plain Range and If-Match headers, which a SAS does not sign. Offered only
 * when the account key signs: a user delegation SAS costs a request to Azure, and SAS or anonymous
 * mounts have nothing to sign with; those read through JavaScript.
 */
import type { BlobClient } from "@azure/storage-blob";
import type { RangeSigner } from "../object-store.js";

/** Long enough for any queued transfer to start. */
const URL_EXPIRY_MS = 15 * 60 * 1000;
/** A SAS names the blob only, so one serves every range: reused for a third of its validity. */
const REUSE_MS = URL_EXPIRY_MS / 3;
const CACHED_URLS = 256;

export function azureRangeSigner(blobFor: (key: string) => BlobClient, sign: (blob: BlobClient, expiresOn: Date) => Promise<string>): RangeSigner {
  const urls = new Map<string, { url: string; signedAt: number }>();
  const urlFor = async (key: string): Promise<string> => {
    const cached = urls.get(key);
    if (cached && Date.now() - cached.signedAt < REUSE_MS) return cached.url;
    const url = await sign(blobFor(key), new Date(Date.now() + URL_EXPIRY_MS));
    if (urls.size >= CACHED_URLS) urls.delete(urls.keys().next().value!);
    urls.set(key, { url, signedAt: Date.now() });
    return url;
  };
  return async ({ key, range, ifMatch }) => {
    // The ETag comes from the server: it must not smuggle a header line into the request.
    if (ifMatch !== undefined && /[\r\n\0]/.test(ifMatch)) throw new Error("refusing an ETag with control characters");
    const url = await urlFor(key);
    return { url, headers: [`Range: bytes=${range.start}-${range.end - 1}`, ...(ifMatch ? [`If-Match: ${ifMatch}`] : [])] };
  };
}
