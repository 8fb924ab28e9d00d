/**
 * An ObjectStore decorator that measures every request (operation, outcome, latency, bytes) and
 * tracks the progress of uploads in flight, for metrics and `bucketfs status`. It wraps any
 * store; it changes no behaviour and rethrows every error as it came.
 */
import { isStoreError } from "./errors.js";
import type {
  AbortMultipartRequest,
  CompleteMultipartRequest,
  CompletedPart,
  CopyPartRequest,
  CopyRequest,
  CreateMultipartRequest,
  DeleteRequest,
  GetRequest,
  HeadRequest,
  ListPage,
  ListRequest,
  ObjectInfo,
  ObjectStore,
  PutRequest,
  RangeSigner,
  UploadPartRequest,
} from "./object-store.js";

/** Receives one call per request. `status` is "ok" or the StoreError kind ("Other" for anything else). */
export interface StoreObserver {
  storeRequest(op: string, status: string, durationMs: number, bytesIn: number, bytesOut: number): void;
}

/** Bytes already sent for each key with an upload (PUT or multipart) in flight. */
export class UploadProgress {
  // INVARIANT: a key is present exactly while a put or a multipart upload of it is in flight.
  private readonly sent = new Map<string, number>();

  start(key: string): void {
    this.sent.set(key, 0);
  }
  add(key: string, bytes: number): void {
    const current = this.sent.get(key);
    if (current !== undefined) this.sent.set(key, current + bytes);
  }
  end(key: string): void {
    this.sent.delete(key);
  }
  /** Bytes sent so far, or undefined when no upload of `key` is in flight. */
  sentBytes(key: string): number | undefined {
    return this.sent.get(key);
  }
}

export class MeteredStore implements ObjectStore {
  readonly capabilities: ObjectStore["capabilities"];
  readonly description: string;
  readonly uploads = new UploadProgress();

  /** Transfers signed here are sent by the native filler, which reports them itself (`nativeGet`). */
  readonly signRangeGet?: RangeSigner;
  /** HEADs signed here are sent by the native HEAD threads (not counted in the request metrics). */
  readonly signHead?: (key: string) => Promise<string>;

  constructor(
    private readonly inner: ObjectStore,
    private readonly observer: StoreObserver,
  ) {
    this.capabilities = inner.capabilities;
    this.description = inner.description;
    if (inner.signRangeGet) this.signRangeGet = inner.signRangeGet.bind(inner);
    if (inner.signHead) this.signHead = inner.signHead.bind(inner);
  }

  /** One GET the native filler sent, measured like the others (its bytes never pass here). */
  nativeGet(bytes: number, durationMs: number, ok: boolean): void {
    this.observer.storeRequest("get", ok ? "ok" : "Other", durationMs, ok ? bytes : 0, 0);
  }

  private async measure<T>(
    op: string,
    work: () => Promise<T>,
    bytes: (value: T) => [number, number] = () => [0, 0],
  ): Promise<T> {
    const started = performance.now();
    try {
      const value = await work();
      const [bytesIn, bytesOut] = bytes(value);
      this.observer.storeRequest(op, "ok", performance.now() - started, bytesIn, bytesOut);
      return value;
    } catch (err) {
      this.observer.storeRequest(op, isStoreError(err) ? err.kind : "Other", performance.now() - started, 0, 0);
      throw err;
    }
  }

  checkAccess(signal?: AbortSignal): Promise<void> {
    return this.measure("checkAccess", () => this.inner.checkAccess(signal));
  }
  head(req: HeadRequest): Promise<ObjectInfo> {
    return this.measure("head", () => this.inner.head(req));
  }
  get(req: GetRequest): Promise<Buffer> {
    return this.measure(
      "get",
      () => this.inner.get(req),
      (body) => [body.length, 0],
    );
  }
  list(req: ListRequest): Promise<ListPage> {
    return this.measure("list", () => this.inner.list(req));
  }
  async put(req: PutRequest): Promise<{ etag: string }> {
    this.uploads.start(req.key);
    try {
      return await this.measure(
        "put",
        () => this.inner.put(req),
        () => [0, req.body.length],
      );
    } finally {
      this.uploads.end(req.key);
    }
  }
  copy(req: CopyRequest): Promise<{ etag: string }> {
    return this.measure("copy", () => this.inner.copy(req));
  }
  delete(req: DeleteRequest): Promise<void> {
    return this.measure("delete", () => this.inner.delete(req));
  }
  async createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }> {
    const created = await this.measure("createMultipart", () => this.inner.createMultipart(req));
    this.uploads.start(req.key);
    return created;
  }
  async uploadPart(req: UploadPartRequest): Promise<CompletedPart> {
    const part = await this.measure(
      "uploadPart",
      () => this.inner.uploadPart(req),
      () => [0, req.body.length],
    );
    this.uploads.add(req.key, req.body.length);
    return part;
  }
  copyPart(req: CopyPartRequest): Promise<CompletedPart> {
    return this.measure("copyPart", () => this.inner.copyPart(req));
  }
  async completeMultipart(req: CompleteMultipartRequest): Promise<{ etag: string }> {
    try {
      return await this.measure("completeMultipart", () => this.inner.completeMultipart(req));
    } finally {
      this.uploads.end(req.key);
    }
  }
  async abortMultipart(req: AbortMultipartRequest): Promise<void> {
    try {
      await this.measure("abortMultipart", () => this.inner.abortMultipart(req));
    } finally {
      this.uploads.end(req.key);
    }
  }
}
