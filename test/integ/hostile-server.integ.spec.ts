/**
 * Issue 15, finding 5: a hostile or broken server must not hang a listing or exhaust memory.
 * Stub HTTP servers on 127.0.0.1 play S3 (ListObjectsV2) and the GCS JSON API.
 *
 * - A LIST that hands back the continuation token it was given, or goes round a cycle of tokens,
 *   or says "truncated" without a token, ends with a clear error after at most one extra page
 *   (S3Store, GcsStore, and the directory listing above them).
 * - GCS media GETs allocate no more than the range asked for, check Content-Range against it,
 *   and read at most 64 KiB of an error body.
 *
 * The S3 ranged GET (src/store/s3/s3-data-path.ts) is covered by s3-data-path.integ.spec.ts:
 * announced Content-Length larger than the range, Content-Range for another start or end, a 200
 * with a whole object, and a chunked body (no length) longer than asked.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { StoreError } from "../../src/store/errors.js";
import { GcsStore } from "../../src/store/gcs/gcs-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { S3Store } from "../../src/store/s3/s3-store.js";
import { createFilesystem } from "../../src/vfs/index.js";

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

let server: Server;
let endpoint: string;
let handler: Handler;
let seen: string[] = [];
let listingsOnly = false;
const dirs: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    // readdir also HEADs the entries it has not seen (issue 14); the listing tests do not count
    // those: they get 404, and the handler numbers the listing requests only.
    if (listingsOnly && !isListing(req)) {
      res.writeHead(404).end();
      return;
    }
    seen.push(req.url ?? "");
    handler(req, res, seen.length);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  seen = [];
  listingsOnly = false;
});

/** An S3 ListObjectsV2 or a GCS objects.list request (every other request is an entry's metadata). */
function isListing(req: IncomingMessage): boolean {
  const url = new URL(req.url ?? "/", "http://stub");
  return req.method === "GET" && (url.searchParams.get("list-type") === "2" || url.pathname.endsWith("/o"));
}

function s3(): S3Store {
  return new S3Store({
    bucket: "b",
    endpoint,
    region: "us-east-1",
    pathStyle: true,
    maxAttempts: 1,
    outagePatienceMs: 0,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" },
  });
}

function gcs(): GcsStore {
  return new GcsStore({ bucket: "b", endpoint, maxRetries: 0 });
}

function readdirOf(store: ObjectStore): Promise<string[]> {
  const stagingDir = mkdtempSync(join(tmpdir(), "bucketfs-hostile-"));
  dirs.push(stagingDir);
  const fs = createFilesystem({ store, prefix: "", stagingDir, log: silentLogger(), uid: 0, gid: 0 });
  return fs.readdir("/").then((entries) => entries.map((e) => e.name));
}

/** An S3 ListObjectsV2 page with one object `k<n>`. */
function s3Page(res: ServerResponse, n: number, next: string | undefined, truncated = next !== undefined): void {
  res
    .writeHead(200, { "content-type": "application/xml" })
    .end(
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>` +
        `<KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>${truncated}</IsTruncated>` +
        (next ? `<NextContinuationToken>${next}</NextContinuationToken>` : "") +
        `<Contents><Key>k${n}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"e${n}"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>` +
        "</ListBucketResult>",
    );
}

function gcsPage(res: ServerResponse, n: number, next: string | undefined): void {
  const body = JSON.stringify({
    kind: "storage#objects",
    items: [{ name: `k${n}`, size: "1", generation: String(n), updated: "2024-01-01T00:00:00.000Z" }],
    ...(next ? { nextPageToken: next } : {}),
  });
  res
    .writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) })
    .end(body);
}

/** Pre-fix code would loop forever: the stubs stop after this many pages so such a run ends (and fails). */
const GIVE_UP = 20;

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${Array.isArray(value) ? `${value.length} entries` : typeof value}`);
    },
    (err: Error) => err,
  );
}

