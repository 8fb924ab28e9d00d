/**
 * Session factories for the e2e tier: one per backend, so one test body runs against S3 (Ceph
 * RGW) and GCS (the emulator). Each makes a fresh bucket and checks what a mount stored through
 * that backend's own SDK (@aws-sdk/client-s3, @google-cloud/storage), independently of bucketfs.
 */
import { createHash } from "node:crypto";
import type { ObjectStore } from "../../src/store/object-store.js";
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
  scheme: "s3" | "gs";
  freshBucket(label: string): Promise<string>;
  bytes(bucket: string, key: string): Promise<Buffer>;
  head(bucket: string, key: string): Promise<StoredObject>;
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  store(bucket: string): ObjectStore;
}

export const s3Backend: Backend = {
  name: "s3",
  scheme: "s3",
  freshBucket,
  bytes: objectBytes,
  async head(bucket, key) {
    const out = await objectHead(bucket, key);
    return { size: out.ContentLength ?? -1, metadata: out.Metadata ?? {} };
  },
  listKeys,
  store: s3Store,
};

export const gcsBackend: Backend = {
  name: "gcs",
  scheme: "gs",
  freshBucket: freshGcsBucket,
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
  store: gcsStore,
};

export const BACKENDS: Backend[] = [s3Backend, gcsBackend];

export async function objectSha256(backend: Backend, bucket: string, key: string): Promise<string> {
  return createHash("sha256").update(await backend.bytes(bucket, key)).digest("hex");
}
