/**
 * Ranged GETs signed for another HTTP client: the native cache filler (native/src/fetch.c) sends
 * them with libcurl. Each backend signs a URL for a key (S3: a presigned SigV4 URL; Azure: a
 * read-only SAS); the Range and If-Match headers are sent plain, since neither signature covers
 * them and both servers honour them unsigned.
 */
import type { RangeSigner } from "./object-store.js";

/** Long enough for any queued transfer to start. */
export const SIGNED_URL_EXPIRY_MS = 15 * 60 * 1000;
/**
 * A URL names the key only, so one serves every range of it: it is reused for up to a third of
 * its validity (signing costs far more CPU than the rest of a request).
 */
const REUSE_MS = SIGNED_URL_EXPIRY_MS / 3;
const CACHED_URLS = 256;

/** `signUrl(key, expiresOn)` signs a GET of the whole key valid until `expiresOn`. */
export function cachingRangeSigner(signUrl: (key: string, expiresOn: Date) => Promise<string>): RangeSigner {
  const urls = new Map<string, { url: string; signedAt: number }>();
  const urlFor = async (key: string): Promise<string> => {
    const cached = urls.get(key);
    if (cached && Date.now() - cached.signedAt < REUSE_MS) return cached.url;
    const url = await signUrl(key, new Date(Date.now() + SIGNED_URL_EXPIRY_MS));
    if (urls.size >= CACHED_URLS) urls.delete(urls.keys().next().value!);
    urls.set(key, { url, signedAt: Date.now() });
    return url;
  };
  return async ({ key, range, ifMatch }) => {
    // The ETag comes from the server: it must not smuggle a header line into the request.
    if (ifMatch !== undefined && /[\r\n\0]/.test(ifMatch)) throw new Error("refusing an ETag with control characters");
    const url = await urlFor(key);
    return {
      url,
      headers: [`Range: bytes=${range.start}-${range.end - 1}`, ...(ifMatch ? [`If-Match: ${ifMatch}`] : [])],
    };
  };
}
