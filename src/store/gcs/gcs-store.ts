/**
 * ObjectStore over Google Cloud Storage (and GCS-compatible endpoints) with @google-cloud/storage.
 *
 * Mapping onto the contract:
 * - The version token (`etag`) is the object's generation. Reads send `ifGenerationMatch`, so a
 *   replaced object fails with PreconditionFailed (→ ESTALE), never mixes two versions; conditional
 *   writes use `ifGenerationMatch` (`0` = "must not exist").
 * - User metadata is GCS custom metadata under the same names the S3 backend uses (mode, uid,
 *   gid, mtime), so the vfs layer is backend-neutral.
 * - Multipart = one streaming resumable upload session fed in part order (gcs-resumable.ts), or,
 *   as the measured alternative, temporary part objects + compose (gcs-compose.ts); copy =
 *   rewrite (any size, so copyPart is only needed by callers that want a byte range).
 *
 * Credentials, the way Google users expect: Application Default Credentials by default
 * (GOOGLE_APPLICATION_CREDENTIALS, gcloud user credentials, metadata server); `anonymous` for
 * public buckets; `billingProject` is sent as `userProject` on every request (requester pays);
 * `endpoint` is the client's `apiEndpoint`. An http:// endpoint is an emulator and gets no
 * credentials; an https:// one (Private Service Connect, a proxy) is authenticated. The client is
 * built in gcs-client-config.ts; resources and list pages are read in gcs-resources.ts.
 *
 * Media downloads go through the client's authenticated `requestStream` rather than
 * `createReadStream`, because the latter cannot send `ifGenerationMatch`. What a server sends is
 * not trusted: a ranged GET keeps at most the bytes asked for (a longer body, or a Content-Range
 * for other bytes, is an error), an error body is read up to 64 KiB, and a LIST page token that
 * does not advance is an error rather than an endless listing.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Bucket, File, Storage } from "@google-cloud/storage";
import { StoreError } from "../errors.js";
import type {
  AbortMultipartRequest,
  AppendRequest,
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
  StoreCapabilities,
  UploadPartRequest,
} from "../object-store.js";
import {
  composeTree,
  decodeUploadId,
  encodeUploadId,
  intermediateKey,
  newUploadToken,
  partKey,
  PARTS_PREFIX,
  uploadPrefix,
  type ComposeSource,
  type UploadToken,
} from "./gcs-compose.js";
import { callGcs } from "./gcs-errors.js";
import { gcsClient, type GcsStoreConfig } from "./gcs-client-config.js";
import { toListPage, toObjectInfo, type GcsListResponse, type GcsObjectResource } from "./gcs-resources.js";
import { boundedMediaDownload } from "./gcs-download.js";
import { RESUMABLE_CHUNK, ResumableSessions } from "./gcs-resumable.js";

// Re-exported: whoever constructs a GcsStore finds its config type next to it.
export type { GcsStoreConfig } from "./gcs-client-config.js";

/**
 * Rewrite copies any size in one call. A resumable session takes any part sizes (gcs-resumable.ts
 * carries partial 256 KiB units over), compose has no minimum either; 10,000 parts bounds the
 * per-upload state (and compose's temporaries and rounds) like S3.
 */
const GCS_CAPABILITIES: StoreCapabilities = {
  readOnly: false,
  minPartSize: RESUMABLE_CHUNK,
  maxParts: 10_000,
  maxCopySize: Number.MAX_SAFE_INTEGER,
  // GCS has no server-side range copy: copyPart reads the range and uploads it.
  maxCopyPartSize: 0,
};

export class GcsStore implements ObjectStore {
  readonly capabilities = GCS_CAPABILITIES;
  readonly description: string;
  private readonly storage: Storage;
  private readonly bucket: Bucket;
  private readonly usesCredentials: boolean;
  private readonly userProject: Record<string, string>;
  private readonly composite: boolean;
  private readonly sessions = new ResumableSessions();

