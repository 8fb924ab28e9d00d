/**
 * The one multipart loop and the one part-size rule, shared by every writer of large objects:
 * the uploader (whole file or in-place rewrite from staging), the streaming upload of a file
 * written front to back, and the server-side copy of an object above the single-copy limit.
 *
 * `MultipartSession` owns one upload id: it creates it on first use, collects the parts, lists
 * them in ascending order on complete, and aborts idempotently (no orphaned parts are billed).
 * `runParts` runs part jobs with a fixed number of workers; when one fails the others stop taking
 * jobs, the in-flight ones settle, and the upload is aborted.
 */
import type { CompletedPart, ObjectStore, StoreCapabilities } from "./object-store.js";

const MiB = 1024 * 1024;

/**
 * Part size for an object of `size` bytes: `preferred` (raised to the store's minimum), grown in
 * whole MiB only when the object would otherwise need more than `maxParts` parts. So a 5 TiB
 * object with 512 MiB preferred parts takes 525 MiB parts: 9,987 of them, under S3's 10,000.
 */
export function partSizeFor(
  size: number,
  preferred: number,
  capabilities: Pick<StoreCapabilities, "minPartSize" | "maxParts">,
): number {
  const partSize = Math.max(preferred, capabilities.minPartSize);
  if (Math.ceil(size / partSize) <= capabilities.maxParts) return partSize;
  return Math.ceil(size / capabilities.maxParts / MiB) * MiB;
}

export interface MultipartTarget {
  key: string;
  metadata?: Record<string, string>;
  contentType?: string;
  /** Cancels the upload: no new part starts, and the upload is aborted. */
  signal?: AbortSignal;
}

export class MultipartSession {
  private uploadId?: Promise<string>;
  private readonly parts: CompletedPart[] = [];

  constructor(
    private readonly store: ObjectStore,
    readonly target: MultipartTarget,
  ) {}

  /** The upload id, creating the multipart upload on first use. */
  id(): Promise<string> {
    const { key, metadata, contentType, signal } = this.target;
    this.uploadId ??= this.store.createMultipart({ key, metadata, contentType, signal }).then((r) => r.uploadId);
    return this.uploadId;
  }

  get started(): boolean {
    return this.uploadId !== undefined;
  }

  async uploadPart(partNumber: number, body: Buffer): Promise<void> {
    const uploadId = await this.id();
    this.parts.push(
      await this.store.uploadPart({ key: this.target.key, uploadId, partNumber, body, signal: this.target.signal }),
    );
  }

  async copyPart(
    partNumber: number,
    source: { key: string; etag?: string; start: number; end: number },
  ): Promise<void> {
    const uploadId = await this.id();
    this.parts.push(
      await this.store.copyPart({
        key: this.target.key,
        uploadId,
        partNumber,
        sourceKey: source.key,
        sourceRange: { start: source.start, end: source.end },
        sourceEtag: source.etag,
        signal: this.target.signal,
      }),
    );
  }

  async complete(): Promise<{ etag: string }> {
    const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
    return this.store.completeMultipart({ key: this.target.key, uploadId: await this.id(), parts });
  }

  /** Removes the upload and its parts from the server (idempotent; never throws). */
  async abort(): Promise<void> {
    if (!this.uploadId) return;
    const uploadId = await this.uploadId.catch(() => undefined);
    this.uploadId = undefined;
    if (uploadId) await this.store.abortMultipart({ key: this.target.key, uploadId }).catch(() => undefined);
  }
}

/** Sends part `partNumber` (1-based) through the session. */
export type PartJob = (session: MultipartSession, partNumber: number) => Promise<void>;

export interface RunPartsOptions {
  concurrency: number;
  /** Runs after every part is in and before completing (a precondition check); a throw aborts. */
  beforeComplete?: () => Promise<void>;
}

/** Runs `jobs` as parts 1..n of one multipart upload and completes it; aborts it if anything fails. */
export async function runParts(
  store: ObjectStore,
  target: MultipartTarget,
  jobs: readonly PartJob[],
  options: RunPartsOptions,
): Promise<{ etag: string }> {
  const session = new MultipartSession(store, target);
  await session.id();
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < jobs.length) {
      target.signal?.throwIfAborted();
      const index = next++;
      await jobs[index]!(session, index + 1);
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(options.concurrency, jobs.length)) }, () =>
    worker().catch((err: unknown) => {
      failed = true;
      throw err;
    }),
  );
  const results = await Promise.allSettled(workers);
  try {
    const rejection = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (rejection) throw rejection.reason;
    target.signal?.throwIfAborted();
    await options.beforeComplete?.();
  } catch (err) {
    await session.abort();
    throw err;
  }
  return session.complete();
}
