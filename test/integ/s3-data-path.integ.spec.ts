/**
 * The lean S3 data path (src/store/s3/s3-data-path.ts) against a hostile stub server on loopback,
 * and against the real RGW for keys that need encoding. The stub answers each request with the
 * next scripted handler and records what it received, so attempt counts are exact.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CreateMultipartUploadCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { StoreError } from "../../src/store/errors.js";
import { S3Store } from "../../src/store/s3/s3-store.js";
import { ramp } from "../helpers/ramp.js";
import { freshBucket, s3Store, sdkClient } from "../helpers/s3.js";
import { objectBytes } from "../helpers/sdk.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A promise and its resolver (Promise.withResolvers is Node 22). */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Answers request i with handlers[i] (the last one for the rest), after reading its body. */
class Stub {
  readonly seen: Seen[] = [];
  handlers: Handler[] = [];
  /** Resolves when the next request has arrived (for tests that act while a request is held). */
  arrived = signal();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      this.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const handler = this.handlers[Math.min(this.seen.length - 1, this.handlers.length - 1)];
      this.arrived.resolve();
      handler(req, res, body);
    });
  });

  async start(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  reset(handlers: Handler[]): void {
    this.seen.length = 0;
    this.handlers = handlers;
    this.arrived = signal();
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }
}

const OBJECT = ramp(1000);

/** A correct 206 for the request's Range header, against OBJECT. */
const good: Handler = (req, res) => {
  const [, a, b] = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "")!;
  const [start, last] = [Number(a), Math.min(Number(b), OBJECT.length - 1)];
  res.writeHead(206, {
    "Content-Length": last - start + 1,
    "Content-Range": `bytes ${start}-${last}/${OBJECT.length}`,
  });
  res.end(OBJECT.subarray(start, last + 1));
};

