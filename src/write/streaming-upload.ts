/**
 * Streaming multipart upload of a file written front to back: each time the staged data grows
 * past a part boundary, that part is uploaded in the background (at most `concurrency` at a
 * time), so close only waits for the parts still in flight and the tail.
 *
 * The staging file stays the source of truth: parts are read back from it (page cache), and if
 * the pattern stops being sequential (a seek, a truncate) the stream is aborted and the normal
 * whole-file upload from staging takes over. A part that fails makes `finish` reject (EIO for
 * the writer) after aborting the multipart upload, so no orphaned parts remain; the next flush
 * uploads from staging again.
 *
 * Writers get backpressure from here: `grew` waits while `concurrency` parts are in flight.
 */
import { StoreError } from "../store/errors.js";
import type { CompletedPart, ObjectStore } from "../store/object-store.js";
import type { StagingHandle } from "./staging.js";
import { readRange, type Precondition, type Uploader } from "./uploader.js";

export interface StreamingUploadOptions {
  store: ObjectStore;
  uploader: Uploader;
  key: string;
  source: StagingHandle;
  partSize: number;
  concurrency: number;
  metadata: Record<string, string>;
  contentType?: string;
}

export class StreamingUpload {
  private uploadId?: Promise<string>;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Bytes handed to part uploads so far (a multiple of partSize). */
  private started = 0;
  private error?: unknown;
  private closed = false;

  constructor(private readonly o: StreamingUploadOptions) {}

  /** Bytes uploaded or in flight: the data that no longer counts as dirty. */
  get streamedBytes(): number {
    return this.started;
  }

  /** True while parts are being uploaded. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** The file now has `size` bytes, all written in order: start the parts that are complete. */
  async grew(size: number): Promise<void> {
    const { partSize, concurrency, store } = this.o;
    while (!this.closed && this.error === undefined && size - this.started >= partSize) {
      if (this.parts.length + this.inFlight.size + 1 >= store.capabilities.maxParts) return; // the tail goes in finish
      while (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
      if (this.closed || this.error !== undefined) return;
      this.startPart(this.started, partSize);
      this.started += partSize;
    }
  }

  /** Uploads the tail and completes the object once every part is in. */
  async finish(size: number, precondition: Precondition): Promise<{ etag: string }> {
    this.closed = true;
    try {
      if (size < this.started) throw new StoreError("Other", `${this.o.key} shrank during a streaming upload`, this.o.key);
      if (size > this.started || this.started === 0) this.startPart(this.started, size - this.started);
      await Promise.all([...this.inFlight]);
      if (this.error !== undefined) throw this.error;
      await this.o.uploader.checkPrecondition(this.o.key, precondition);
      const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
      return await this.o.store.completeMultipart({ key: this.o.key, uploadId: await this.id(), parts });
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Stops the stream and removes its parts from the server (idempotent; never throws). */
  async abort(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    if (!this.uploadId) return;
    const uploadId = await this.uploadId.catch(() => undefined);
    this.uploadId = undefined;
    if (uploadId) await this.o.store.abortMultipart({ key: this.o.key, uploadId }).catch(() => undefined);
  }

  private id(): Promise<string> {
    this.uploadId ??= this.o.store.createMultipart({ key: this.o.key, metadata: this.o.metadata, contentType: this.o.contentType }).then((r) => r.uploadId);
    return this.uploadId;
  }

  private startPart(start: number, length: number): void {
    const partNumber = start / this.o.partSize + 1;
    const work = (async (): Promise<void> => {
      const uploadId = await this.id();
      const body = await readRange(this.o.source, start, length);
      this.parts.push(await this.o.store.uploadPart({ key: this.o.key, uploadId, partNumber, body }));
    })().catch((err: unknown) => {
      this.error ??= err;
    });
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
