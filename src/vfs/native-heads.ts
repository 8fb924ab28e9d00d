/**
 * readdir's HEADs sent by the native addon's threads (native/src/head.c) instead of the event
 * loop: JavaScript signs a HEAD URL per key and turns the few headers the addon returns into an
 * ObjectInfo. Any failure (transport, non-200, a header that does not parse) rejects; the
 * namespace then sends its own HEAD, which has the retries and the typed errors.
 */
import type { ObjectInfo } from "../store/object-store.js";

export type NativeHeadCallback = (err: Error | null, status: number, headers: string[]) => void;

/** The addon's `head` (see native/src/head.c for its contract). */
export type NativeHead = (
  url: string,
  options: { timeoutSeconds: number; caFile?: string },
  callback: NativeHeadCallback,
) => void;

export interface NativeHeadOptions {
  head: NativeHead;
  /** A presigned HEAD URL for the key. */
  sign: (key: string) => Promise<string>;
  timeoutSeconds: number;
  caFile?: string;
}

/** `head(key)`: the object's size, ETag, Last-Modified and metadata, fetched natively. */
export function nativeHeadOf(options: NativeHeadOptions): (key: string) => Promise<ObjectInfo> {
  const { head, sign, timeoutSeconds, caFile } = options;
  return async (key) => {
    const url = await sign(key);
    const { status, headers } = await new Promise<{ status: number; headers: string[] }>((resolve, reject) => {
      head(url, { timeoutSeconds, ...(caFile ? { caFile } : {}) }, (err, status, headers) =>
        err ? reject(err) : resolve({ status, headers }),
      );
    });
    if (status !== 200) throw new Error(`native HEAD of ${key}: status ${status}`);
    return objectInfoFromPairs(key, headers);
  };
}

/** The addon's [name, value, ...] (names lowercased): strict, since the fallback is cheap. */
export function objectInfoFromPairs(key: string, pairs: string[]): ObjectInfo {
  const metadata: Record<string, string> = {};
  let size: number | undefined;
  let etag = "";
  let modified = Number.NaN;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    if (name === "content-length") size = /^\d{1,15}$/.test(value) ? Number(value) : undefined;
    else if (name === "etag") etag = value;
    else if (name === "last-modified") modified = Date.parse(value);
    else if (name.startsWith("x-amz-meta-")) metadata[name.slice("x-amz-meta-".length)] = value;
  }
  if (size === undefined || !Number.isFinite(modified)) throw new Error(`native HEAD of ${key}: headers do not parse`);
  return {
    key,
    size,
    etag: etag === "" || etag.startsWith('"') ? etag : `"${etag}"`,
    lastModified: new Date(modified),
    metadata,
  };
}
