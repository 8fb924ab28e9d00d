/**
 * AzureStore against Azurite (scripts/azurite.sh, started by the global setup): the same contract
 * as S3, GCS and memory, plus what is Azure-specific, one test per credential path.
 *
 * Emulator gaps, and what real Azure does instead:
 * - Put Block From URL answers 501 APINotImplemented on Azurite, so partial rewrites take the
 *   documented fallback there (read the range, stage it); the server-side path is checked on the
 *   wire against a recording server. Real Azure copies the range server-side.
 * - A wrong account key: Azurite answers 403 AuthorizationFailure (AccessDenied); real Azure
 *   answers 403 AuthenticationFailed (InvalidCredentials). Both messages name the key and SAS.
 * - An unknown account: Azurite answers 404 ResourceNotFound; on real Azure the account's host
 *   name does not resolve (Unreachable, with the account name in the message).
 * - Entra ID tokens need HTTPS and a tenant: only the "no credentials" path is tested here.
 * - Listing order: Azurite sorts by JavaScript string order (UTF-16), real Azure by UTF-8 bytes;
 *   they differ only for characters above U+FFFF against U+E000–U+FFFF.
 */
import { createServer, type IncomingMessage } from "node:http";
import {
  AccountSASPermissions,
  ContainerSASPermissions,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError } from "../../src/store/errors.js";
import { AzureStore, openAzureStore } from "../../src/store/azure/azure-store.js";
import { describeObjectStoreContract } from "../contract/object-store.contract.js";
import {
  azureConnectionString,
  azureContainer,
  azureServer,
  azureStore,
  freshAzureContainer,
} from "../helpers/azure.js";
import { ramp } from "../helpers/ramp.js";

describeObjectStoreContract("AzureStore on Azurite", async () => azureStore(await freshAzureContainer("contract")));

