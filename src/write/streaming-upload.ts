/**
 * Streaming multipart upload of a file written front to back: each whole part the writer
 * collects (see PartTail) is uploaded in the background from that same buffer (at most
 * `concurrency` at a time), so close only waits for the parts still in flight and the tail.
 *
 * The staging file stays the source of truth: the tail is read from it at finish, and if the
 * pattern stops being sequential (a seek, a truncate) the stream is aborted and the normal
 * whole-file upload from staging takes over. A part that fails makes `finish` reject (EIO for
 * the writer) after aborting the multipart upload, so no orphaned parts remain; the next flush
 * uploads from staging again.
 *
 * Writers get backpressure from here: `add` waits while `concurrency` parts are in flight.
 */
import { StoreError } from "../store/errors.js";
import { MultipartSession } from "../store/multipart.js";
import type { ObjectStore } from "../store/object-store.js";
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
  private readonly session: MultipartSession;
  /** Parts handed to the session (uploaded or in flight). */
  private partCount = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** Bytes handed to part uploads so far (a multiple of partSize). */
  private started = 0;
  private error?: unknown;
  private closed = false;

  constructor(private readonly o: StreamingUploadOptions) {
    this.session = new MultipartSession(o.store, { key: o.key, metadata: o.metadata, contentType: o.contentType });
  }

  /** Bytes uploaded or in flight: the data that no longer counts as dirty. */
  get streamedBytes(): number {
    return this.started;
  }

  /** True while parts are being uploaded. */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /**
   * The whole part at `start` is in `body`. Parts must come in order; one that cannot be
   * streamed (the store's part limit) is left for `finish`, with all after it. Resolves once the
   * part is under way; `released` settles when `body` is no longer needed. (Wrapped in an
   * object: an async function returning the promise itself would wait for it.)
   */
  async add(start: number, body: Buffer): Promise<{ released: Promise<void> }> {
    const { concurrency, store } = this.o;
    const skipped = { released: Promise.resolve() };
    if (start !== this.started || this.partCount + 1 >= store.capabilities.maxParts) return skipped;
    while (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
    if (this.closed || this.error !== undefined) return skipped;
    this.started += body.length;
    return { released: this.startPart(start, async () => body) };
  }

  /** Uploads the tail and completes the object once every part is in. */
  async finish(size: number, precondition: Precondition): Promise<{ etag: string }> {
    this.closed = true;
    try {
      if (size < this.started)
        throw new StoreError("Other", `${this.o.key} shrank during a streaming upload`, this.o.key);
      const start = this.started;
      if (size > start || start === 0) this.startPart(start, () => readRange(this.o.source, start, size - start));
      await Promise.all([...this.inFlight]);
      if (this.error !== undefined) throw this.error;
      await this.o.uploader.checkPrecondition(this.o.key, precondition);
      return await this.session.complete();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Stops the stream and removes its parts from the server (idempotent; never throws). */
  async abort(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.session.abort();
  }

  private startPart(start: number, read: () => Promise<Buffer>): Promise<void> {
    const partNumber = start / this.o.partSize + 1;
    this.partCount++;
    const work = (async (): Promise<void> => {
      await this.session.id();
      await this.session.uploadPart(partNumber, await read());
    })().catch((err: unknown) => {
      this.error ??= err;
    });
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return tracked;
  }
}
