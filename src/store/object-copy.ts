/**
 * Server-side copy of a whole object: one CopyObject up to the store's single-copy limit
 * (5 GiB on S3), above it a multipart upload whose parts are UploadPartCopy ranges.
 */
import { partSizeFor, runParts, type PartJob } from "./multipart.js";
import type { ObjectStore } from "./object-store.js";

export interface CopyObjectRequest {
  sourceKey: string;
  key: string;
  size: number;
  metadata?: Record<string, string>;
  contentType?: string;
  sourceEtag?: string;
}

/**
 * Preferred part of a large server-side copy: few requests, each well inside request timeouts.
 * The part-size rule grows it when an object would need more parts than the store allows.
 */
export const COPY_PART_TARGET = 512 * 1024 * 1024;

export async function copyObject(store: ObjectStore, req: CopyObjectRequest): Promise<{ etag: string }> {
  if (req.size <= store.capabilities.maxCopySize) {
    return store.copy({
      sourceKey: req.sourceKey,
      key: req.key,
      metadata: req.metadata,
      contentType: req.contentType,
      sourceEtag: req.sourceEtag,
    });
  }
  const metadata = req.metadata ?? (await store.head({ key: req.sourceKey })).metadata;
  const partSize = partSizeFor(req.size, COPY_PART_TARGET, store.capabilities);
  const jobs: PartJob[] = Array.from({ length: Math.ceil(req.size / partSize) }, (_, i) => {
    const start = i * partSize;
    const source = { key: req.sourceKey, etag: req.sourceEtag, start, end: Math.min(start + partSize, req.size) };
    return (session, partNumber) => session.copyPart(partNumber, source);
  });
  // One part at a time, as before: a directory rename already runs many copies in parallel.
  return runParts(store, { key: req.key, metadata, contentType: req.contentType }, jobs, { concurrency: 1 });
}
