/** Metrics decorator, status helpers and log scrubbing, without network or FUSE. */
import fc from "fast-check";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { createLogger, scrubSecrets, secretsFromEnv } from "../../src/log/logger.js";
import { BucketfsMetrics } from "../../src/metrics/registry.js";
import { ThroughputMeter, uploadGauges } from "../../src/metrics/status.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { MeteredStore } from "../../src/store/metered-store.js";
import { renderStatus } from "../../src/cli/status-command.js";

describe("MeteredStore", () => {
  it("counts requests by operation and outcome, and bytes in each direction", async () => {
    const metrics = new BucketfsMetrics(false);
    const store = new MeteredStore(new MemoryStore(), metrics);
    await store.put({ key: "a", body: Buffer.alloc(1000) });
    await store.get({ key: "a", range: { start: 0, end: 100 } });
    await expect(store.head({ key: "missing" })).rejects.toMatchObject({ kind: "NotFound" });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/bucketfs_store_requests_total\{op="put",status="ok"\} 1/);
    expect(text).toMatch(/bucketfs_store_requests_total\{op="head",status="NotFound"\} 1/);
    expect(text).toMatch(/bucketfs_store_bytes_total\{direction="out"\} 1000/);
    expect(text).toMatch(/bucketfs_store_bytes_total\{direction="in"\} 100/);
    expect(text).toMatch(/bucketfs_store_request_duration_seconds_count\{op="get"\} 1/);
    expect(await metrics.totals()).toMatchObject({ bytesIn: 100, bytesOut: 1000, requests: 3, errors: 0 });
  });

  it("tracks multipart progress while the upload is in flight, and forgets it after", async () => {
    const store = new MeteredStore(new MemoryStore(), new BucketfsMetrics(false));
    const { uploadId } = await store.createMultipart({ key: "big" });
    expect(store.uploads.sentBytes("big")).toBe(0);
    const part = Buffer.alloc(store.capabilities.minPartSize);
    const parts = [await store.uploadPart({ key: "big", uploadId, partNumber: 1, body: part })];
    expect(store.uploads.sentBytes("big")).toBe(part.length);
    await store.completeMultipart({ key: "big", uploadId, parts });
    expect(store.uploads.sentBytes("big")).toBeUndefined();
  });
});

describe("MeteredStore accounting (property)", () => {
  type Op =
    | { kind: "put"; key: string; size: number }
    | { kind: "get"; key: string; start: number; length: number }
    | { kind: "head"; key: string }
    | { kind: "delete"; key: string };
  const key = fc.constantFrom("a", "b", "c");
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("put" as const), key, size: fc.nat(5000) }),
    fc.record({
      kind: fc.constant("get" as const),
      key,
      start: fc.nat(6000),
      length: fc.integer({ min: 1, max: 3000 }),
    }),
    fc.record({ kind: fc.constant("head" as const), key }),
    fc.record({ kind: fc.constant("delete" as const), key }),
  );

  it("counts every request once and every byte that moved, whatever the outcome", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const metrics = new BucketfsMetrics(false);
        const store = new MeteredStore(new MemoryStore(), metrics);
        const model = new Map<string, number>();
        let bytesIn = 0,
          bytesOut = 0,
          errors = 0;
        for (const o of ops) {
          if (o.kind === "put") {
            await store.put({ key: o.key, body: Buffer.alloc(o.size) });
            model.set(o.key, o.size);
            bytesOut += o.size;
          } else if (o.kind === "delete") {
            await store.delete({ key: o.key });
            model.delete(o.key);
          } else if (o.kind === "head") {
            await store.head({ key: o.key }).catch(() => undefined);
          } else {
            const size = model.get(o.key);
            const got = await store
              .get({ key: o.key, range: { start: o.start, end: o.start + o.length } })
              .catch(() => undefined);
            if (size !== undefined && got) bytesIn += got.length;
            if (size !== undefined && got)
              expect(got.length).toBe(Math.max(0, Math.min(size, o.start + o.length) - o.start));
            if (size !== undefined && !got) errors++;
          }
          expect(store.uploads.sentBytes(o.key)).toBeUndefined();
        }
        const totals = await metrics.totals();
        expect(totals).toMatchObject({ requests: ops.length, bytesIn, bytesOut, errors });
      }),
      { numRuns: 60 },
    );
  });
});