  constructor(config: GcsStoreConfig) {
    const client = gcsClient(config);
    this.description = `gs://${config.bucket}${client.given ? ` at ${client.given}` : ""}`;
    this.usesCredentials = client.usesCredentials;
    this.storage = client.storage;
    this.bucket = this.storage.bucket(
      config.bucket,
      config.billingProject ? { userProject: config.billingProject } : undefined,
    );
    this.userProject = config.billingProject ? { userProject: config.billingProject } : {};
    this.composite = config.uploadStrategy === "composite";
  }

  async checkAccess(signal?: AbortSignal): Promise<void> {
    if (this.usesCredentials) {
      await this.storage.authClient.getClient().catch((err: unknown) => {
        throw new StoreError(
          "InvalidCredentials",
          "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or use --anonymous",
          undefined,
          { cause: err },
        );
      });
    }
    // Listing needs only object permissions (a bucket GET needs storage.buckets.get, which
    // object-level roles lack), and a 404 on it can only mean the bucket.
    await this.list({ prefix: "", maxKeys: 1, signal }).catch((err: unknown) => {
      if (err instanceof StoreError && err.kind === "NotFound") {
        throw new StoreError("NoSuchBucket", `bucket "${this.bucket.name}" does not exist`, undefined, { cause: err });
      }
      throw err;
    });
  }

  async head(req: HeadRequest): Promise<ObjectInfo> {
    const [resource] = await callGcs("objects.get", req.key, () => this.file(req.key).getMetadata(), req.signal);
    return toObjectInfo(req.key, resource as GcsObjectResource);
  }

  async get(req: GetRequest): Promise<Buffer> {
    if (req.range && req.range.end <= req.range.start) return Buffer.alloc(0);
    const headers: Record<string, string> = { "Accept-Encoding": "identity" };
    if (req.range) headers.Range = `bytes=${req.range.start}-${req.range.end - 1}`;
    const qs: Record<string, string> = { alt: "media", ...this.userProject };
    if (req.ifMatch) qs.ifGenerationMatch = req.ifMatch;
    const result = await boundedMediaDownload(
      this.file(req.key).requestStream({ uri: "", qs, headers }),
      req.key,
      req.range,
      req.signal,
    );
    // A range starting at or past the end is 416 on GCS; the contract wants the bytes that exist (none).
    if (result instanceof StoreError) {
      if (result.kind === "InvalidRange" && req.range) return Buffer.alloc(0);
      throw result;
    }
    return result;
  }

  async list(req: ListRequest): Promise<ListPage> {
    const qs: Record<string, string | number> = { prefix: req.prefix, ...this.userProject };
    if (req.delimiter) qs.delimiter = req.delimiter;
    if (req.token) qs.pageToken = req.token;
    if (req.maxKeys) qs.maxResults = req.maxKeys;
    const [body] = await callGcs("objects.list", req.prefix, () => this.bucket.request({ uri: "/o", qs }), req.signal);
    return toListPage(body as GcsListResponse, req);
  }

  async put(req: PutRequest): Promise<{ etag: string }> {
    const ifGenerationMatch = req.ifNoneMatch === "*" ? 0 : req.ifMatch;
    return { etag: await this.upload(req.key, req.body, req.metadata, req.contentType, ifGenerationMatch, req.signal) };
  }

  async copy(req: CopyRequest): Promise<{ etag: string }> {
    // Only the metadata changes (chmod, chown, touch): objects.patch, not a rewrite of every byte.
    if (req.sourceKey === req.key && req.metadata)
      return this.replaceMetadata(req.key, req.metadata, req.contentType, req.sourceEtag, req.signal);
    // With a destination resource in the body, rewrite applies exactly that metadata (S3's
    // REPLACE); with an empty body it keeps the source's (S3's COPY).
    const json = req.metadata ? { metadata: req.metadata, contentType: req.contentType } : {};
    const qs: Record<string, string> = { ...this.userProject };
    if (req.sourceEtag) qs.ifSourceGenerationMatch = req.sourceEtag;
    const uri = `/rewriteTo/b/${encodeURIComponent(this.bucket.name)}/o/${encodeURIComponent(req.key)}`;
    for (;;) {
      const [body] = await callGcs(
        "objects.rewrite",
        req.key,
        () => this.file(req.sourceKey).request({ method: "POST", uri, qs, json }),
        req.signal,
      );
      const out = body as { done?: boolean; rewriteToken?: string; resource?: GcsObjectResource };
      if (out.resource && out.done !== false) return { etag: String(out.resource.generation ?? "") };
      // Large copies across locations or storage classes take several calls, continued by token.
      if (!out.rewriteToken)
        throw new StoreError("Other", "objects.rewrite returned neither a resource nor a token", req.key);
      qs.rewriteToken = out.rewriteToken;
    }
  }

