/**
 * Multipart uploads on GCS, which has no S3-style multipart API: every part is uploaded as a
 * temporary object, `compose` joins them (at most 32 sources per call, so more parts are joined
 * in a tree of intermediate composites), and the temporaries are deleted afterwards. This keeps
 * the ObjectStore multipart calls, and so the Uploader, unchanged (parts in any order, in
 * parallel). The choice over one streaming resumable upload was made by measurement: see the
 * `## GCS` section of docs/benchmarks.md and scripts/bench-gcs.ts.
 *
 * This module holds the pure parts (names, upload ids, the compose plan); GcsStore does the I/O.
 */
import { randomBytes } from "node:crypto";
import pLimit from "p-limit";
import { StoreError } from "../errors.js";

/**
 * Temporary objects live under one hidden prefix at the bucket root, outside any mounted prefix,
 * so they never show up inside a mount of a sub-prefix; a lifecycle rule on this prefix (delete
 * after 1 day) cleans up after a crash, as gcsfuse recommends for its `.gcsfuse_tmp/`.
 */
export const PARTS_PREFIX = ".bucketfs-parts/";

/** GCS's limit on source objects per compose request. */
export const MAX_COMPOSE_SOURCES = 32;

/**
 * What completeMultipart needs from createMultipart. It travels inside the upload id, so the
 * store keeps no state and an upload survives a daemon restart (the id is all a journal keeps).
 */
export interface UploadToken {
  id: string;
  metadata?: Record<string, string>;
  contentType?: string;
}

export function newUploadToken(metadata?: Record<string, string>, contentType?: string): UploadToken {
  return { id: `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`, metadata, contentType };
}

export function encodeUploadId(token: UploadToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

export function decodeUploadId(uploadId: string, key: string): UploadToken {
  try {
    const token = JSON.parse(Buffer.from(uploadId, "base64url").toString("utf8")) as UploadToken;
    if (typeof token.id === "string" && /^[a-z0-9-]+$/.test(token.id)) return token;
  } catch {
    // fall through: not an id this store issued
  }
  throw new StoreError("NotFound", `no such multipart upload "${uploadId}"`, key);
}

export function uploadPrefix(token: UploadToken): string {
  return `${PARTS_PREFIX}${token.id}/`;
}

/** Zero-padded so the temporaries list in part order. */
export function partKey(token: UploadToken, partNumber: number): string {
  return `${uploadPrefix(token)}p${String(partNumber).padStart(5, "0")}`;
}

export function intermediateKey(token: UploadToken, round: number, index: number): string {
  return `${uploadPrefix(token)}c${round}-${String(index).padStart(5, "0")}`;
}

/** Intermediate composes in flight at once: enough to hide latency, few enough to avoid 429s. */
const COMPOSE_CONCURRENCY = 8;

export interface ComposeSource {
  name: string;
  generation: string;
}

/**
 * Joins `sources` (in order) into one object: while there are more than 32, each run of 32 is
 * composed into an intermediate object (in parallel), then the last round writes the final one.
 * 10,000 parts take three rounds: 313 intermediates, then 10, then the final compose.
 */
export async function composeTree<T>(
  sources: ComposeSource[],
  composeIntermediate: (sources: ComposeSource[], round: number, index: number) => Promise<ComposeSource>,
  composeFinal: (sources: ComposeSource[]) => Promise<T>,
): Promise<T> {
  let level = sources;
  for (let round = 0; level.length > MAX_COMPOSE_SOURCES; round++) {
    const groups: ComposeSource[][] = [];
    for (let i = 0; i < level.length; i += MAX_COMPOSE_SOURCES) groups.push(level.slice(i, i + MAX_COMPOSE_SOURCES));
    const limit = pLimit(COMPOSE_CONCURRENCY);
    level = await Promise.all(groups.map((group, index) => limit(() => composeIntermediate(group, round, index))));
  }
  return composeFinal(level);
}