describe("AzureStore: Azure specifics", () => {
  let container: string;
  let store: AzureStore;
  beforeAll(async () => {
    container = await freshAzureContainer("azure");
    store = await azureStore(container);
  });

  it("uses the ETag as the version token and stores mode/uid/gid/mtime as blob metadata", async () => {
    const { etag } = await store.put({
      key: "m",
      body: Buffer.from("x"),
      metadata: { mode: "33188", uid: "1000", gid: "1000", mtime: "1700000000.5" },
    });
    const props = await azureContainer(container).getBlobClient("m").getProperties();
    expect(etag).toBe(props.etag);
    expect(props.metadata).toEqual({ mode: "33188", uid: "1000", gid: "1000", mtime: "1700000000.5" });
  });

  it("lists each blob with its metadata, so a directory listing needs no request per entry", async () => {
    await store.put({ key: "ls/a", body: Buffer.from("a"), metadata: { mode: "33261", uid: "42" } });
    const page = await store.list({ prefix: "ls/", delimiter: "/" });
    expect(page.objects.map((o) => [o.key, o.metadata])).toEqual([["ls/a", { mode: "33261", uid: "42" }]]);
  });

  it("writes conditionally with If-None-Match: * and If-Match", async () => {
    const first = await store.put({ key: "c", body: Buffer.from("1"), ifNoneMatch: "*" });
    await expect(store.put({ key: "c", body: Buffer.from("2"), ifNoneMatch: "*" })).rejects.toSatisfy((e) =>
      isStoreError(e, "PreconditionFailed"),
    );
    const second = await store.put({ key: "c", body: Buffer.from("2"), ifMatch: first.etag });
    await expect(store.put({ key: "c", body: Buffer.from("3"), ifMatch: first.etag })).rejects.toSatisfy((e) =>
      isStoreError(e, "PreconditionFailed"),
    );
    expect((await store.get({ key: "c", ifMatch: second.etag })).toString()).toBe("2");
  });

  it("refuses a copy whose source changed (x-ms-source-if-match)", async () => {
    const old = await store.put({ key: "s", body: Buffer.from("old") });
    await store.put({ key: "s", body: Buffer.from("new") });
    await expect(store.copy({ sourceKey: "s", key: "s2", sourceEtag: old.etag })).rejects.toSatisfy((e) =>
      isStoreError(e, "PreconditionFailed"),
    );
  });

  it("changes metadata in place (Set Blob Metadata): the committed blocks stay, no data is rewritten", async () => {
    const key = "chmod";
    const { uploadId } = await store.createMultipart({ key, metadata: { mode: "33188" } });
    const parts = [
      await store.uploadPart({ key, uploadId, partNumber: 1, body: ramp(1000) }),
      await store.uploadPart({ key, uploadId, partNumber: 2, body: ramp(500, 3) }),
    ];
    const { etag } = await store.completeMultipart({ key, uploadId, parts });
    const blob = azureContainer(container).getBlockBlobClient(key);
    const before = (await blob.getBlockList("committed")).committedBlocks?.map((b) => b.name);
    await store.copy({ sourceKey: key, key, metadata: { mode: "33261" }, sourceEtag: etag });
    const after = await blob.getBlockList("committed");
    expect(after.committedBlocks?.map((b) => b.name)).toEqual(before);
    expect(before).toHaveLength(2);
    expect((await store.head({ key })).metadata.mode).toBe("33261");
    await expect(store.copy({ sourceKey: key, key, metadata: { mode: "33188" }, sourceEtag: etag })).rejects.toSatisfy(
      (e) => isStoreError(e, "PreconditionFailed"),
    );
  });

  it("falls back from Put Block From URL (501 on Azurite) to read-and-stage, and then plans no server-side range copies", async () => {
    const fresh = await azureStore(container);
    expect(fresh.capabilities.maxCopyPartSize).toBe(4000 * 1024 * 1024);
    const source = ramp(3000);
    const base = await fresh.put({ key: "rw-src", body: source });
    const { uploadId } = await fresh.createMultipart({ key: "rw" });
    const p1 = await fresh.copyPart({
      key: "rw",
      uploadId,
      partNumber: 1,
      sourceKey: "rw-src",
      sourceRange: { start: 1000, end: 3000 },
      sourceEtag: base.etag,
    });
    await fresh.completeMultipart({ key: "rw", uploadId, parts: [p1] });
    expect(await fresh.get({ key: "rw" })).toEqual(source.subarray(1000));
    expect(fresh.capabilities.maxCopyPartSize).toBe(0);
  });

  it("signs ranged reads for the native cache filler: a SAS URL plus Range and If-Match headers", async () => {
    const body = ramp(5000);
    const { etag } = await store.put({ key: "signed range", body });
    const signed = await store.signRangeGet!({ key: "signed range", range: { start: 100, end: 1100 }, ifMatch: etag });
    expect(new URL(signed.url).searchParams.get("sp")).toBe("r");
    expect(signed.headers).toEqual(["Range: bytes=100-1099", `If-Match: ${etag}`]);
    const headers = Object.fromEntries(
      signed.headers.map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 2)]),
    );
    const response = await fetch(signed.url, { headers });
    expect(response.status).toBe(206);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(body.subarray(100, 1100));
    await store.put({ key: "signed range", body: ramp(10) });
    expect((await fetch(signed.url, { headers })).status).toBe(412);
    await expect(
      store.signRangeGet!({ key: "k", range: { start: 0, end: 1 }, ifMatch: '"x"\r\nX-Evil: 1' }),
    ).rejects.toThrow("control characters");
  });

  it("offers no range signing to a mount that holds only a SAS (nothing to sign with)", async () => {
    const sasUrl = await azureContainer(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse("rl"),
      expiresOn: new Date(Date.now() + 3600_000),
    });
    const sasStore = await azureStore(container, { auth: { kind: "sas", sas: new URL(sasUrl).search } });
    expect(sasStore.signRangeGet).toBeUndefined();
  });

  it("reports a missing container as NoSuchBucket, naming it", async () => {
    const missing = await azureStore("bfs-no-such-container");
    await expect(missing.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "NoSuchBucket") && e.message.includes('container "bfs-no-such-container"'),
    );
  });

  it("reports an unknown account as NoSuchBucket, naming the account", async () => {
    const other = await azureStore(container, { account: "nosuchaccount", maxTries: 1 });
    await expect(other.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "NoSuchBucket") && e.message.includes('storage account "nosuchaccount" not found'),
    );
  });

  it("rejects a wrong account key with a message that names the key", async () => {
    const wrong = await azureStore(container, {
      auth: { kind: "sharedKey", accountKey: Buffer.alloc(64, 7).toString("base64") },
      maxTries: 1,
    });
    await expect(wrong.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "AccessDenied") && e.message.includes("wrong account key"),
    );
  });

  it("reports an unreachable endpoint as Unreachable", async () => {
    const dead = await azureStore(container, { endpoint: "http://127.0.0.1:9", maxTries: 1 });
    await expect(dead.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "Unreachable") && e.message.includes("http://127.0.0.1:9/devstoreaccount1"),
    );
  });
});