describe("a LIST that never advances", () => {
  beforeEach(() => {
    listingsOnly = true;
  });

  it("S3: the same continuation token again ends with a clear error, on the store and in readdir", async () => {
    handler = (_req, res, n) => s3Page(res, n, n < GIVE_UP ? "again" : undefined);
    const err = await failure(s3().list({ prefix: "", token: "again" }));
    expect(err).toBeInstanceOf(StoreError);
    expect([(err as StoreError).kind, err.message]).toEqual([
      "Other",
      'ListObjectsV2 under "" returned the continuation token it was given: the server is not advancing the listing; stopped',
    ]);
    expect(seen.length).toBe(1);
    seen = [];
    const listing = await failure(readdirOf(s3()));
    expect(listing.message).toBe(
      'ListObjectsV2 under "" returned the continuation token it was given: the server is not advancing the listing; stopped',
    );
    expect(seen.length).toBe(2);
  });

  it("S3: a cycle of tokens ends readdir with a clear error", async () => {
    handler = (_req, res, n) => s3Page(res, n, n >= GIVE_UP ? undefined : n % 2 === 1 ? "A" : "B");
    const err = await failure(readdirOf(s3()));
    expect(err.message).toBe(
      'listing of / stopped: the server sent continuation token "A" a second time (a LIST that goes round in circles)',
    );
    expect(seen.length).toBe(3);
  });

  it("S3: a page marked truncated without a continuation token is an error, not a silently short listing", async () => {
    handler = (_req, res, n) => s3Page(res, n, undefined, true);
    const err = await failure(s3().list({ prefix: "" }));
    expect([(err as StoreError).kind, err.message]).toEqual([
      "Other",
      'ListObjectsV2 under "" says the listing is truncated but gives no continuation token',
    ]);
  });

  it("GCS: the same page token again ends with a clear error, on the store and in readdir", async () => {
    handler = (_req, res, n) => gcsPage(res, n, n < GIVE_UP ? "again" : undefined);
    const err = await failure(gcs().list({ prefix: "", token: "again" }));
    expect([(err as StoreError).kind, err.message]).toEqual([
      "Other",
      'objects.list under "" returned the page token it was given: the server is not advancing the listing; stopped',
    ]);
    expect(seen.length).toBe(1);
    seen = [];
    const listing = await failure(readdirOf(gcs()));
    expect(listing.message).toBe(
      'objects.list under "" returned the page token it was given: the server is not advancing the listing; stopped',
    );
    expect(seen.length).toBe(2);
  });

  it("GCS: a cycle of page tokens ends readdir with a clear error", async () => {
    handler = (_req, res, n) => gcsPage(res, n, n >= GIVE_UP ? undefined : n % 2 === 1 ? "A" : "B");
    const err = await failure(readdirOf(gcs()));
    expect(err.message).toBe(
      'listing of / stopped: the server sent continuation token "A" a second time (a LIST that goes round in circles)',
    );
    expect(seen.length).toBe(3);
  });
});

/**
 * Writes `total` bytes of body in 64 KiB pieces, then drops the connection without ending the
 * response: a client that waits for the end gets an error, one that stops early never sees it.
 */
function pour(res: ServerResponse, total: number): void {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  const more = (): void => {
    while (sent < total) {
      sent += piece.length;
      if (!res.write(piece)) return void res.once("drain", more);
    }
    res.socket?.destroy();
  };
  more();
}

describe("GCS media GETs against a hostile server", () => {
  it("a chunked body longer than the range is refused as soon as it overflows", async () => {
    handler = (_req, res) => {
      res.writeHead(206, { "content-range": "bytes 0-99/1000000000" });
      pour(res, 8 * 1024 * 1024);
    };
    const err = await failure(gcs().get({ key: "k", range: { start: 0, end: 100 } }));
    expect([(err as StoreError).kind, err.message]).toEqual([
      "Other",
      "objects.get media: body longer than the 100 bytes asked for",
    ]);
  });

  it("a Content-Range for other bytes than asked is refused", async () => {
    handler = (_req, res) =>
      res.writeHead(206, { "content-range": "bytes 0-99/1000", "content-length": 100 }).end(Buffer.alloc(100, 0x62));
    const err = await failure(gcs().get({ key: "k", range: { start: 100, end: 200 } }));
    expect([(err as StoreError).kind, err.message]).toEqual([
      "Other",
      "objects.get media: Content-Range bytes 0-99/1000 does not match the bytes 100-199 asked for",
    ]);
  });

  it("a 200 with the whole object for a ranged GET yields exactly the bytes asked for", async () => {
    const object = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    handler = (_req, res) => res.writeHead(200, { "content-length": object.length }).end(object);
    const got = await gcs().get({ key: "k", range: { start: 100, end: 200 } });
    expect(got.equals(object.subarray(100, 200))).toBe(true);
  });

  it("an error status with an endless body is reported from its first 64 KiB", async () => {
    handler = (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      pour(res, 8 * 1024 * 1024);
    };
    const err = await failure(gcs().get({ key: "k", range: { start: 0, end: 100 } }));
    expect([(err as StoreError).kind, err.message]).toEqual(["NotFound", "objects.get media failed: HTTP 404"]);
  });
});
