/**
 * HEADs sent by the libfuse3 addon's threads (native/src/head.c through src/vfs/native-heads.ts):
 * against RGW, the exact size, ETag, Last-Modified and metadata the store's own HEAD reads; against
 * a hostile stub, the header caps and non-200 answers reject (the namespace then falls back).
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNativeAddon, type NativeAddon } from "../../src/fuse/native-addon.js";
import { nativeHeadOf } from "../../src/vfs/native-heads.js";
import { freshBucket, s3Store, sdkClient } from "../helpers/s3.js";

const loaded = loadNativeAddon();
if (loaded instanceof Error)
  throw new Error(`the native addon must be built for these tests (scripts/install-deps.sh): ${loaded.message}`);
const addon = loaded as NativeAddon;

describe("native HEAD against RGW", () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await freshBucket("nativehead");
  });

  it("reads exactly what the store's HEAD reads, metadata included", async () => {
    const store = s3Store(bucket);
    const key = "dir/some file+ü.txt";
    await sdkClient().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: "hello native head",
        Metadata: { "bucketfs-mode": "33188", "bucketfs-uid": "1234", other: "x y" },
      }),
    );
    const head = nativeHeadOf({ head: addon.head, sign: store.signHead!, timeoutSeconds: 10 });
    const native = await head(key);
    const { contentType: _ignored, ...viaStore } = await store.head({ key });
    expect(native).toEqual(viaStore);
    expect(native.size).toBe(17);
    expect(native.metadata).toEqual({ "bucketfs-mode": "33188", "bucketfs-uid": "1234", other: "x y" });
    expect(native.etag).toMatch(/^"[0-9a-f]{32}"$/);
  });

  it("rejects a missing key with its status", async () => {
    const store = s3Store(bucket);
    const head = nativeHeadOf({ head: addon.head, sign: store.signHead!, timeoutSeconds: 10 });
    await expect(head("no/such/key")).rejects.toThrow("native HEAD of no/such/key: status 404");
  });
});

describe("native HEAD against a hostile server", () => {
  let headers: [string, string][] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(200, [
      ["Content-Length", "5"],
      ["ETag", '"abc"'],
      ["Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"],
      ...headers,
    ]);
    res.end();
  });
  let url = "";
  beforeAll(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/k`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  });
  const headOf = () => nativeHeadOf({ head: addon.head, sign: () => Promise.resolve(url), timeoutSeconds: 10 })("k");

  it("keeps only the headers the namespace needs", async () => {
    headers = [
      ["X-Amz-Meta-Mode", "420"],
      ["Set-Cookie", "a=b"],
    ];
    expect(await headOf()).toEqual({
      key: "k",
      size: 5,
      etag: '"abc"',
      lastModified: new Date("2015-10-21T07:28:00Z"),
      metadata: { mode: "420" },
    });
  });

  it("refuses more than 64 kept headers", async () => {
    // 3 standard headers + 61 metadata = 64 kept: the limit itself passes, one more fails.
    headers = Array.from({ length: 61 }, (_, i): [string, string] => [`x-amz-meta-m${i}`, "v"]);
    expect(Object.keys((await headOf()).metadata)).toHaveLength(61);
    headers.push(["x-amz-meta-extra", "v"]);
    await expect(headOf()).rejects.toThrow("too many response headers");
  });

  it("refuses a header line over 8 KiB", async () => {
    headers = [["x-amz-meta-big", "v".repeat(9000)]];
    await expect(headOf()).rejects.toThrow("response headers too large");
  });

  it("refuses more than 16 KiB of kept header bytes", async () => {
    headers = Array.from({ length: 5 }, (_, i): [string, string] => [`x-amz-meta-m${i}`, "v".repeat(4000)]);
    await expect(headOf()).rejects.toThrow("too many response headers");
  });
});
