/**
 * Test access to Azurite: a bucketfs AzureStore and a plain @azure/storage-blob client, which
 * checks what the mount really stored independently of bucketfs.
 */
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from "@azure/storage-blob";
import { inject } from "vitest";
import { AzureStore, openAzureStore, type AzureStoreConfig } from "../../src/store/azure/azure-store.js";
import type { AzureTestServer } from "./global-setup.js";

export function azureServer(): AzureTestServer {
  return inject("azure");
}

/** The blob service URL of Azurite's development account (path-style). */
export function azureServiceUrl(server = azureServer()): string {
  return `${server.endpoint}/${server.account}`;
}

export function azureClient(server = azureServer()): BlobServiceClient {
  return new BlobServiceClient(azureServiceUrl(server), new StorageSharedKeyCredential(server.account, server.key));
}

export function azureContainer(container: string): ContainerClient {
  return azureClient().getContainerClient(container);
}

/** The connection string Azure tools print for Azurite's development account. */
export function azureConnectionString(server = azureServer()): string {
  return `DefaultEndpointsProtocol=http;AccountName=${server.account};AccountKey=${server.key};BlobEndpoint=${azureServiceUrl(server)};`;
}

let counter = 0;
/** A fresh container for one test file, so files never see each other's blobs. */
export async function freshAzureContainer(label: string): Promise<string> {
  const name = `bfs-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 63);
  await azureContainer(name).create();
  return name;
}

export function azureStore(
  container: string,
  overrides: Partial<AzureStoreConfig> = {},
  server = azureServer(),
): Promise<AzureStore> {
  return openAzureStore({
    account: server.account,
    container,
    endpoint: server.endpoint,
    auth: { kind: "sharedKey", accountKey: server.key },
    ...overrides,
  });
}
