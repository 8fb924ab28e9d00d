/**
 * A complete in-memory ObjectStore: same contract as S3 (ETags, preconditions, paginated listing
 * with delimiters, multipart with part-size rules, server-side copy). Product code, not a mock:
 * unit tests and `bucketfs mount mem://…` run on it, and the contract suite keeps it honest.
 */
import { createHash, randomUUID } from "node:crypto";
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
  StoreCapabilities,
  UploadPartRequest,
} from "../object-store.js";

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  contentType?: string;
}

interface PendingUpload {
  key: string;
  metadata: Record<string, string>;
  contentType?: string;
  parts: Map<number, { body: Buffer; etag: string }>;
}

export interface MemoryStoreOptions {
  bucket?: string;
  /** Page size when a list request gives none (S3's is 1000). */
  defaultMaxKeys?: number;
  minPartSize?: number;
}

const md5 = (b: Buffer): string => createHash("md5").update(b).digest("hex");

export class MemoryStore implements ObjectStore {
  readonly capabilities: StoreCapabilities;
  readonly description: string;
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, PendingUpload>();
  private readonly defaultMaxKeys: number;
  /** Counts calls per operation, so tests can assert e.g. "no GET happened". */
  readonly calls = new Map<string, number>();

  constructor(options: MemoryStoreOptions = {}) {
    this.description = `mem://${options.bucket ?? "bucket"}`;
    this.defaultMaxKeys = options.defaultMaxKeys ?? 1000;
    this.capabilities = {
      readOnly: false,
      minPartSize: options.minPartSize ?? 5 * 1024 * 1024,
      maxParts: 10_000,
      maxCopySize: 5 * 1024 ** 3,
      maxCopyPartSize: 5 * 1024 ** 3,
    };
  }

