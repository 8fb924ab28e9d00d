/**
 * The one small interface every backend implements (S3, GCS, memory, IDC's read-only preset).
 *
 * Keys are full object keys (any mount prefix is applied by the layer above). `etag` is an opaque
 * version token: the S3 ETag, or the GCS generation. Requests are objects so new optional fields
 * do not break callers; each takes an optional AbortSignal.
 *
 * Contract (checked by test/contract/object-store.contract.ts against every backend):
 * - head/get of a missing key reject with StoreError "NotFound"; delete of a missing key succeeds.
 * - get with `ifMatch` rejects with "PreconditionFailed" when the object's etag differs.
 * - get with a range past the end returns the bytes that exist (possibly none).
 * - list returns keys in lexicographic (UTF-8 byte) order, at most `maxKeys` entries + prefixes
 *   per page, and a `nextToken` while more remain. Consistency is read-after-write.
 * - put replaces the whole object atomically; metadata is replaced with what is given.
 * - multipart: parts may be uploaded in any order and concurrently; every part but the last must
 *   be at least `minPartSize`; complete lists parts in ascending order.
 * - a store does not keep a reference to a request's `body` once the call settles: callers reuse
 *   part buffers.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  /** User metadata, lower-case names without the `x-amz-meta-` prefix. */
  metadata: Record<string, string>;
  contentType?: string;
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  /** User metadata, when the listing carries it (Azure); absent when it does not (S3, GCS). */
  metadata?: Record<string, string>;
}

export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes (each ends with the delimiter), when a delimiter was given. */
  prefixes: string[];
  nextToken?: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** End, exclusive. */
  end: number;
}

interface Signalled {
  signal?: AbortSignal;
}

export interface HeadRequest extends Signalled {
  key: string;
}
export interface GetRequest extends Signalled {
  key: string;
  range?: ByteRange;
  ifMatch?: string;
}
export interface ListRequest extends Signalled {
  prefix: string;
  delimiter?: string;
  token?: string;
  maxKeys?: number;
}
export interface PutRequest extends Signalled {
  key: string;
  body: Buffer;
  metadata?: Record<string, string>;
  contentType?: string;
  /** Write only if the current object has this etag (conflict-safe overwrite). */
  ifMatch?: string;
  /** Write only if no object exists under the key. */
  ifNoneMatch?: "*";
}
export interface CreateMultipartRequest extends Signalled {
  key: string;
  metadata?: Record<string, string>;
  contentType?: string;
}
export interface UploadPartRequest extends Signalled {
  key: string;
  uploadId: string;
  partNumber: number;
  body: Buffer;
}
/** `key` at version `baseEtag`, followed by `tail`, becomes the new `key` (metadata replaced). */
export interface AppendRequest extends Signalled {
  key: string;
  baseEtag: string;
  tail: Buffer;
  metadata?: Record<string, string>;
  contentType?: string;
}
export interface CopyPartRequest extends Signalled {
  key: string;
  uploadId: string;
  partNumber: number;
  sourceKey: string;
  sourceRange: ByteRange;
  sourceEtag?: string;
}
export interface CompletedPart {
  partNumber: number;
  etag: string;
}
export interface CompleteMultipartRequest extends Signalled {
  key: string;
  uploadId: string;
  parts: CompletedPart[];
}
export interface AbortMultipartRequest extends Signalled {
  key: string;
  uploadId: string;
}
export interface CopyRequest extends Signalled {
  sourceKey: string;
  key: string;
  /** When given, replaces the metadata; otherwise the source's metadata is kept. */
  metadata?: Record<string, string>;
  contentType?: string;
  sourceEtag?: string;
}
export interface DeleteRequest extends Signalled {
  key: string;
}

export interface StoreCapabilities {
  readOnly: boolean;
  /** Smallest size of a non-final multipart part. */
  minPartSize: number;
  maxParts: number;
  /** Largest object a single `copy` can produce; above it copy with copyPart. */
  maxCopySize: number;
  /**
   * Largest byte range one copyPart copies server-side; 0 when copyPart is not server-side
   * (the bytes go through this machine), so callers should not prefer it over an upload.
   */
  maxCopyPartSize: number;
}

/** A ranged GET described for another HTTP client (the native cache filler): URL and signed headers. */
export interface SignedRange {
  url: string;
  /** "Name: value" lines, signed; Host is implied by the URL. */
  headers: string[];
}

export type RangeSigner = (req: {
  key: string;
  range: { start: number; end: number };
  ifMatch?: string;
}) => Promise<SignedRange>;

export interface ObjectStore {
  readonly capabilities: StoreCapabilities;
  /** Human-readable location, e.g. `s3://bucket at http://127.0.0.1:7480`. No secrets. */
  readonly description: string;

  /** Proves the bucket exists and the credentials work; rejects with a precise StoreError. */
  checkAccess(signal?: AbortSignal): Promise<void>;
  head(req: HeadRequest): Promise<ObjectInfo>;
  get(req: GetRequest): Promise<Buffer>;
  list(req: ListRequest): Promise<ListPage>;
  put(req: PutRequest): Promise<{ etag: string }>;
  copy(req: CopyRequest): Promise<{ etag: string }>;
  delete(req: DeleteRequest): Promise<void>;

  createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }>;
  uploadPart(req: UploadPartRequest): Promise<CompletedPart>;
  copyPart(req: CopyPartRequest): Promise<CompletedPart>;
  completeMultipart(req: CompleteMultipartRequest): Promise<{ etag: string }>;
  abortMultipart(req: AbortMultipartRequest): Promise<void>;
  /**
   * Appends server-side, moving only the tail (GCS: upload the tail, compose base + tail).
   * Fails with PreconditionFailed if `key` is no longer at `baseEtag`. Stores without a cheap
   * append (S3: a multipart rewrite with UploadPartCopy does it) leave it out.
   */
  append?(req: AppendRequest): Promise<{ etag: string }>;
  /** Stores whose ranged GETs another HTTP client may send (S3); the others leave it out. */
  readonly signRangeGet?: RangeSigner;
  /** A presigned URL for a plain HEAD of `key` another HTTP client may send (S3); others leave it out. */
  readonly signHead?: (key: string) => Promise<string>;
}

/**
 * What reading a tree needs: lookups, listings and ranged GETs. IDC's public buckets offer only
 * this, so its namespace and the read chain take a ReadableStore and nothing has to refuse writes.
 */
export type ReadableStore = Pick<
  ObjectStore,
  "capabilities" | "description" | "checkAccess" | "head" | "get" | "list" | "signRangeGet"
>;

/** Lists every object under a prefix (no delimiter), page by page. */
export async function* listAll(
  store: ReadableStore,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, token, signal });
    yield* page.objects;
    token = page.nextToken;
  } while (token);
}