function xmlError(status: number, code: string): Handler {
  return (_req, res) => {
    res.writeHead(status, { "Content-Type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>stub says ${code}</Message></Error>`,
    );
  };
}

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

describe("lean S3 data path against a misbehaving server", () => {
  const stub = new Stub();
  let store: S3Store;
  beforeAll(async () => {
    const endpoint = await stub.start();
    store = new S3Store({
      bucket: "stub",
      endpoint,
      region: "us-east-1",
      pathStyle: true,
      maxAttempts: 3,
      outagePatienceMs: 0,
      requestTimeoutMs: 300,
      credentials: { accessKeyId: "AKIDSTUB", secretAccessKey: "stub-secret" },
    });
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    store.destroy();
    await stub.stop();
  });

  it("is the path in use, and serves a clean ranged GET in one request", async () => {
    stub.reset([good]);
    expect(store.dataPath).toBe("lean");
    expect(await store.get({ key: "k", range: { start: 100, end: 200 } })).toEqual(OBJECT.subarray(100, 200));
    expect(stub.seen.map((s) => [s.method, s.url, s.headers.range])).toEqual([["GET", "/stub/k", "bytes=100-199"]]);
    expect(stub.seen[0].headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDSTUB\/\d{8}\/us-east-1\/s3\/aws4_request, /,
    );
  });

  it("never allocates an announced Content-Length larger than the request", async () => {
    const huge = 10 * 1024 ** 3;
    const allocations = vi.spyOn(Buffer, "allocUnsafe");
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": huge, "Content-Range": "bytes 0-99/20000000000" });
        res.write(OBJECT.subarray(0, 100));
      },
    ]);
    const err = await failure(store.get({ key: "k", range: { start: 0, end: 100 } }));
    expect([err.kind, err.message]).toEqual([
      "Other",
      `GetObject: Content-Length ${huge} disagrees with Content-Range 0-99 for bytes 0-99`,
    ]);
    expect(allocations.mock.calls.filter(([size]) => size > 100)).toEqual([]);
    expect(stub.seen.length).toBe(1);
  });

  it("refuses a 200 carrying a whole object larger than the range", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(200, { "Content-Length": 5000 });
        res.end(Buffer.alloc(5000));
      },
    ]);
    const err = await failure(store.get({ key: "k", range: { start: 0, end: 100 } }));
    expect([err.kind, err.message]).toEqual([
      "Other",
      "GetObject: 200 with the whole object (5000 bytes) instead of a range for bytes 0-99",
    ]);
  });

  it("accepts a 200 for an object that ends inside the range, and returns only the bytes asked for", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(200, { "Content-Length": OBJECT.length });
        res.end(OBJECT);
      },
    ]);
    expect(await store.get({ key: "k", range: { start: 900, end: 5000 } })).toEqual(OBJECT.subarray(900));
  });

  it("rejects a Content-Range for another start, or ending past the requested end", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": 100, "Content-Range": "bytes 0-99/1000" });
        res.end(OBJECT.subarray(0, 100));
      },
    ]);
    const early = await failure(store.get({ key: "k", range: { start: 100, end: 200 } }));
    expect([early.kind, early.message, stub.seen.length]).toEqual([
      "Other",
      "GetObject: Content-Range starts at 0 for bytes 100-199",
      1,
    ]);
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": 200, "Content-Range": "bytes 100-299/1000" });
        res.end(OBJECT.subarray(100, 300));
      },
    ]);
    const long = await failure(store.get({ key: "k", range: { start: 100, end: 200 } }));
    expect([long.kind, long.message, stub.seen.length]).toEqual([
      "Other",
      "GetObject: Content-Range ends at 299 for bytes 100-199",
      1,
    ]);
  });

  it("fails on a body longer than announced, chunked or past its Content-Length", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Range": "bytes 0-99/1000", "Transfer-Encoding": "chunked" });
        res.end(OBJECT.subarray(0, 150));
      },
    ]);
    const chunked = await failure(store.get({ key: "k", range: { start: 0, end: 100 } }));
    expect([chunked.kind, chunked.message, stub.seen.length]).toEqual([
      "Other",
      "GetObject body longer than the 100 bytes announced",
      1,
    ]);
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": 100, "Content-Range": "bytes 0-99/1000" });
        res.end(OBJECT.subarray(0, 150));
      },
    ]);
    const extra = await failure(store.get({ key: "k", range: { start: 0, end: 100 } }));
    expect(extra.kind).toBe("Other");
    expect(extra.message).toMatch(
      /^GetObject: malformed HTTP response \(HPE_[A-Z_]+\), e\.g\. a body longer than its Content-Length$/,
    );
    expect(stub.seen.length).toBe(1);
  });

  it("retries a body cut off mid-way, and succeeds on the second attempt", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": 100, "Content-Range": "bytes 0-99/1000" });
        res.write(OBJECT.subarray(0, 40), () => res.socket?.destroy());
      },
      good,
    ]);
    expect(await store.get({ key: "k", range: { start: 0, end: 100 } })).toEqual(OBJECT.subarray(0, 100));
    expect(stub.seen.length).toBe(2);
  });

  it("gives up on truncated bodies after maxAttempts, as a truncated read", async () => {
    stub.reset([
      (_req, res) => {
        res.writeHead(206, { "Content-Length": 100, "Content-Range": "bytes 0-99/1000" });
        res.write(OBJECT.subarray(0, 40), () => res.socket?.destroy());
      },
    ]);
    const err = await failure(store.get({ key: "k", range: { start: 0, end: 100 } }));
    expect([err.kind, err.message, stub.seen.length]).toEqual([
      "Unreachable",
      "GetObject body truncated: 40 of 100 bytes",
      3,
    ]);
  });

  it("retries an attempt that stalls past requestTimeoutMs", async () => {
    stub.reset([
      (_req, res) => res.writeHead(206, { "Content-Length": 100, "Content-Range": "bytes 0-99/1000" }).flushHeaders(),
      good,
    ]);
    expect(await store.get({ key: "k", range: { start: 0, end: 100 } })).toEqual(OBJECT.subarray(0, 100));
    expect(stub.seen.length).toBe(2);
  });

  it("retries 503 SlowDown and 500 InternalError, not 412 or 404", async () => {
    stub.reset([xmlError(503, "SlowDown"), xmlError(500, "InternalError"), good]);
    expect(await store.get({ key: "k", range: { start: 0, end: 10 } })).toEqual(OBJECT.subarray(0, 10));
    expect(stub.seen.length).toBe(3);
  });

  it("maps 412 and 404 XML errors to PreconditionFailed and NotFound, at once", async () => {
    stub.reset([xmlError(412, "PreconditionFailed")]);
    const stale = await failure(store.get({ key: "k", range: { start: 0, end: 10 }, ifMatch: '"abc"' }));
    expect([stale.kind, stale.message, stale.key]).toEqual([
      "PreconditionFailed",
      "GetObject failed: PreconditionFailed (HTTP 412)",
      "k",
    ]);
    expect([stub.seen.length, stub.seen[0].headers["if-match"]]).toEqual([1, '"abc"']);
    stub.reset([xmlError(404, "NoSuchKey")]);
    const missing = await failure(store.get({ key: "k", range: { start: 0, end: 10 } }));
    expect([missing.kind, missing.message, stub.seen.length]).toEqual([
      "NotFound",
      "GetObject failed: NoSuchKey (HTTP 404)",
      1,
    ]);
    stub.reset([(_req, res) => res.writeHead(404).end()]);
    const bare = await failure(store.get({ key: "k", range: { start: 0, end: 10 } }));
    expect([bare.kind, bare.message]).toEqual(["NotFound", "GetObject failed: Http404 (HTTP 404)"]);
  });

  it("stops at once when the caller aborts a request the server holds", async () => {
    stub.reset([() => undefined]);
    const controller = new AbortController();
    const pending = failure(store.get({ key: "k", range: { start: 0, end: 10 }, signal: controller.signal }));
    await stub.arrived.promise;
    controller.abort();
    expect((await pending).kind).toBe("Aborted");
    expect(stub.seen.length).toBe(1);
  });

  it("encodes each key segment per SigV4 and signs a SHA-256 of a part sent over plain HTTP", async () => {
    stub.reset([(_req, res) => res.writeHead(200, { ETag: '"e1"' }).end()]);
    const body = ramp(70_000);
    const key = "dir/sp ace+%?#ü😀(x)!*'~.txt";
    const part = await store.uploadPart({ key, uploadId: "2~up/load+id", partNumber: 7, body });
    expect(part).toEqual({ partNumber: 7, etag: '"e1"' });
    const [seen] = stub.seen;
    expect(seen.method).toBe("PUT");
    expect(seen.url).toBe(
      "/stub/dir/sp%20ace%2B%25%3F%23%C3%BC%F0%9F%98%80%28x%29%21%2A%27~.txt?partNumber=7&uploadId=2~up%2Fload%2Bid",
    );
    expect(seen.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update(body).digest("hex"));
    expect(Buffer.compare(seen.body, body)).toBe(0);
  });

  it("hashes a body of several MiB in slices, with turns of the event loop between them", async () => {
    stub.reset([(_req, res) => res.writeHead(200, { ETag: '"e2"' }).end()]);
    const body = ramp(3 * 1024 * 1024 + 17, 5);
    let turns = 0;
    let counting = true;
    const tick = (): void => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const put = store.put({ key: "big", body });
    await stub.arrived.promise;
    const before = turns;
    counting = false;
    await put;
    expect(before).toBeGreaterThanOrEqual(3); // one per slice boundary at least
    expect(stub.seen[0]!.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update(body).digest("hex"));
  });
});