  /**
   * Replaces an object's custom metadata in place. A patch merges, so names the new metadata
   * lacks are sent as null (removed), giving the same result as a rewrite with that metadata.
   * The generation (our ETag) stays; `ifGenerationMatch` guards against a replaced object.
   */
  private async replaceMetadata(
    key: string,
    metadata: Record<string, string>,
    contentType: string | undefined,
    etag: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ etag: string }> {
    const [current] = await callGcs("objects.get", key, () => this.file(key).getMetadata(), signal);
    const resource = current as GcsObjectResource;
    if (etag && String(resource.generation ?? "") !== etag)
      throw new StoreError("PreconditionFailed", `${key} changed (generation ${String(resource.generation)})`, key);
    const patch: Record<string, string | null> = {};
    for (const name of Object.keys(resource.metadata ?? {})) patch[name] = null;
    Object.assign(patch, metadata);
    const qs: Record<string, string> = { ...this.userProject, ifGenerationMatch: String(resource.generation ?? "") };
    const json = { metadata: patch, ...(contentType ? { contentType } : {}) };
    const [body] = await callGcs(
      "objects.patch",
      key,
      () => this.file(key).request({ method: "PATCH", uri: "", qs, json }),
      signal,
    );
    return { etag: String((body as GcsObjectResource).generation ?? resource.generation ?? "") };
  }

  /** An append as gcsfuse does it: the tail as a temporary object, composed after the base. */
  async append(req: AppendRequest): Promise<{ etag: string }> {
    const temporary = `${PARTS_PREFIX}append-${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`;
    const tailGeneration = await this.upload(temporary, req.tail, undefined, undefined, undefined, req.signal);
    try {
      const json = {
        sourceObjects: [
          { name: req.key, generation: req.baseEtag },
          { name: temporary, generation: tailGeneration },
        ],
        destination: { contentType: req.contentType ?? "application/octet-stream", metadata: req.metadata ?? {} },
      };
      const qs = { ...this.userProject, ifGenerationMatch: req.baseEtag };
      const [body] = await callGcs(
        "objects.compose",
        req.key,
        () => this.file(req.key).request({ method: "POST", uri: "/compose", qs, json }),
        req.signal,
      );
      return { etag: String((body as GcsObjectResource).generation ?? "") };
    } finally {
      await this.delete({ key: temporary }).catch(() => undefined); // left over: hidden, and removed by cleanup
    }
  }

  async delete(req: DeleteRequest): Promise<void> {
    await callGcs("objects.delete", req.key, () => this.file(req.key).delete({ ignoreNotFound: true }), req.signal);
  }

