/**
 * ObjectStore over Azure Blob Storage (and Azurite) with @azure/storage-blob.
 *
 * Mapping onto the contract:
 * - The version token (`etag`) is the blob's ETag. Reads send If-Match, so a replaced blob fails
 *   with PreconditionFailed (→ ESTALE), never mixes two versions; conditional writes send
 *   If-Match / If-None-Match: * (a failed create answers 409 BlobAlreadyExists, read as a failed
 *   precondition).
 * - User metadata is blob metadata under the same names the S3 backend uses (mode, uid, gid,
 *   mtime). Listings ask for it (`include=metadata`), so a directory listing carries each file's
 *   attributes and `ls -l` needs no request per entry.
 * - Multipart = staged blocks + one Put Block List (azure-blocks.ts). copyPart = Put Block From
 *   URL while the server supports it; a server that answers 501 (Azurite) is remembered, and from
 *   then on copyPart reads the range and stages it, and `maxCopyPartSize` says 0 so rewrites plan
 *   uploads instead. copy = Copy Blob (server-side, any size in one account); a "copy onto itself
 *   with new metadata" (chmod, chown, touch) is Set Blob Metadata: no data is rewritten.
 * - abortMultipart sends nothing: Azure has no call to drop uncommitted blocks; it discards them
 *   itself after a week, and they are never visible as data. This store refuses to complete an
 *   upload it aborted.
 *
 * What a server sends is not trusted: a ranged read keeps at most the bytes asked for (a longer
 * body is an error), and a listing token that does not advance is an error, not an endless loop.
 */