describe("AzureStore: credentials", () => {
  let container: string;
  beforeAll(async () => {
    container = await freshAzureContainer("creds");
    await azureContainer(container).getBlockBlobClient("hello").upload("hi", 2);
  });
  const server = (): ReturnType<typeof azureServer> => azureServer();

  it("reads and writes with AZURE_STORAGE_CONNECTION_STRING", async () => {
    const store = await openAzureStore({
      account: server().account,
      container,
      auth: { kind: "connectionString", connectionString: azureConnectionString() },
    });
    await store.checkAccess();
    await store.put({ key: "via-cs", body: Buffer.from("cs") });
    expect((await store.get({ key: "via-cs" })).toString()).toBe("cs");
    expect(store.description).toBe(`az://${server().account}/${container} at ${server().endpoint}/${server().account}`);
  });

  it("refuses a connection string for another account than the source names", async () => {
    await expect(
      openAzureStore({
        account: "otheraccount",
        container,
        auth: { kind: "connectionString", connectionString: azureConnectionString() },
      }),
    ).rejects.toSatisfy(
      (e) => isStoreError(e, "InvalidCredentials") && e.message.includes('for account "devstoreaccount1"'),
    );
  });

  it("rejects a malformed connection string without echoing it", async () => {
    await expect(
      openAzureStore({
        account: server().account,
        container,
        auth: { kind: "connectionString", connectionString: "AccountKey=secretvalue" },
      }),
    ).rejects.toSatisfy((e) => isStoreError(e, "InvalidCredentials") && !e.message.includes("secretvalue"));
  });

  it("reads with a container SAS, and a read-only SAS cannot write", async () => {
    const expiresOn = new Date(Date.now() + 3600_000);
    const sasUrl = await azureContainer(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse("rl"),
      expiresOn,
    });
    const sas = new URL(sasUrl).search;
    const store = await openAzureStore({
      account: server().account,
      container,
      endpoint: server().endpoint,
      auth: { kind: "sas", sas },
    });
    await store.checkAccess();
    expect((await store.get({ key: "hello" })).toString()).toBe("hi");
    await expect(store.put({ key: "no", body: Buffer.from("x") })).rejects.toSatisfy((e) =>
      isStoreError(e, "AccessDenied"),
    );
  });

  it("rejects a SAS without list permission at mount time, naming the SAS", async () => {
    const sasUrl = await azureContainer(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse("r"),
      expiresOn: new Date(Date.now() + 3600_000),
    });
    const store = await openAzureStore({
      account: server().account,
      container,
      endpoint: server().endpoint,
      auth: { kind: "sas", sas: new URL(sasUrl).search },
      maxTries: 1,
    });
    await expect(store.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "AccessDenied") && e.message.includes("SAS"),
    );
  });

  it("reads a public container anonymously, and says so for a private one", async () => {
    const open = await freshAzureContainer("public");
    await azureContainer(open).setAccessPolicy("container");
    await azureContainer(open).getBlockBlobClient("pub").upload("public", 6);
    const anonymous = await openAzureStore({
      account: server().account,
      container: open,
      endpoint: server().endpoint,
      auth: { kind: "anonymous" },
    });
    await anonymous.checkAccess();
    expect((await anonymous.get({ key: "pub" })).toString()).toBe("public");
    const closed = await openAzureStore({
      account: server().account,
      container,
      endpoint: server().endpoint,
      auth: { kind: "anonymous" },
      maxTries: 1,
    });
    // Azurite answers 403 (AccessDenied); real Azure 404 (NoSuchBucket): the message is the same.
    await expect(closed.checkAccess()).rejects.toSatisfy(
      (e) => isStoreError(e, "AccessDenied") && e.message.includes("does not allow anonymous access"),
    );
  });

  it("without any credentials, DefaultAzureCredential fails with a message listing the ways to give them", async () => {
    const names = [
      "AZURE_CLIENT_ID",
      "AZURE_TENANT_ID",
      "AZURE_CLIENT_SECRET",
      "AZURE_FEDERATED_TOKEN_FILE",
      "IDENTITY_ENDPOINT",
      "MSI_ENDPOINT",
    ];
    const saved = names.map((n) => [n, process.env[n]] as const);
    for (const n of names) delete process.env[n];
    try {
      const store = await openAzureStore({
        account: server().account,
        container,
        endpoint: "https://127.0.0.1:9",
        auth: { kind: "token" },
        maxTries: 1,
      });
      await expect(store.checkAccess()).rejects.toSatisfy(
        (e) =>
          isStoreError(e, "InvalidCredentials") &&
          e.message.includes("az login") &&
          e.message.includes("AZURE_STORAGE_CONNECTION_STRING"),
      );
    } finally {
      for (const [n, v] of saved) if (v !== undefined) process.env[n] = v;
    }
  }, 60_000);

  it("takes an account SAS too, with or without a leading ?", async () => {
    const credential = new StorageSharedKeyCredential(server().account, server().key);
    const sas = generateAccountSASQueryParameters(
      {
        permissions: AccountSASPermissions.parse("rl"),
        resourceTypes: "co",
        services: "b",
        expiresOn: new Date(Date.now() + 3600_000),
      },
      credential,
    ).toString();
    for (const given of [sas, `?${sas}`]) {
      const store = await openAzureStore({
        account: server().account,
        container,
        endpoint: server().endpoint,
        auth: { kind: "sas", sas: given },
      });
      await store.checkAccess();
      expect((await store.get({ key: "hello" })).toString()).toBe("hi");
    }
  });
});

