/**
 * Session factories for the e2e tier: one per backend, so one test body runs against S3 (Ceph
 * RGW), GCS (the emulator) and Azure (Azurite). Each makes a fresh bucket and checks what a mount
 * stored through that backend's own SDK (@aws-sdk/client-s3, @google-cloud/storage,
 * @azure/storage-blob), independently of bucketfs.
 */
import { createHash } from "node:crypto";
import type { ObjectStore } from "../../src/store/object-store.js";
import { azureContainer, azureServer, azureStore, freshAzureContainer } from "./azure.js";
import { freshGcsBucket, gcsClient, gcsStore } from "./gcs.js";
import { freshBucket, s3Store } from "./s3.js";
import { listKeys, objectBytes, objectHead } from "./sdk.js";

export interface StoredObject {
  size: number;
  /** User metadata: S3 x-amz-meta-* / GCS custom metadata, under the same names (mode, uid, gid, mtime). */
  metadata: Record<string, string>;
}

export interface Backend {
  name: string;
  scheme: "s3" | "gs" | "az";
  freshBucket(label: string): Promise<string>;
  /** What `bucketfs mount` takes for this bucket (az:// names the account too). */
  source(bucket: string): string;
  bytes(bucket: string, key: string): Promise<Buffer>;
  head(bucket: string, key: string): Promise<StoredObject>;
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  store(bucket: string): Promise<ObjectStore>;
}

export const s3Backend: Backend = {
  name: "s3",
  scheme: "s3",
  freshBucket,
  source: (bucket) => `s3://${bucket}`,
  bytes: objectBytes,
  async head(bucket, key) {
    const out = await objectHead(bucket, key);
    return { size: out.ContentLength ?? -1, metadata: out.Metadata ?? {} };
  },
  listKeys,
  store: async (bucket) => s3Store(bucket),
};

export const gcsBackend: Backend = {
  name: "gcs",
  scheme: "gs",
  freshBucket: freshGcsBucket,
  source: (bucket) => `gs://${bucket}`,
  async bytes(bucket, key) {
    const [data] = await gcsClient().bucket(bucket).file(key).download();
    return data;
  },
  async head(bucket, key) {
    const [md] = await gcsClient().bucket(bucket).file(key).getMetadata();
    const metadata = Object.fromEntries(Object.entries(md.metadata ?? {}).map(([k, v]) => [k, String(v)]));
    return { size: Number(md.size ?? -1), metadata };
  },
  async listKeys(bucket, prefix = "") {
    const [files] = await gcsClient().bucket(bucket).getFiles({ prefix, autoPaginate: true });
    return files.map((f) => f.name);
  },
  store: async (bucket) => gcsStore(bucket),
};

export const azureBackend: Backend = {
  name: "azure",
  scheme: "az",
  freshBucket: freshAzureContainer,
  source: (container) => `az://${azureServer().account}/${container}`,
  bytes: (container, key) => azureContainer(container).getBlobClient(key).downloadToBuffer(),
  async head(container, key) {
    const props = await azureContainer(container).getBlobClient(key).getProperties();
    return { size: props.contentLength ?? -1, metadata: props.metadata ?? {} };
  },
  async listKeys(container, prefix = "") {
    const keys: string[] = [];
    for await (const blob of azureContainer(container).listBlobsFlat({ prefix })) keys.push(blob.name);
    return keys;
  },
  store: (container) => azureStore(container),
};

export const BACKENDS: Backend[] = [s3Backend, gcsBackend, azureBackend];

export async function objectSha256(backend: Backend, bucket: string, key: string): Promise<string> {
  return createHash("sha256")
    .update(await backend.bytes(bucket, key))
    .digest("hex");
}
