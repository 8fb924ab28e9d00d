/**
 * Uploads a staged file: a single PUT up to `partSize`, above it a multipart upload with
 * `concurrency` workers reading parts from the staging file. Memory in flight is bounded by
 * concurrency × partSize. If any part fails, the workers stop, in-flight parts settle, and the
 * multipart upload is aborted so no orphaned parts are billed (lib-storage's hygiene).
 *
 * Conflict safety: a request may carry a precondition on the object it replaces. A single PUT
 * sends it as If-Match / If-None-Match: *; a multipart upload checks it with HEAD before it
 * starts and again just before CompleteMultipartUpload (S3 servers such as RGW pacific do not
 * take conditions on Complete), which leaves only a window of one round trip.
 * A failed precondition rejects with StoreError "PreconditionFailed".
 */
import type { StagingHandle } from "./staging.js";
import { StoreError, isStoreError } from "../store/errors.js";
import { partSizeFor, runParts, type PartJob } from "../store/multipart.js";
import { COPY_PART_TARGET } from "../store/object-copy.js";
import type { ObjectStore, PutRequest } from "../store/object-store.js";
import { planParts } from "./part-plan.js";
import type { BaseObject } from "./sparse-content.js";

/** What the object being replaced must be: absent (a new file), a known version, or anything. */
export type Precondition = { kind: "absent" } | { kind: "etag"; etag: string } | { kind: "none" };

export interface UploaderConfig {
  partSize: number;
  concurrency: number;
}

export const DEFAULT_UPLOADER_CONFIG: UploaderConfig = { partSize: 8 * 1024 * 1024, concurrency: 4 };

export interface UploadRequest {
  key: string;
  source: StagingHandle;
  size: number;
  metadata: Record<string, string>;
  contentType?: string;
  precondition?: Precondition;
  /** Cancels the upload (the file was deleted): parts stop, the multipart upload is aborted. */
  signal?: AbortSignal;
}

export interface RewriteRequest extends UploadRequest {
  base: BaseObject;
  /** True when [start, end) may be copied from `base` unchanged. */
  copyable: (start: number, end: number) => boolean;
  /** Makes the staging file hold every byte of [start, end) before that part is uploaded. */
  prepare: (start: number, end: number) => Promise<void>;
}

export class Uploader {
  constructor(
    private readonly store: ObjectStore,
    readonly config: UploaderConfig = DEFAULT_UPLOADER_CONFIG,
  ) {}

  async upload(req: UploadRequest): Promise<{ etag: string }> {
    if (req.size <= this.config.partSize) {
      const body = await readRange(req.source, 0, req.size);
      return this.conditionalPut(
        { key: req.key, body, metadata: req.metadata, contentType: req.contentType, signal: req.signal },
        req.precondition ?? { kind: "none" },
      );
    }
    return this.multipart(req);
  }

  private async conditionalPut(put: PutRequest, precondition: Precondition): Promise<{ etag: string }> {
    if (precondition.kind === "none") return this.store.put(put);
    if (precondition.kind === "absent") return this.store.put({ ...put, ifNoneMatch: "*" });
    try {
      return await this.store.put({ ...put, ifMatch: precondition.etag });
    } catch (err) {
      if (!isStoreError(err, "PreconditionFailed")) throw err;
      // RGW pacific compares a PUT's If-Match with the unquoted ETag and answers 412 to the
      // quoted one every other server expects: when HEAD shows the object unchanged, retry once.
      const unquoted = precondition.etag.replace(/^"|"$/g, "");
      if (unquoted === precondition.etag || (await this.currentEtag(put.key)) !== precondition.etag) throw err;
      return this.store.put({ ...put, ifMatch: unquoted });
    }
  }

  /** Rejects with PreconditionFailed unless the object is in the state the precondition names. */
  async checkPrecondition(key: string, precondition: Precondition = { kind: "none" }): Promise<void> {
    if (precondition.kind === "none") return;
    const etag = await this.currentEtag(key);
    const expected = precondition.kind === "absent" ? undefined : precondition.etag;
    if (etag !== expected)
      throw new StoreError("PreconditionFailed", `${key} changed in the bucket since it was opened`, key);
  }