describe("metrics registry", () => {
  it("exposes FUSE operations, upload gauges and the cache API", async () => {
    const metrics = new BucketfsMetrics(false);
    metrics.fuseOperation("read", 3, 0);
    metrics.fuseOperation("getattr", 1, 2);
    metrics.cacheHits.inc(3);
    metrics.cacheMisses.inc();
    metrics.watchUploads(
      uploadGauges({
        uploads: () => [
          { path: "/a", state: "failed", sizeBytes: 10 },
          { path: "/b", state: "pending", sizeBytes: 5 },
        ],
      }),
    );
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/bucketfs_fuse_operations_total\{op="getattr",errno="2"\} 1/);
    expect(text).toMatch(/bucketfs_fuse_operation_duration_seconds_count\{op="read"\} 1/);
    expect(text).toMatch(/bucketfs_dirty_bytes 15/);
    expect(text).toMatch(/bucketfs_pending_uploads 1/);
    expect(text).toMatch(/bucketfs_failed_uploads 1/);
    expect(text).toMatch(/bucketfs_cache_hits_total 3/);
  });
});

describe("throughput", () => {
  it("reports the rate between the last two samples", () => {
    // A hand-moved clock: the meter reads performance.now(), so the interval is exactly 250 ms.
    let now = 1_000;
    const clock = vi.spyOn(performance, "now").mockImplementation(() => now);
    onTestFinished(() => clock.mockRestore());
    const meter = new ThroughputMeter();
    meter.sample(0, 0);
    now += 250;
    meter.sample(1_000_000, 0);
    expect(meter.current()).toEqual({ inBytesPerSecond: 4_000_000, outBytesPerSecond: 0 });
    now += 500;
    meter.sample(1_500_000, 2_000_000);
    expect(meter.current()).toEqual({ inBytesPerSecond: 1_000_000, outBytesPerSecond: 4_000_000 });
  });
});

describe("status rendering", () => {
  it("draws a progress bar per upload and names failures", () => {
    const lines = renderStatus({
      source: "s3://b",
      mountpoint: "/m",
      pid: 1,
      startedAt: "",
      uptimeSeconds: 3725,
      readOnly: false,
      logLevel: "info",
      bytesIn: 0,
      bytesOut: 0,
      requests: 0,
      requestErrors: 0,
      throughput: { inBytesPerSecond: 0, outBytesPerSecond: 0 },
      dirtyBytes: 300,
      uploads: [
        { path: "/half", state: "uploading", sizeBytes: 200, sentBytes: 100 },
        { path: "/bad", state: "failed", sizeBytes: 100, error: "EIO", stagingFile: "/s/1" },
      ],
    }).join("\n");
    expect(lines).toContain("up 1h 2m");
    expect(lines).toMatch(/uploading +█{12}░{12}  50% 100 B\/200 B {2}\/half/);
    expect(lines).toMatch(/failed +\/bad .*data kept at \/s\/1/);
    expect(lines).toContain("1 FAILED");
  });
});

describe("secrets in logs", () => {
  const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

  it("scrubs known secret values and request signatures from a line", () => {
    const line = JSON.stringify({
      msg: `failed with key ${SECRET}`,
      url: "https://b.s3/x?X-Amz-Signature=abc123&X-Amz-Date=1",
    });
    const clean = scrubSecrets(line, [SECRET]);
    expect(clean).not.toContain(SECRET);
    expect(clean).not.toContain("abc123");
    expect(clean).toContain("X-Amz-Date=1");
  });

  it("takes secret values from the environment, ignoring short ones", () => {
    expect(secretsFromEnv({ AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: "short" })).toEqual([SECRET]);
  });

  it("never writes the secret, whatever field it arrives in", async () => {
    const { openSync, readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { testTempDir } = await import("../helpers/temp-dirs.js");
    const file = join(testTempDir("bucketfs-log-"), "log");
    const log = createLogger({ destination: openSync(file, "w"), secrets: [SECRET] });
    log.info(
      { config: { secretAccessKey: SECRET }, note: SECRET, err: new Error(`bad ${SECRET}`) },
      `message ${SECRET}`,
    );
    const written = readFileSync(file, "utf8");
    expect(written).toContain("message [redacted]");
    expect(written).not.toContain(SECRET);
  });
});