import type { BlobClient, BlobItem, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import { StoreError } from "../errors.js";
import type {
  AbortMultipartRequest,
  CompletedPart,
  RangeSigner,
  CompleteMultipartRequest,
  CopyPartRequest,
  CopyRequest,
  CreateMultipartRequest,
  DeleteRequest,
  GetRequest,
  HeadRequest,
  ListedObject,
  ListPage,
  ListRequest,
  ObjectInfo,
  ObjectStore,
  PutRequest,
  StoreCapabilities,
  UploadPartRequest,
} from "../object-store.js";
import { blockId, decodeUploadId, encodeUploadId, MAX_BLOCKS, newBlockUpload } from "./azure-blocks.js";
import { createAzureClient, type AzureClient, type AzureClientConfig } from "./azure-client.js";
import { readBounded } from "./azure-download.js";
import { azureRangeSigner } from "./azure-range-signer.js";
import { toStoreError } from "./azure-errors.js";
import { stageBlockFromUrl } from "./azure-block-from-url.js";

export type AzureStoreConfig = AzureClientConfig;

/** Put Block From URL copies up to 4000 MiB per block (API 2019-12-12 and later). */
const MAX_BLOCK_FROM_URL = 4000 * 1024 * 1024;

export async function openAzureStore(config: AzureStoreConfig): Promise<AzureStore> {
  return new AzureStore(config, await createAzureClient(config));
}

/** Aborted upload ids remembered per store (see abortMultipart). */
const ABORTED_REMEMBERED = 4096;

export class AzureStore implements ObjectStore {
  private readonly aborted = new Set<string>();
  readonly description: string;
  private readonly container: ContainerClient;
  /** Lets the native cache filler send ranged reads (account-key mounts; see azure-range-signer.ts). */
  readonly signRangeGet?: RangeSigner;
  /** Unknown until the first copyPart; false once the server answered Put Block From URL with 501. */
  private blockFromUrl: boolean | undefined;

  constructor(
    private readonly config: AzureStoreConfig,
    private readonly client: AzureClient,
  ) {
    this.container = client.container;
    this.description = `az://${config.account}/${config.container} at ${client.serviceUrl}`;
    if (client.signsLocally && client.signRead)
      this.signRangeGet = azureRangeSigner((key) => this.blob(key), client.signRead);
  }

  get capabilities(): StoreCapabilities {
    return {
      readOnly: false,
      // Azure has no minimum block size; 1 MiB keeps a streaming upload's block list short.
      minPartSize: 1024 * 1024,
      maxParts: MAX_BLOCKS,
      maxCopySize: Number.MAX_SAFE_INTEGER,
      maxCopyPartSize: this.blockFromUrl === false ? 0 : MAX_BLOCK_FROM_URL,
    };
  }

  async checkAccess(signal?: AbortSignal): Promise<void> {
    await this.list({ prefix: "", maxKeys: 1, signal }).catch((err: unknown) => {
      throw err instanceof StoreError ? this.explainAccessFailure(err) : err;
    });
  }

  async head(req: HeadRequest): Promise<ObjectInfo> {
    const props = await this.call("Get Blob Properties", req.key, () =>
      this.blob(req.key).getProperties({ abortSignal: req.signal }),
    );
    return {
      key: req.key,
      size: props.contentLength ?? 0,
      etag: props.etag ?? "",
      lastModified: props.lastModified ?? new Date(0),
      metadata: lowerCased(props.metadata),
      contentType: props.contentType,
    };
  }

  async get(req: GetRequest): Promise<Buffer> {
    const range = req.range;
    if (range && range.end <= range.start) return Buffer.alloc(0);
    const conditions = req.ifMatch ? { ifMatch: req.ifMatch } : undefined;
    try {
      const response = await this.blob(req.key).download(
        range?.start ?? 0,
        range ? range.end - range.start : undefined,
        { conditions, abortSignal: req.signal },
      );
      return await readBounded(response, range, req.key);
    } catch (err) {
      const failure = toStoreError(err, "Get Blob", req.key);
      // A range starting at or past the end is 416; the contract wants the bytes that exist (none).
      if (failure.kind === "InvalidRange" && range) return Buffer.alloc(0);
      throw failure;
    }
  }

  async list(req: ListRequest): Promise<ListPage> {
    const options = { prefix: req.prefix, includeMetadata: true, abortSignal: req.signal };
    const paging = { continuationToken: req.token, maxPageSize: req.maxKeys };
    const iterator = req.delimiter
      ? this.container.listBlobsByHierarchy(req.delimiter, options).byPage(paging)
      : this.container.listBlobsFlat(options).byPage(paging);
    const page = await this.call("List Blobs", req.prefix, async () => (await iterator.next()).value);
    if (!page) return { objects: [], prefixes: [] };
    const nextToken = page.continuationToken || undefined;
    // Callers page until there is no token: one that does not advance would loop forever.
    if (nextToken !== undefined && nextToken === req.token) {
      throw new StoreError(
        "Other",
        `List Blobs under ${JSON.stringify(req.prefix)} returned the token it was given: the server is not advancing the listing; stopped`,
        req.prefix,
      );
    }
    const segment = page.segment as { blobItems?: BlobItem[]; blobPrefixes?: Array<{ name: string }> };
    return {
      objects: (segment.blobItems ?? []).map(toListedObject),
      prefixes: (segment.blobPrefixes ?? []).map((p) => p.name),
      nextToken,
    };
  }

  async put(req: PutRequest): Promise<{ etag: string }> {
    const conditions =
      req.ifNoneMatch === "*" ? { ifNoneMatch: "*" } : req.ifMatch ? { ifMatch: req.ifMatch } : undefined;
    const out = await this.call("Put Blob", req.key, () =>
      this.blockBlob(req.key).upload(req.body, req.body.length, {
        metadata: req.metadata ?? {},
        blobHTTPHeaders: { blobContentType: req.contentType ?? "application/octet-stream" },
        conditions,
        abortSignal: req.signal,
      }),
    );
    return { etag: out.etag ?? "" };
  }

  async copy(req: CopyRequest): Promise<{ etag: string }> {
    if (req.sourceKey === req.key) return this.replaceProperties(req);
    const source = this.blob(req.sourceKey);
    const target = this.blob(req.key);
    const sourceConditions = req.sourceEtag ? { ifMatch: req.sourceEtag } : undefined;
    const { url } = await this.client.sourceAccess(source);
    const done = await this.call("Copy Blob", req.key, async () => {
      // Copy Blob keeps the source's metadata unless metadata is given, like S3's COPY / REPLACE.
      const poller = await target.beginCopyFromURL(url, {
        metadata: req.metadata,
        sourceConditions,
        abortSignal: req.signal,
        intervalInMs: 200,
      });
      return poller.pollUntilDone();
    });
    if (done.copyStatus !== undefined && done.copyStatus !== "success") {
      throw new StoreError("Other", `Copy Blob ended ${done.copyStatus}`, req.key);
    }
    if (req.metadata && req.contentType) {
      const out = await this.call("Set Blob Properties", req.key, () =>
        target.setHTTPHeaders({ blobContentType: req.contentType }, { abortSignal: req.signal }),
      );
      return { etag: out.etag ?? "" };
    }
    return { etag: done.etag ?? (await this.head({ key: req.key, signal: req.signal })).etag };
  }

  async delete(req: DeleteRequest): Promise<void> {
    await this.call("Delete Blob", req.key, () =>
      this.blob(req.key).deleteIfExists({ deleteSnapshots: "include", abortSignal: req.signal }),
    );
  }

  async createMultipart(req: CreateMultipartRequest): Promise<{ uploadId: string }> {
    return { uploadId: encodeUploadId(newBlockUpload(req.metadata, req.contentType)) };
  }

  async uploadPart(req: UploadPartRequest): Promise<CompletedPart> {
    const id = blockId(decodeUploadId(req.uploadId, req.key), req.partNumber);
    await this.call("Put Block", req.key, () =>
      this.blockBlob(req.key).stageBlock(id, req.body, req.body.length, { abortSignal: req.signal }),
    );
    return { partNumber: req.partNumber, etag: id };
  }

  async copyPart(req: CopyPartRequest): Promise<CompletedPart> {
    const id = blockId(decodeUploadId(req.uploadId, req.key), req.partNumber);
    if (this.blockFromUrl !== false) {
      const source = await this.client.sourceAccess(this.blob(req.sourceKey));
      try {
        await stageBlockFromUrl(this.blockBlob(req.key), {
          blockId: id,
          source,
          range: req.sourceRange,
          sourceEtag: req.sourceEtag,
          signal: req.signal,
        });
        this.blockFromUrl = true;
        return { partNumber: req.partNumber, etag: id };
      } catch (err) {
        const failure = toStoreError(err, "Put Block From URL", req.key);
        if (failure.kind !== "Unsupported") throw failure;
        this.blockFromUrl = false;
      }
    }
    // The documented fallback: read the range, pinned to the source's ETag, and stage it.
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
    const upload = decodeUploadId(req.uploadId, req.key);
    if (this.aborted.has(req.uploadId))
      throw new StoreError("NotFound", `upload ${req.uploadId} of ${req.key} was aborted`, req.key);
    const ids = [...req.parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => blockId(upload, p.partNumber));
    const out = await this.call("Put Block List", req.key, () =>
      this.blockBlob(req.key).commitBlockList(ids, {
        metadata: upload.metadata ?? {},
        blobHTTPHeaders: { blobContentType: upload.contentType ?? "application/octet-stream" },
        abortSignal: req.signal,
      }),
    );
    return { etag: out.etag ?? "" };
  }

  async abortMultipart(req: AbortMultipartRequest): Promise<void> {
    decodeUploadId(req.uploadId, req.key); // a foreign id is still an error
    // Azure cannot drop the staged blocks, so the abort is remembered here: a late completion
    // (an upload racing its cancellation) must not commit them. Bounded: oldest forgotten first.
    this.aborted.add(req.uploadId);
    if (this.aborted.size > ABORTED_REMEMBERED) this.aborted.delete(this.aborted.values().next().value!);
  }

  /** A read-only SAS URL for `key`, valid `expiresSeconds` (`bucketfs sign`, `user.bucketfs.url`). */
  async presignGet(key: string, expiresSeconds: number): Promise<string> {
    const sign = this.client.signRead;
    if (!sign)
      throw new StoreError(
        "Unsupported",
        `${this.description} has no key or Entra ID identity to sign with (SAS and anonymous mounts cannot sign)`,
        key,
      );
    return this.call("Get User Delegation Key", key, () =>
      sign(this.blob(key), new Date(Date.now() + expiresSeconds * 1000)),
    );
  }

  /** chmod, chown, touch: new metadata (and content type) on the blob in place, guarded by its ETag. */
  private async replaceProperties(req: CopyRequest): Promise<{ etag: string }> {
    const target = this.blob(req.key);
    if (!req.metadata) return { etag: (await this.head({ key: req.key, signal: req.signal })).etag };
    const guard = req.sourceEtag ? { ifMatch: req.sourceEtag } : undefined;
    let out = await this.call("Set Blob Metadata", req.key, () =>
      target.setMetadata(req.metadata, { conditions: guard, abortSignal: req.signal }),
    );
    if (req.contentType) {
      const next = out.etag ? { ifMatch: out.etag } : undefined;
      out = await this.call("Set Blob Properties", req.key, () =>
        target.setHTTPHeaders({ blobContentType: req.contentType }, { conditions: next, abortSignal: req.signal }),
      );
    }
    return { etag: out.etag ?? "" };
  }

  /** A failed first listing, said in the words of what the user chose (account, container, credentials). */
  private explainAccessFailure(err: StoreError): StoreError {
    const where = `container "${this.config.container}" of storage account "${this.config.account}"`;
    const cause = { cause: err };
    const anonymous = this.config.auth.kind === "anonymous";
    // Real Azure answers an anonymous request for a private container 404, Azurite 403.
    if (anonymous && (err.kind === "AccessDenied" || err.kind === "NotFound" || err.kind === "NoSuchBucket")) {
      return new StoreError(
        err.kind === "AccessDenied" ? "AccessDenied" : "NoSuchBucket",
        `${where} does not exist or does not allow anonymous access`,
        undefined,
        cause,
      );
    }
    switch (err.kind) {
      case "NoSuchBucket":
        return new StoreError("NoSuchBucket", `${where} does not exist`, undefined, cause);
      // Azurite answers an unknown account this way (real Azure: no DNS name, Unreachable below).
      case "NotFound":
        return new StoreError(
          "NoSuchBucket",
          `storage account "${this.config.account}" not found at ${this.client.serviceUrl}`,
          undefined,
          cause,
        );
      case "InvalidCredentials":
        return new StoreError(
          "InvalidCredentials",
          this.config.auth.kind === "token"
            ? `no usable Azure credentials for ${where}: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, give a SAS (--sas), run \`az login\`, or use --anonymous for a public container (${err.message})`
            : `${where}: the credentials were rejected (wrong account key, expired or malformed SAS)`,
          undefined,
          cause,
        );
      case "AccessDenied":
        return new StoreError(
          "AccessDenied",
          `${where}: access denied (a wrong account key or SAS, a SAS without list permission, a role without Storage Blob Data Reader, or a network rule)`,
          undefined,
          cause,
        );
      case "Unreachable":
        return new StoreError(
          "Unreachable",
          `cannot reach ${this.client.serviceUrl} (is the storage account name "${this.config.account}" right?): ${err.message}`,
          undefined,
          cause,
        );
      default:
        return err;
    }
  }

  private blob(key: string): BlobClient {
    return this.container.getBlobClient(key);
  }

  private blockBlob(key: string): BlockBlobClient {
    return this.container.getBlockBlobClient(key);
  }

  /** The one place client calls pass through: their failures become StoreErrors here. */
  private async call<T>(what: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw toStoreError(err, what, key);
    }
  }
}

function toListedObject(item: BlobItem): ListedObject {
  return {
    key: item.name,
    size: item.properties.contentLength ?? 0,
    etag: item.properties.etag ?? "",
    lastModified: item.properties.lastModified,
    metadata: lowerCased(item.metadata),
  };
}

/** Metadata names are case-insensitive in Azure; the layers above read lower-case names. */
function lowerCased(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {}))
    if (typeof value === "string") out[name.toLowerCase()] = value;
  return out;
}