  async createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }> {
    if (this.composite) return { uploadId: encodeUploadId(newUploadToken(req.metadata, req.contentType)) };
    const metadata = { contentType: req.contentType ?? "application/octet-stream", metadata: req.metadata ?? {} };
    const [uri] = await callGcs(
      "resumable upload start",
      req.key,
      () => this.file(req.key).createResumableUpload({ metadata, ...this.userProject }),
      req.signal,
    );
    this.sessions.open(uri);
    return { uploadId: uri };
  }

  async uploadPart(req: UploadPartRequest): Promise<CompletedPart> {
    if (!this.composite) {
      await this.sessions.sendPart(req.uploadId, req.partNumber, req.body, req.key);
      return { partNumber: req.partNumber, etag: String(req.partNumber) };
    }
    const token = decodeUploadId(req.uploadId, req.key);
    const etag = await this.upload(
      partKey(token, req.partNumber),
      req.body,
      undefined,
      undefined,
      undefined,
      req.signal,
    );
    return { partNumber: req.partNumber, etag };
  }

  /** GCS cannot copy a byte range server-side: the range is read (pinned) and uploaded as a part. */
  async copyPart(req: CopyPartRequest): Promise<CompletedPart> {
    const body = await this.get({
      key: req.sourceKey,
      range: req.sourceRange,
      ifMatch: req.sourceEtag,
      signal: req.signal,
    });
    return this.uploadPart({
      key: req.key,
      uploadId: req.uploadId,
      partNumber: req.partNumber,
      body,
      signal: req.signal,
    });
  }

  async completeMultipart(req: CompleteMultipartRequest): Promise<{ etag: string }> {
    if (!this.composite)
      return { etag: (await this.sessions.complete(req.uploadId, req.parts.length, req.key)).generation };
    const token = decodeUploadId(req.uploadId, req.key);
    const sources = [...req.parts]
      .sort((a, b) => a.partNumber - b.partNumber)
      .map((p) => ({ name: partKey(token, p.partNumber), generation: p.etag }));
    try {
      const final = await composeTree(
        sources,
        (group, round, index) => this.compose(intermediateKey(token, round, index), group, {}, req.signal),
        (group) =>
          this.compose(req.key, group, { metadata: token.metadata, contentType: token.contentType }, req.signal),
      );
      return { etag: final.generation };
    } finally {
      await this.removeTemporaries(token, req.signal).catch(() => undefined); // the object is complete; leftovers are only cost
    }
  }

  async abortMultipart(req: AbortMultipartRequest): Promise<void> {
    if (!this.composite) return this.sessions.abort(req.uploadId);
    await this.removeTemporaries(decodeUploadId(req.uploadId, req.key), req.signal);
  }

  private file(key: string): File {
    return this.bucket.file(key);
  }

  /** A simple (single-request) upload; returns the new generation. */
  private async upload(
    key: string,
    body: Buffer,
    metadata: Record<string, string> | undefined,
    contentType: string | undefined,
    ifGenerationMatch: string | number | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    const file = this.file(key);
    await callGcs(
      "objects.insert",
      key,
      () =>
        file.save(body, {
          resumable: false,
          // GCS verifies the MD5 we send and rejects a corrupted body; no client-side re-check needed.
          validation: false,
          metadata: {
            contentType: contentType ?? "application/octet-stream",
            metadata: metadata ?? {},
            md5Hash: createHash("md5").update(body).digest("base64"),
          },
          preconditionOpts:
            ifGenerationMatch === undefined ? undefined : { ifGenerationMatch: Number(ifGenerationMatch) },
        }),
      signal,
    );
    return String((file.metadata as GcsObjectResource).generation ?? "");
  }

  private async compose(
    key: string,
    sources: ComposeSource[],
    destination: { metadata?: Record<string, string>; contentType?: string },
    signal?: AbortSignal,
  ): Promise<ComposeSource> {
    const json = {
      sourceObjects: sources.map((s) => ({ name: s.name, generation: s.generation })),
      destination: {
        contentType: destination.contentType ?? "application/octet-stream",
        metadata: destination.metadata ?? {},
      },
    };
    const [body] = await callGcs(
      "objects.compose",
      key,
      () => this.file(key).request({ method: "POST", uri: "/compose", qs: { ...this.userProject }, json }),
      signal,
    );
    return { name: key, generation: String((body as GcsObjectResource).generation ?? "") };
  }

  /** Deletes every part and intermediate of an upload, found by listing, so it works after a restart too. */
  private async removeTemporaries(token: UploadToken, signal?: AbortSignal): Promise<void> {
    let pageToken: string | undefined;
    do {
      const page = await this.list({ prefix: uploadPrefix(token), token: pageToken, signal });
      await Promise.all(page.objects.map((o) => this.delete({ key: o.key, signal })));
      pageToken = page.nextToken;
    } while (pageToken);
  }
}
