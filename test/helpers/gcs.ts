/**
 * Test access to the GCS emulator: a bucketfs GcsStore and a plain @google-cloud/storage client,
 * which checks what the mount really stored independently of bucketfs.
 */
import { Storage } from "@google-cloud/storage";
import { inject } from "vitest";
import { GcsStore } from "../../src/store/gcs/gcs-store.js";
import type { GcsTestServer } from "./global-setup.js";

export function gcsServer(): GcsTestServer {
  return inject("gcs");
}

export function gcsClient(server = gcsServer()): Storage {
  return new Storage({ apiEndpoint: server.endpoint, projectId: "demo-bucketfs" });
}

let counter = 0;
/** A fresh bucket for one test file, so files never see each other's objects. */
export async function freshGcsBucket(label: string): Promise<string> {
  const name = `bfs-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`.toLowerCase().slice(0, 63);
  await gcsClient().createBucket(name);
  return name;
}

export function gcsStore(bucket: string, server = gcsServer()): GcsStore {
  return new GcsStore({ bucket, endpoint: server.endpoint });
}