  private count(op: string): void {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1);
  }

  private find(key: string): StoredObject {
    const found = this.objects.get(key);
    if (!found) throw new StoreError("NotFound", `no such key: ${key}`, key);
    return found;
  }

  async checkAccess(): Promise<void> {}

  async head(req: HeadRequest): Promise<ObjectInfo> {
    this.count("head");
    const o = this.find(req.key);
    return {
      key: req.key,
      size: o.body.length,
      etag: o.etag,
      lastModified: o.lastModified,
      metadata: { ...o.metadata },
      contentType: o.contentType,
    };
  }

  async get(req: GetRequest): Promise<Buffer> {
    this.count("get");
    const o = this.find(req.key);
    if (req.ifMatch !== undefined && req.ifMatch !== o.etag) {
      throw new StoreError("PreconditionFailed", `object changed: ${req.key}`, req.key);
    }
    if (!req.range) return Buffer.from(o.body);
    if (req.range.start >= o.body.length && o.body.length > 0) {
      throw new StoreError("InvalidRange", `range starts past the end of ${req.key}`, req.key);
    }
    return Buffer.from(o.body.subarray(req.range.start, Math.min(req.range.end, o.body.length)));
  }

  async list(req: ListRequest): Promise<ListPage> {
    this.count("list");
    const maxKeys = req.maxKeys ?? this.defaultMaxKeys;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(req.prefix)).sort(compareUtf8);
    const page: ListPage = { objects: [], prefixes: [] };
    let i = req.token === undefined ? 0 : keys.findIndex((k) => compareUtf8(k, req.token!) > 0);
    if (i < 0) i = keys.length;
    while (i < keys.length) {
      if (page.objects.length + page.prefixes.length >= maxKeys) {
        page.nextToken = keys[i - 1];
        break;
      }
      const key = keys[i];
      const cut = req.delimiter ? key.indexOf(req.delimiter, req.prefix.length) : -1;
      if (cut >= 0) {
        const prefix = key.slice(0, cut + req.delimiter!.length);
        page.prefixes.push(prefix);
        while (i < keys.length && keys[i].startsWith(prefix)) i++; // keys are sorted: a prefix is contiguous
        continue;
      }
      const o = this.objects.get(key)!;
      page.objects.push({ key, size: o.body.length, etag: o.etag, lastModified: o.lastModified });
      i++;
    }
    return page;
  }

  async put(req: PutRequest): Promise<{ etag: string }> {
    this.count("put");
    this.checkWriteConditions(req.key, req.ifMatch, req.ifNoneMatch);
    return this.store(req.key, Buffer.from(req.body), md5(req.body), req.metadata ?? {}, req.contentType);
  }

  async copy(req: CopyRequest): Promise<{ etag: string }> {
    this.count("copy");
    const src = this.find(req.sourceKey);
    if (req.sourceEtag !== undefined && req.sourceEtag !== src.etag) {
      throw new StoreError("PreconditionFailed", `source changed: ${req.sourceKey}`, req.sourceKey);
    }
    const metadata = req.metadata ?? src.metadata;
    const contentType = req.metadata ? req.contentType : src.contentType;
    return this.store(req.key, Buffer.from(src.body), md5(src.body), { ...metadata }, contentType);
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.count("delete");
    this.objects.delete(req.key);
  }

  async createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }> {
    this.count("createMultipart");
    const uploadId = randomUUID();
    this.uploads.set(uploadId, {
      key: req.key,
      metadata: req.metadata ?? {},
      contentType: req.contentType,
      parts: new Map(),
    });
    return { uploadId };
  }

  async uploadPart(req: UploadPartRequest): Promise<CompletedPart> {
    this.count("uploadPart");
    const upload = this.findUpload(req.uploadId, req.key);
    const etag = md5(req.body);
    upload.parts.set(req.partNumber, { body: Buffer.from(req.body), etag });
    return { partNumber: req.partNumber, etag };
  }

  async copyPart(req: CopyPartRequest): Promise<CompletedPart> {
    this.count("copyPart");
    const upload = this.findUpload(req.uploadId, req.key);
    const src = this.find(req.sourceKey);
    if (req.sourceEtag !== undefined && req.sourceEtag !== src.etag) {
      throw new StoreError("PreconditionFailed", `source changed: ${req.sourceKey}`, req.sourceKey);
    }
    const body = Buffer.from(src.body.subarray(req.sourceRange.start, req.sourceRange.end));
    const etag = md5(body);
    upload.parts.set(req.partNumber, { body, etag });
    return { partNumber: req.partNumber, etag };
  }

  async completeMultipart(req: CompleteMultipartRequest): Promise<{ etag: string }> {
    this.count("completeMultipart");
    const upload = this.findUpload(req.uploadId, req.key);
    const bodies = req.parts.map((p, i) => {
      const part = upload.parts.get(p.partNumber);
      if (!part || part.etag !== p.etag) throw new StoreError("Other", `invalid part ${p.partNumber}`, req.key);
      if (i < req.parts.length - 1 && part.body.length < this.capabilities.minPartSize) {
        throw new StoreError("Other", `part ${p.partNumber} is smaller than the minimum part size`, req.key);
      }
      return part.body;
    });
    this.uploads.delete(req.uploadId);
    const etag = `${md5(Buffer.concat(req.parts.map((p) => Buffer.from(p.etag, "hex"))))}-${req.parts.length}`;
    return this.store(req.key, Buffer.concat(bodies), etag, upload.metadata, upload.contentType);
  }

  async abortMultipart(req: AbortMultipartRequest): Promise<void> {
    this.count("abortMultipart");
    this.uploads.delete(req.uploadId);
  }

  /** Multipart uploads begun and neither completed nor aborted (tests check hygiene with it). */
  pendingUploadCount(): number {
    return this.uploads.size;
  }

  private findUpload(uploadId: string, key: string): PendingUpload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new StoreError("NotFound", `no such upload: ${uploadId}`, key);
    return upload;
  }

  private checkWriteConditions(key: string, ifMatch?: string, ifNoneMatch?: "*"): void {
    const current = this.objects.get(key);
    if (ifNoneMatch === "*" && current) throw new StoreError("PreconditionFailed", `exists: ${key}`, key);
    if (ifMatch !== undefined && current?.etag !== ifMatch)
      throw new StoreError("PreconditionFailed", `changed: ${key}`, key);
  }

  private store(
    key: string,
    body: Buffer,
    etag: string,
    metadata: Record<string, string>,
    contentType?: string,
  ): { etag: string } {
    this.objects.set(key, { body, etag, lastModified: new Date(), metadata: { ...metadata }, contentType });
    return { etag };
  }
}

/** S3 orders keys by their UTF-8 bytes, which differs from JS string order for astral characters. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