describe("choice of data path, made once at construction", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "BUCKETFS_S3_DATA_PATH"]) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  const pathOf = (endpoint?: string): string => {
    const store = new S3Store({
      bucket: "b-choice",
      endpoint,
      region: "eu-west-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
    });
    store.destroy();
    return store.dataPath;
  };

  it("is lean by default, for AWS and for HTTP and HTTPS endpoints", () => {
    for (const name of ["HTTPS_PROXY", "https_proxy", "BUCKETFS_S3_DATA_PATH"]) delete process.env[name];
    expect([pathOf(), pathOf("http://127.0.0.1:1"), pathOf("https://s3.example.test")]).toEqual([
      "lean",
      "lean",
      "lean",
    ]);
  });

  it("falls back to the SDK behind an HTTPS proxy, unless NO_PROXY exempts the host", () => {
    process.env.HTTPS_PROXY = "http://127.0.0.1:3128";
    process.env.NO_PROXY = "";
    expect([pathOf(), pathOf("https://s3.example.test"), pathOf("http://127.0.0.1:1")]).toEqual(["sdk", "sdk", "lean"]);
    process.env.NO_PROXY = ".example.test";
    expect(pathOf("https://s3.example.test")).toBe("lean");
  });

  it("is the SDK when BUCKETFS_S3_DATA_PATH=sdk", () => {
    process.env.BUCKETFS_S3_DATA_PATH = "sdk";
    expect([pathOf(), pathOf("http://127.0.0.1:1")]).toEqual(["sdk", "sdk"]);
  });
});

