/** Builds the store of a mount source: one bucket's ObjectStore, or IDC's buckets as one ReadableStore. */
import type { IdcConfig, MountConfig, StoreConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import type { ObjectStore, ReadableStore } from "../store/object-store.js";
import { MemoryStore } from "../store/memory/memory-store.js";
import { S3Store } from "../store/s3/s3-store.js";
// Not ../idc/index.js: that barrel pulls in the index reader, which an S3 mount does not need.
import { bucketFor, GCS_XML_ENDPOINT, parseIdcSource } from "../idc/buckets.js";
import { IdcStore } from "../idc/idc-store.js";

/**
 * The GCS client is loaded only for gs:// mounts, and the Azure client only for az:// mounts: each
 * costs resident memory and a noticeable part of the start time, which S3 and IDC mounts should
 * not pay.
 */
export async function createBucketStore(source: Source, config: MountConfig): Promise<ObjectStore> {
  switch (source.scheme) {
    case "s3":
      return new S3Store({
        bucket: source.bucket,
        endpoint: config.endpoint,
        region: config.region,
        profile: config.profile,
        noSignRequest: config.noSignRequest,
        pathStyle: config.pathStyle || Boolean(config.endpoint),
        caBundle: config.caBundle,
        requestTimeoutMs: config.requestTimeout,
      });
    case "mem":
      // An empty in-memory bucket: for trying bucketfs out and for tests; nothing is persisted.
      return new MemoryStore({ bucket: source.bucket });
    case "gs": {
      // Credentials: ADC unless --anonymous; an http:// --endpoint is an emulator (no credentials).
      const { GcsStore } = await import("../store/gcs/gcs-store.js");
      return new GcsStore({
        bucket: source.bucket,
        endpoint: config.endpoint,
        anonymous: config.anonymous || config.noSignRequest,
        billingProject: config.billingProject,
      });
    }
    case "az":
      return createAzureStore(source, config);
    case "idc":
      throw new Error("an idc source is several buckets: createIdcStore builds its store");
  }
}

/**
 * IDC's public buckets, unsigned: AWS (default), Google's mirror (--idc-source gcs), or --endpoint.
 * `wrap` decorates each bucket's store (the mount measures them).
 */
export function createIdcStore(
  config: Pick<IdcConfig, "idcSource"> & Pick<StoreConfig, "endpoint">,
  wrap: (store: ObjectStore) => ReadableStore = (s) => s,
): IdcStore {
  const source = parseIdcSource(config.idcSource);
  const endpoint = config.endpoint ?? (source === "gcs" ? GCS_XML_ENDPOINT : undefined);
  const store = (awsBucket: string): ReadableStore =>
    wrap(
      new S3Store({
        bucket: bucketFor(awsBucket, source),
        endpoint,
        region: "us-east-1",
        noSignRequest: true,
        pathStyle: Boolean(endpoint),
      }),
    );
  return new IdcStore(store, endpoint ?? "AWS us-east-1");
}

/** az://account/container: credentials chosen by chooseAzureAuth (azure-auth.ts), --endpoint for Azurite or a private endpoint. */
async function createAzureStore(source: Source, config: MountConfig): Promise<ObjectStore> {
  const [{ openAzureStore }, { chooseAzureAuth }] = await Promise.all([
    import("../store/azure/azure-store.js"),
    import("../store/azure/azure-auth.js"),
  ]);
  if (!source.account) throw new Error(`${source.url}: no storage account`);
  return openAzureStore({
    account: source.account,
    container: source.bucket,
    endpoint: config.endpoint,
    auth: chooseAzureAuth({
      anonymous: config.anonymous || config.noSignRequest,
      sourceSas: source.sas,
      sas: config.sas,
    }),
    requestTimeoutMs: config.requestTimeout,
  });
}
