/**
 * Server-side copy of a whole object: one CopyObject up to the store's single-copy limit
 * (5 GiB on S3), above it a multipart upload whose parts are UploadPartCopy ranges.
 */
import type { CompletedPart, ObjectStore } from "../store/object-store.js";

export interface CopyObjectRequest {
  sourceKey: string;
  key: string;
  size: number;
  metadata?: Record<string, string>;
  contentType?: string;
  sourceEtag?: string;
}

/** Parts of a large server-side copy: 512 MiB keeps a 5 TiB object under 10,000 parts. */
const COPY_PART_SIZE = 512 * 1024 * 1024;

export async function copyObject(store: ObjectStore, req: CopyObjectRequest): Promise<{ etag: string }> {
  if (req.size <= store.capabilities.maxCopySize) {
    return store.copy({ sourceKey: req.sourceKey, key: req.key, metadata: req.metadata, contentType: req.contentType, sourceEtag: req.sourceEtag });
  }
  const metadata = req.metadata ?? (await store.head({ key: req.sourceKey })).metadata;
  const { uploadId } = await store.createMultipart({ key: req.key, metadata, contentType: req.contentType });
  try {
    const parts: CompletedPart[] = [];
    for (let start = 0, partNumber = 1; start < req.size; start += COPY_PART_SIZE, partNumber++) {
      const sourceRange = { start, end: Math.min(start + COPY_PART_SIZE, req.size) };
      parts.push(await store.copyPart({ key: req.key, uploadId, partNumber, sourceKey: req.sourceKey, sourceRange, sourceEtag: req.sourceEtag }));
    }
    return await store.completeMultipart({ key: req.key, uploadId, parts });
  } catch (err) {
    await store.abortMultipart({ key: req.key, uploadId }).catch(() => undefined);
    throw err;
  }
}