describe("lean S3 data path on the real S3 server", () => {
  const keys = [
    "sp ace/plus+sign",
    "pct%25/percent%",
    "q?mark#hash&amp=eq",
    "unicode/ü😀漢字",
    "paren(s)!*'~ end ",
    "a//double/slash",
  ];
  let bucket: string;
  let store: S3Store;
  beforeAll(async () => {
    bucket = await freshBucket("datapath");
    store = s3Store(bucket);
  });
  afterAll(() => store.destroy());

  it.each(keys)("reads %j put by the SDK through the lean path", async (key) => {
    expect(store.dataPath).toBe("lean");
    const body = ramp(3000, key.length);
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    expect(await store.get({ key, range: { start: 0, end: 3000 } })).toEqual(body);
    expect(await store.get({ key, range: { start: 2990, end: 9000 } })).toEqual(body.subarray(2990));
  });

  it.each(keys)("writes %j through the lean path (PUT and UploadPart) for the SDK to read", async (key) => {
    const body = ramp(2000, 3);
    await store.put({ key: `${key}.put`, body, metadata: { mode: "33188" }, contentType: "text/plain" });
    expect(await objectBytes(bucket, `${key}.put`)).toEqual(body);
    expect((await store.head({ key: `${key}.put` })).metadata).toEqual({ mode: "33188" });
    const { UploadId } = await sdkClient().send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${key}.mp` }));
    const part = await store.uploadPart({ key: `${key}.mp`, uploadId: UploadId!, partNumber: 1, body });
    await store.completeMultipart({ key: `${key}.mp`, uploadId: UploadId!, parts: [part] });
    expect(await objectBytes(bucket, `${key}.mp`)).toEqual(body);
  });

  it("signs bodies of several hash slices so that the server verifies them", async () => {
    const body = ramp(3 * 1024 * 1024 + 5, 9);
    await store.put({ key: "multi-slice", body });
    // Buffer.compare: a deep equality of 3 MiB takes the matcher seconds.
    expect(Buffer.compare(await objectBytes(bucket, "multi-slice"), body)).toBe(0);
  });

  it("answers like the SDK path: ranges past the end, conditional reads, missing keys", async () => {
    process.env.BUCKETFS_S3_DATA_PATH = "sdk";
    const sdkStore = s3Store(bucket);
    delete process.env.BUCKETFS_S3_DATA_PATH;
    expect(sdkStore.dataPath).toBe("sdk");
    const { etag } = await store.put({ key: "parity", body: ramp(100) });
    const outcome = (
      s: S3Store,
      range: { start: number; end: number },
      ifMatch?: string,
      key = "parity",
    ): Promise<string> =>
      s.get({ key, range, ifMatch }).then(
        (b) => `bytes ${b.length}`,
        (e: StoreError) => `${e.kind}: ${e.message}`,
      );
    const cases: [{ start: number; end: number }, string | undefined, string | undefined][] = [
      [{ start: 50, end: 500 }, undefined, undefined],
      [{ start: 100, end: 200 }, undefined, undefined],
      [{ start: 0, end: 10 }, etag, undefined],
      [{ start: 0, end: 10 }, '"0123"', undefined],
      [{ start: 0, end: 10 }, undefined, "absent"],
    ];
    await sdkStore.put({ key: "typed-by-sdk", body: Buffer.from("t") });
    expect((await store.head({ key: "parity" })).contentType).toBe(
      (await store.head({ key: "typed-by-sdk" })).contentType,
    );
    const lean = await Promise.all(cases.map(([r, m, k]) => outcome(store, r, m, k)));
    const sdk = await Promise.all(cases.map(([r, m, k]) => outcome(sdkStore, r, m, k)));
    expect(lean).toEqual(sdk);
    expect(lean).toEqual([
      "bytes 50",
      "InvalidRange: GetObject failed: InvalidRange (HTTP 416)",
      "bytes 10",
      "PreconditionFailed: GetObject failed: PreconditionFailed (HTTP 412)",
      "NotFound: GetObject failed: NoSuchKey (HTTP 404)",
    ]);
    sdkStore.destroy();
  });
});
