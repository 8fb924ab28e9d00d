/**
 * ObjectStore over S3 and S3-compatible servers (Ceph RGW, MinIO), with @aws-sdk/client-s3.
 *
 * Connection reuse matters more than anything else for small requests, so one keep-alive agent
 * with a generous socket pool is shared by every request. Retries on 5xx, SlowDown, resets and
 * timeouts are the SDK's standard retry strategy (exponential backoff with jitter); an outage
 * past those is waited out in s3-sdk-call.ts. The client is configured in s3-client-config.ts.
 * The bulk data requests (ranged GET, PutObject, UploadPart) skip the SDK: see s3-data-path.ts.
 */
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { StoreError } from "../errors.js";
import type {
  AbortMultipartRequest,
  CompletedPart,
  CompleteMultipartRequest,
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
  StoreCapabilities,
  UploadPartRequest,
} from "../object-store.js";
import { toStoreError } from "./s3-errors.js";
import { leanDataPath, type S3DataPath } from "./s3-data-path.js";
import { s3HeadSigner, s3RangeSigner } from "./s3-range-signer.js";
import { SIGNED_URL_EXPIRY_MS } from "../range-signer.js";
import { backoffMs } from "./s3-retry.js";
import { clientConfig, connectionAgent, type S3StoreConfig } from "./s3-client-config.js";
import { sdkCall } from "./s3-sdk-call.js";
import { readBody, withPayloadHash } from "./s3-sdk-payload.js";

/** Attempts at a GET whose body fails after the headers arrived (the SDK does not retry those). */
const BODY_ATTEMPTS = 5;

export { backoffMs } from "./s3-retry.js";
// Re-exported: whoever constructs an S3Store finds its config type next to it (sign.ts, which needs
// no store, imports s3-client-config.ts directly).
export { clientConfig, type S3StoreConfig } from "./s3-client-config.js";

/** S3's own limits: 5 MiB minimum part, 10,000 parts, 5 GiB single copy. */
const S3_CAPABILITIES: StoreCapabilities = {
  readOnly: false,
  minPartSize: 5 * 1024 * 1024,
  maxParts: 10_000,
  maxCopySize: 5 * 1024 ** 3,
  maxCopyPartSize: 5 * 1024 ** 3,
};

export class S3Store implements ObjectStore {
  readonly capabilities = S3_CAPABILITIES;
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly outagePatienceMs: number;
  /** Ranged GET, PutObject and UploadPart without the SDK (s3-data-path.ts); undefined: the SDK does those too. */
  private readonly data: S3DataPath | undefined;
  /** Which client carries ranged GETs, PutObject and UploadPart (for logs, tests, the benchmark). */
  readonly dataPath: "lean" | "sdk";
  /** Ranged GETs for the native cache filler to send (s3-range-signer.ts). */
  readonly signRangeGet?: RangeSigner;
  /** HEADs for the native HEAD threads to send (readdir attributes). */
  readonly signHead?: (key: string) => Promise<string>;

  constructor(config: S3StoreConfig) {
    this.bucket = config.bucket;
    this.outagePatienceMs = config.outagePatienceMs ?? 120_000;
    this.description = `s3://${config.bucket}${config.endpoint ? ` at ${config.endpoint}` : ""}`;
    // One connection pool for the SDK's control plane and the lean data path.
    const agent = connectionAgent(config);
    const sdkConfig = clientConfig(config, agent);
    this.client = new S3Client(sdkConfig);
    this.data = leanDataPath(this.client, sdkConfig, agent, {
      bucket: config.bucket,
      requestTimeoutMs: config.requestTimeoutMs ?? 60_000,
      maxAttempts: config.maxAttempts ?? 5,
      outagePatienceMs: this.outagePatienceMs,
      noSignRequest: config.noSignRequest ?? false,
    });
    this.dataPath = this.data ? "lean" : "sdk";
    // Anonymous mounts have nothing to presign with: the native filler is not offered then.
    if (!config.noSignRequest) {
      this.signRangeGet = s3RangeSigner(this.client, this.bucket);
      const data = this.data;
      this.signHead = data
        ? (key) => data.presignHead(key, SIGNED_URL_EXPIRY_MS / 1000)
        : s3HeadSigner(this.client, this.bucket);
    }
  }