describe("AzureStore: what goes on the wire", () => {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(201, { "x-ms-request-id": "1", "x-ms-version": "2025-01-05", "content-length": "0" });
    res.end();
  });
  let endpoint: string;
  beforeAll(async () => {
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it("copies a range with Put Block From URL pinned to the source ETag, the source read through a short SAS", async () => {
    const store = await openAzureStore({
      account: "devstoreaccount1",
      container: "c",
      endpoint,
      auth: { kind: "sharedKey", accountKey: azureServer().key },
      maxTries: 1,
    });
    const { uploadId } = await store.createMultipart({ key: "dst" });
    await store.copyPart({
      key: "dst",
      uploadId,
      partNumber: 1,
      sourceKey: "src file",
      sourceRange: { start: 10, end: 20 },
      sourceEtag: '"0xABC"',
    });
    expect(seen).toHaveLength(1);
    const req = seen[0];
    const url = new URL(req.url!, endpoint);
    expect(url.pathname).toBe("/devstoreaccount1/c/dst");
    expect(url.searchParams.get("comp")).toBe("block");
    expect(req.headers["x-ms-source-if-match"]).toBe('"0xABC"');
    expect(req.headers["x-ms-source-range"]).toBe("bytes=10-19");
    const source = new URL(String(req.headers["x-ms-copy-source"]));
    expect(source.pathname).toBe("/devstoreaccount1/c/src%20file");
    expect(source.searchParams.get("sp")).toBe("r");
    expect(source.searchParams.get("sig")).toBeTruthy();
    expect(store.capabilities.maxCopyPartSize).toBe(4000 * 1024 * 1024);
  });
});
