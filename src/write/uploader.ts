/**
 * Uploads a staged file: a single PUT up to `partSize`, above it a multipart upload with
 * `concurrency` workers reading parts from the staging file. Memory in flight is bounded by
 * concurrency × partSize. If any part fails, the workers stop, in-flight parts settle, and the
 * multipart upload is aborted so no orphaned parts are billed (lib-storage's hygiene).
 */
import type { FileHandle } from "node:fs/promises";
import type { CompletedPart, ObjectStore } from "../store/object-store.js";

export interface UploaderConfig {
  partSize: number;
  concurrency: number;
}

export const DEFAULT_UPLOADER_CONFIG: UploaderConfig = { partSize: 8 * 1024 * 1024, concurrency: 4 };

export interface UploadRequest {
  key: string;
  source: FileHandle;
  size: number;
  metadata: Record<string, string>;
  contentType?: string;
}

export class Uploader {
  constructor(private readonly store: ObjectStore, private readonly config: UploaderConfig = DEFAULT_UPLOADER_CONFIG) {}

  async upload(req: UploadRequest): Promise<{ etag: string }> {
    if (req.size <= this.config.partSize) {
      const body = await readRange(req.source, 0, req.size);
      return this.store.put({ key: req.key, body, metadata: req.metadata, contentType: req.contentType });
    }
    return this.multipart(req);
  }

  /** Part size grows past the configured one only when the object would need more parts than allowed. */
  partSizeFor(size: number): number {
    const { maxParts, minPartSize } = this.store.capabilities;
    const partSize = Math.max(this.config.partSize, minPartSize);
    if (Math.ceil(size / partSize) <= maxParts) return partSize;
    const mib = 1024 * 1024;
    return Math.ceil(size / maxParts / mib) * mib;
  }

  private async multipart(req: UploadRequest): Promise<{ etag: string }> {
    const partSize = this.partSizeFor(req.size);
    const partCount = Math.ceil(req.size / partSize);
    const { uploadId } = await this.store.createMultipart({ key: req.key, metadata: req.metadata, contentType: req.contentType });
    const parts: CompletedPart[] = [];
    let nextPart = 1;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && nextPart <= partCount) {
        const partNumber = nextPart++;
        const start = (partNumber - 1) * partSize;
        const body = await readRange(req.source, start, Math.min(partSize, req.size - start));
        parts.push(await this.store.uploadPart({ key: req.key, uploadId, partNumber, body }));
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(this.config.concurrency, partCount) }, () => worker().catch((err) => { failed = true; throw err; })),
    );
    const rejection = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (rejection) {
      await this.store.abortMultipart({ key: req.key, uploadId }).catch(() => undefined);
      throw rejection.reason;
    }
    parts.sort((a, b) => a.partNumber - b.partNumber);
    return this.store.completeMultipart({ key: req.key, uploadId, parts });
  }
}

export async function readRange(source: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await source.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  // A sparse or short staging file reads as zeros past its end, like a local file would.
  if (done < length) buffer.fill(0, done);
  return buffer;
}