  async checkAccess(signal?: AbortSignal): Promise<void> {
    await this.call(
      "HeadBucket",
      undefined,
      (abortSignal) => this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }),
      signal,
    ).catch(async (err: unknown) => {
      // HeadBucket has no body, so a 404 arrives as plain NotFound: for a bucket it means NoSuchBucket.
      if (err instanceof StoreError && err.kind === "NotFound") {
        throw new StoreError("NoSuchBucket", `bucket "${this.bucket}" does not exist`, undefined, { cause: err });
      }
      // A bodiless 403 cannot tell a wrong secret from a missing permission; a LIST's error body can.
      if (err instanceof StoreError && err.kind === "AccessDenied") {
        await this.list({ prefix: "", maxKeys: 1, signal });
      }
      throw err;
    });
  }

  async head(req: HeadRequest): Promise<ObjectInfo> {
    if (this.data) return this.data.head(req);
    const out = await this.call(
      "HeadObject",
      req.key,
      (abortSignal) => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: req.key }), { abortSignal }),
      req.signal,
    );
    return {
      key: req.key,
      size: out.ContentLength ?? 0,
      etag: quoted(out.ETag ?? ""),
      lastModified: out.LastModified ?? new Date(0),
      metadata: out.Metadata ?? {},
      contentType: out.ContentType,
    };
  }

  async get(req: GetRequest): Promise<Buffer> {
    if (req.range && req.range.end <= req.range.start) return Buffer.alloc(0);
    // Only ranged GETs take the lean path: their size is known before the request, so nothing is
    // allocated from what a server announces. Whole-object GETs (symlink targets) are small and rare.
    if (req.range && this.data) return this.data.get({ ...req, range: req.range });
    const range = req.range ? `bytes=${req.range.start}-${req.range.end - 1}` : undefined;
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: req.key, Range: range, IfMatch: req.ifMatch });
    // The SDK retries a request until its headers arrive; a body cut off later (reset, truncated
    // stream, stall past the timeout) is retried here, with the same backoff and jitter.
    for (let attempt = 1; ; attempt++) {
      const out = await this.call(
        "GetObject",
        req.key,
        (abortSignal) => this.client.send(command, { abortSignal }),
        req.signal,
      );
      try {
        const bytes = await readBody(out.Body as Readable, out.ContentLength);
        if (out.ContentLength !== undefined && bytes.byteLength !== out.ContentLength) {
          throw new StoreError(
            "Unreachable",
            `GetObject body truncated: ${bytes.byteLength} of ${out.ContentLength} bytes`,
            req.key,
          );
        }
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (err) {
        const error = toStoreError(err, "GetObject body", req.key);
        if (error.kind === "Aborted" || req.signal?.aborted || attempt >= BODY_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, backoffMs(attempt)));
      }
    }
  }

  async list(req: ListRequest): Promise<ListPage> {
    const command = new ListObjectsV2Command({
      Bucket: this.bucket,
      Prefix: req.prefix,
      Delimiter: req.delimiter,
      ContinuationToken: req.token,
      MaxKeys: req.maxKeys,
    });
    const out = await this.call(
      "ListObjectsV2",
      req.prefix,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    // Every caller pages until there is no token: a token that does not advance would loop forever,
    // and a truncated page without one would end the listing short without a word.
    const nextToken = out.IsTruncated ? out.NextContinuationToken || undefined : undefined;
    if (out.IsTruncated && nextToken === undefined) {
      throw new StoreError(
        "Other",
        `ListObjectsV2 under ${JSON.stringify(req.prefix)} says the listing is truncated but gives no continuation token`,
        req.prefix,
      );
    }
    if (nextToken !== undefined && nextToken === req.token) {
      throw new StoreError(
        "Other",
        `ListObjectsV2 under ${JSON.stringify(req.prefix)} returned the continuation token it was given: the server is not advancing the listing; stopped`,
        req.prefix,
      );
    }
    return {
      objects: (out.Contents ?? []).map((o) => ({
        key: o.Key ?? "",
        size: o.Size ?? 0,
        etag: quoted(o.ETag ?? ""),
        lastModified: o.LastModified ?? new Date(0),
      })),
      prefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix ?? "").filter((p) => p !== ""),
      nextToken,
    };
  }

  async put(req: PutRequest): Promise<{ etag: string }> {
    if (this.data) return { etag: quoted((await this.data.put(req)).etag) };
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: req.key,
      Body: req.body,
      ContentLength: req.body.length,
      Metadata: req.metadata,
      ContentType: req.contentType,
      IfMatch: req.ifMatch,
      IfNoneMatch: req.ifNoneMatch,
    });
    await withPayloadHash(command, req.body);
    const out = await this.call(
      "PutObject",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { etag: quoted(out.ETag ?? "") };
  }

  async copy(req: CopyRequest): Promise<{ etag: string }> {
    const command = new CopyObjectCommand({
      Bucket: this.bucket,
      Key: req.key,
      CopySource: this.copySource(req.sourceKey),
      MetadataDirective: req.metadata ? "REPLACE" : "COPY",
      Metadata: req.metadata,
      ContentType: req.metadata ? req.contentType : undefined,
      CopySourceIfMatch: req.sourceEtag,
    });
    const out = await this.call(
      "CopyObject",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { etag: quoted(out.CopyObjectResult?.ETag ?? "") };
  }

  async delete(req: DeleteRequest): Promise<void> {
    await this.call(
      "DeleteObject",
      req.key,
      (abortSignal) =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: req.key }), { abortSignal }),
      req.signal,
    );
  }

  async createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }> {
    const command = new CreateMultipartUploadCommand({
      Bucket: this.bucket,
      Key: req.key,
      Metadata: req.metadata,
      ContentType: req.contentType,
    });
    const out = await this.call(
      "CreateMultipartUpload",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { uploadId: out.UploadId ?? "" };
  }

  async uploadPart(req: UploadPartRequest): Promise<CompletedPart> {
    if (this.data) return { partNumber: req.partNumber, etag: quoted((await this.data.uploadPart(req)).etag) };
    const command = new UploadPartCommand({
      Bucket: this.bucket,
      Key: req.key,
      UploadId: req.uploadId,
      PartNumber: req.partNumber,
      Body: req.body,
      ContentLength: req.body.length,
    });
    await withPayloadHash(command, req.body);
    const out = await this.call(
      "UploadPart",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { partNumber: req.partNumber, etag: quoted(out.ETag ?? "") };
  }

  async copyPart(req: CopyPartRequest): Promise<CompletedPart> {
    const command = new UploadPartCopyCommand({
      Bucket: this.bucket,
      Key: req.key,
      UploadId: req.uploadId,
      PartNumber: req.partNumber,
      CopySource: this.copySource(req.sourceKey),
      CopySourceIfMatch: req.sourceEtag,
      CopySourceRange: `bytes=${req.sourceRange.start}-${req.sourceRange.end - 1}`,
    });
    const out = await this.call(
      "UploadPartCopy",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { partNumber: req.partNumber, etag: quoted(out.CopyPartResult?.ETag ?? "") };
  }

  async completeMultipart(req: CompleteMultipartRequest): Promise<{ etag: string }> {
    const command = new CompleteMultipartUploadCommand({
      Bucket: this.bucket,
      Key: req.key,
      UploadId: req.uploadId,
      MultipartUpload: { Parts: req.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
    });
    const out = await this.call(
      "CompleteMultipartUpload",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
    return { etag: quoted(out.ETag ?? "") };
  }

  async abortMultipart(req: AbortMultipartRequest): Promise<void> {
    const command = new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: req.key, UploadId: req.uploadId });
    await this.call(
      "AbortMultipartUpload",
      req.key,
      (abortSignal) => this.client.send(command, { abortSignal }),
      req.signal,
    );
  }

  destroy(): void {
    this.client.destroy();
  }

  private copySource(key: string): string {
    return `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`;
  }

  /** Every SDK call goes through sdkCall (s3-sdk-call.ts): StoreErrors, and patience with an outage. */
  private call<T>(
    what: string,
    key: string | undefined,
    run: (signal?: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    return sdkCall(what, key, run, signal, this.outagePatienceMs);
  }
}

/**
 * ETags in their canonical quoted form. RGW pacific returns some (UploadPartCopy, and under some
 * paths CompleteMultipartUpload) without quotes, and every comparison of versions above the store
 * (conflict checks, cache validity) must see one spelling for one version.
 */
function quoted(etag: string): string {
  return etag === "" || etag.startsWith('"') ? etag : `"${etag}"`;
}