  private async currentEtag(key: string): Promise<string | undefined> {
    return this.store.head({ key }).then(
      (info) => info.etag,
      (err: unknown) => {
        if (isStoreError(err, "NotFound")) return undefined;
        throw err;
      },
    );
  }

  /** Part size grows past the configured one only when the object would need more parts than allowed. */
  partSizeFor(size: number): number {
    return partSizeFor(size, this.config.partSize, this.store.capabilities);
  }

  private multipart(req: UploadRequest): Promise<{ etag: string }> {
    const partSize = this.partSizeFor(req.size);
    const parts: PartJob[] = Array.from({ length: Math.ceil(req.size / partSize) }, (_, i) => {
      const start = i * partSize;
      return async (session, partNumber) => {
        const body = await readRange(req.source, start, Math.min(partSize, req.size - start));
        await session.uploadPart(partNumber, body);
      };
    });
    return this.runMultipart(req, parts);
  }

  /**
   * Rewrites an existing object in place (see part-plan.ts): unchanged parts are copied from
   * `base` server-side, changed ones uploaded from staging after `prepare` fetched the base
   * bytes they still lack. A copy from a base that changed meanwhile fails with
   * PreconditionFailed, like any other conflict.
   */
  uploadRewrite(req: RewriteRequest): Promise<{ etag: string }> {
    // Several mid-sized copies run in parallel and each stays well inside request timeouts.
    const maxCopyPart = Math.min(this.store.capabilities.maxCopyPartSize, COPY_PART_TARGET);
    const plan = planParts({
      size: req.size,
      partSize: this.partSizeFor(req.size),
      maxCopyPart,
      copyable: req.copyable,
    });
    const { base } = req;
    const tail = req.size - base.size;
    if (
      this.store.append &&
      req.key === base.key &&
      tail > 0 &&
      tail <= this.config.partSize &&
      req.copyable(0, base.size)
    ) {
      return this.append(req, this.store.append.bind(this.store));
    }
    const parts: PartJob[] = plan.map((part) => async (session, partNumber) => {
      if (part.source === "copy") {
        return session
          .copyPart(partNumber, { key: base.key, etag: base.etag, start: part.start, end: part.end })
          .catch((err: unknown) => {
            // The base was deleted since the file was opened: that is a conflict too.
            throw isStoreError(err, "NotFound")
              ? new StoreError(
                  "PreconditionFailed",
                  `${base.key} changed in the bucket since it was opened`,
                  base.key,
                  { cause: err },
                )
              : err;
          });
      }
      await req.prepare(part.start, part.end);
      const body = await readRange(req.source, part.start, part.end - part.start);
      await session.uploadPart(partNumber, body);
    });
    return this.runMultipart(req, parts);
  }

  /** Only bytes were added at the end: the store appends server-side, sending just those. */
  private async append(req: RewriteRequest, append: NonNullable<ObjectStore["append"]>): Promise<{ etag: string }> {
    await req.prepare(req.base.size, req.size);
    const tail = await readRange(req.source, req.base.size, req.size - req.base.size);
    return append({
      key: req.key,
      baseEtag: req.base.etag,
      tail,
      metadata: req.metadata,
      contentType: req.contentType,
    });
  }

  /** Runs the part jobs through the shared multipart loop, checking the precondition before and after. */
  private async runMultipart(req: Omit<UploadRequest, "source" | "size">, jobs: PartJob[]): Promise<{ etag: string }> {
    await this.checkPrecondition(req.key, req.precondition);
    const target = { key: req.key, metadata: req.metadata, contentType: req.contentType, signal: req.signal };
    return runParts(this.store, target, jobs, {
      concurrency: this.config.concurrency,
      beforeComplete: () => this.checkPrecondition(req.key, req.precondition),
    });
  }
}

export async function readRange(source: StagingHandle, position: number, length: number): Promise<Buffer> {
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
