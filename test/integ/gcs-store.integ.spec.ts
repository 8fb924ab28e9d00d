/**
 * GcsStore against the Cloud Storage emulator (firebase-tools, started by the global setup with
 * scripts/gcs-emulator-overlay.cjs): the same contract as S3 and memory, plus what is GCS-specific.
 *
 * Emulator deviations from real GCS, and how these tests treat them (the production code is
 * written for real GCS; the overlay makes the emulator match it where the stock one does not):
 * - stock: no compose, no preconditions, no bucket create, chunked resumable uploads keep only the
 *   first chunk, a range past the end returns the whole object: all provided by the overlay.
 * - the emulator checks no credentials at all, so ADC, --anonymous and --billing-project are
 *   only tested for what reaches the wire (userProject is asserted against a recording server).
 * - md5Hash sent with an upload is not verified by the emulator (real GCS rejects a mismatch).
 * - generations: the overlay makes them unique and increasing like real GCS (stock: Date.now()).
 */
import { createServer, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError } from "../../src/store/errors.js";
import { PARTS_PREFIX } from "../../src/store/gcs/gcs-compose.js";
import { GcsStore } from "../../src/store/gcs/gcs-store.js";
import { describeObjectStoreContract } from "../contract/object-store.contract.js";
import { freshGcsBucket, gcsClient, gcsServer, gcsStore } from "../helpers/gcs.js";
import { ramp } from "../helpers/ramp.js";

describeObjectStoreContract("GcsStore on the Cloud Storage emulator", async () =>
  gcsStore(await freshGcsBucket("contract")),
);
describeObjectStoreContract(
  "GcsStore (composite uploads) on the Cloud Storage emulator",
  async () =>
    new GcsStore({
      bucket: await freshGcsBucket("contract-compose"),
      endpoint: gcsServer().endpoint,
      uploadStrategy: "composite",
    }),
);

describe("GcsStore: GCS specifics", () => {
  let bucket: string;
  let store: GcsStore;
  beforeAll(async () => {
    bucket = await freshGcsBucket("gcs");
    store = gcsStore(bucket);
  });

  it("uses the generation as the version token and stores mode/uid/gid/mtime as custom metadata", async () => {
    const { etag } = await store.put({
      key: "m",
      body: Buffer.from("x"),
      metadata: { mode: "33188", uid: "1000", gid: "1000", mtime: "1700000000.5" },
    });
    const [md] = await gcsClient().bucket(bucket).file("m").getMetadata();
    expect(etag).toBe(String(md.generation));
    expect(md.metadata).toEqual({ mode: "33188", uid: "1000", gid: "1000", mtime: "1700000000.5" });
  });

  it("writes conditionally with ifGenerationMatch", async () => {
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

  it("refuses a copy whose source changed (ifSourceGenerationMatch)", async () => {
    const old = await store.put({ key: "s", body: Buffer.from("old") });
    await store.put({ key: "s", body: Buffer.from("new") });
    await expect(store.copy({ sourceKey: "s", key: "s2", sourceEtag: old.etag })).rejects.toSatisfy((e) =>
      isStoreError(e, "PreconditionFailed"),
    );
  });

  it("streams parts of any size, sent out of order, into one resumable upload", async () => {
    const key = "resumable";
    const whole = ramp(3 * 300_000 + 7);
    const { uploadId } = await store.createMultipart({ key, metadata: { mode: "33188" } });
    const sizes = [300_000, 300_000, 300_000, 7]; // not multiples of 256 KiB: carried over between chunks
    const offsets = [0, 300_000, 600_000, 900_000];
    const order = [2, 4, 1, 3];
    const parts = [];
    for (const n of order)
      parts.push(
        await store.uploadPart({
          key,
          uploadId,
          partNumber: n,
          body: whole.subarray(offsets[n - 1], offsets[n - 1] + sizes[n - 1]),
        }),
      );
    const { etag } = await store.completeMultipart({
      key,
      uploadId,
      parts: parts.sort((a, b) => a.partNumber - b.partNumber),
    });
    expect(Buffer.compare(await store.get({ key }), whole)).toBe(0);
    expect((await store.head({ key })).etag).toBe(etag);
  });

  it("composes more than 32 parts in a tree and leaves no temporary objects", async () => {
    const store = new GcsStore({ bucket, endpoint: gcsServer().endpoint, uploadStrategy: "composite" });
    const key = "tree";
    const { uploadId } = await store.createMultipart({
      key,
      metadata: { mode: "33188" },
      contentType: "application/x-test",
    });
    const whole = ramp(70_000);
    const parts = await Promise.all(
      Array.from({ length: 70 }, (_, i) =>
        store.uploadPart({ key, uploadId, partNumber: i + 1, body: whole.subarray(i * 1000, (i + 1) * 1000) }),
      ),
    );
    const root = await store.list({ prefix: "", delimiter: "/" });
    expect(root.prefixes).not.toContain(PARTS_PREFIX); // in-flight temporaries stay out of listings
    await store.completeMultipart({ key, uploadId, parts });
    expect(Buffer.compare(await store.get({ key }), whole)).toBe(0);
    const info = await store.head({ key });
    expect(info.metadata.mode).toBe("33188");
    expect(info.contentType).toBe("application/x-test");
    const [leftovers] = await gcsClient().bucket(bucket).getFiles({ prefix: PARTS_PREFIX });
    expect(leftovers.map((f) => f.name)).toEqual([]);
  });

  it("reports a missing bucket as NoSuchBucket", async () => {
    await expect(gcsStore("bfs-no-such-bucket-here").checkAccess()).rejects.toSatisfy((e) =>
      isStoreError(e, "NoSuchBucket"),
    );
  });

  it("needs Application Default Credentials for an https endpoint, and says so when there are none", async () => {
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/bucketfs-test-key.json";
    try {
      const store = new GcsStore({ bucket, endpoint: "https://127.0.0.1:9", maxRetries: 0 });
      await expect(store.checkAccess()).rejects.toSatisfy((e) => isStoreError(e, "InvalidCredentials"));
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });

  it("reports an unreachable endpoint as Unreachable", async () => {
    const dead = new GcsStore({ bucket, endpoint: "http://127.0.0.1:9", maxRetries: 0 });
    await expect(dead.head({ key: "m" })).rejects.toSatisfy((e) => isStoreError(e, "Unreachable"));
  });
});

describe("GcsStore: what goes on the wire", () => {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: 404, message: "nope", errors: [{ reason: "notFound" }] } }));
  });
  let endpoint: string;
  beforeAll(async () => {
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it("bills requester-pays requests to --billing-project (userProject) and pins reads with ifGenerationMatch", async () => {
    const store = new GcsStore({ bucket: "rp-bucket", endpoint, billingProject: "my-billing" });
    await expect(store.head({ key: "k" })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
    await expect(store.get({ key: "k", ifMatch: "42", range: { start: 0, end: 10 } })).rejects.toSatisfy((e) =>
      isStoreError(e, "NotFound"),
    );
    await expect(store.list({ prefix: "p/" })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
    const urls = seen.map((r) => new URL(r.url!, endpoint));
    expect(urls.length).toBe(3);
    for (const url of urls) expect(url.searchParams.get("userProject")).toBe("my-billing");
    expect(urls[1].searchParams.get("ifGenerationMatch")).toBe("42");
    expect(seen[1].headers.range).toBe("bytes=0-9");
    // An http:// endpoint is an emulator: no credentials are looked up or sent.
    expect(seen.every((r) => r.headers.authorization === undefined)).toBe(true);
  });
});
