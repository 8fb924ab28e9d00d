/**
 * The Prometheus metrics of one mount (prom-client, on a private Registry so two mounts in one
 * process, or tests, never collide). Components never import prom-client: they receive one of
 * the small observer interfaces below (or call the named counters), so the store, the FUSE
 * adapter and the chunk cache stay testable without metrics.
 *
 * Cache metrics are a public API for the chunk cache: call `metrics.cacheHits.inc()`,
 * `cacheMisses.inc()`, `cacheEvictions.inc()`, and `cacheSizeBytes.set(bytes)`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StoreObserver } from "../store/metered-store.js";

/** Latency buckets in seconds: 1 ms (cached/local) up to 60 s (large multipart parts, retries). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Dirty data and uploads, computed at scrape time from whoever owns them (see status.ts). */
export interface UploadGauges {
  dirtyBytes(): number;
  pendingUploads(): number;
  failedUploads(): number;
}

export class BucketfsMetrics implements StoreObserver {
  readonly registry = new Registry();

  readonly storeRequests = new Counter({
    name: "bucketfs_store_requests_total",
    help: "Object store requests by operation and status (ok or the StoreError kind)",
    labelNames: ["op", "status"],
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: "bucketfs_store_request_duration_seconds",
    help: "Object store request latency",
    labelNames: ["op"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly storeBytes = new Counter({
    name: "bucketfs_store_bytes_total",
    help: "Bytes transferred with the object store; direction=in is downloaded, out is uploaded",
    labelNames: ["direction"],
    registers: [this.registry],
  });

  readonly fuseOps = new Counter({
    name: "bucketfs_fuse_operations_total",
    help: "FUSE operations by name and errno (0 = success)",
    labelNames: ["op", "errno"],
    registers: [this.registry],
  });
  readonly fuseLatency = new Histogram({
    name: "bucketfs_fuse_operation_duration_seconds",
    help: "FUSE operation latency",
    labelNames: ["op"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly cacheHits = new Counter({
    name: "bucketfs_cache_hits_total",
    help: "Chunk cache hits",
    registers: [this.registry],
  });
  readonly cacheMisses = new Counter({
    name: "bucketfs_cache_misses_total",
    help: "Chunk cache misses",
    registers: [this.registry],
  });
  readonly cacheEvictions = new Counter({
    name: "bucketfs_cache_evictions_total",
    help: "Chunks evicted from the cache",
    registers: [this.registry],
  });
  readonly cacheSizeBytes = new Gauge({
    name: "bucketfs_cache_size_bytes",
    help: "Bytes held in the chunk cache",
    registers: [this.registry],
  });
  readonly cacheCapacityBytes = new Gauge({
    name: "bucketfs_cache_capacity_bytes",
    help: "Configured chunk cache capacity (0 = no cache)",
    registers: [this.registry],
  });

  readonly mountInfo = new Gauge({
    name: "bucketfs_mount_info",
    help: "Constant 1, labelled with the mount's source and mountpoint",
    labelNames: ["source", "mountpoint"],
    registers: [this.registry],
  });

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: "bucketfs_" });
  }

  /** Registers the upload gauges, read at each scrape from the live state. */
  watchUploads(source: UploadGauges): void {
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    };
    gauge("bucketfs_dirty_bytes", "Bytes written locally and not yet uploaded", () => source.dirtyBytes());
    gauge("bucketfs_pending_uploads", "Files with changes not yet in the bucket", () => source.pendingUploads());
    gauge("bucketfs_failed_uploads", "Files whose last upload failed (data kept in the staging dir)", () =>
      source.failedUploads(),
    );
  }

  /** Reads the native binding answered from cached chunk files without entering JavaScript. */
  watchNativeReads(stats: () => { reads: number; bytes: number; bad: number }): void {
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    counter(
      "bucketfs_fuse_native_reads_total",
      "FUSE READs served from the disk cache by the native binding, without JavaScript",
      () => stats().reads,
    );
    counter("bucketfs_fuse_native_read_bytes_total", "Bytes of those READs", () => stats().bytes);
    counter(
      "bucketfs_fuse_native_bad_chunks_total",
      "Chunk files the native binding found bad (then dropped and refetched)",
      () => stats().bad,
    );
  }

  /** StoreObserver: called by MeteredStore once per request. */
  storeRequest(op: string, status: string, durationMs: number, bytesIn: number, bytesOut: number): void {
    this.storeRequests.inc({ op, status });
    this.storeLatency.observe({ op }, durationMs / 1000);
    if (bytesIn > 0) this.storeBytes.inc({ direction: "in" }, bytesIn);
    if (bytesOut > 0) this.storeBytes.inc({ direction: "out" }, bytesOut);
  }

  /** The FuseAdapter's OperationObserver. */
  readonly fuseOperation = (op: string, durationMs: number, errno: number): void => {
    this.fuseOps.inc({ op, errno: String(errno) });
    this.fuseLatency.observe({ op }, durationMs / 1000);
  };

  /** Totals for `bucketfs status` (throughput is derived from two samples by the client). */
  async totals(): Promise<{
    bytesIn: number;
    bytesOut: number;
    requests: number;
    errors: number;
    cacheHits: number;
    cacheMisses: number;
    cacheSizeBytes: number;
    cacheCapacityBytes: number;
  }> {
    const bytes = (await this.storeBytes.get()).values;
    const requests = (await this.storeRequests.get()).values;
    const single = async (metric: Counter | Gauge): Promise<number> => (await metric.get()).values[0]?.value ?? 0;
    return {
      bytesIn: bytes.find((v) => v.labels.direction === "in")?.value ?? 0,
      bytesOut: bytes.find((v) => v.labels.direction === "out")?.value ?? 0,
      requests: requests.reduce((sum, v) => sum + v.value, 0),
      // NotFound is how lookups learn that a name does not exist: an answer, not an error.
      errors: requests
        .filter((v) => v.labels.status !== "ok" && v.labels.status !== "NotFound")
        .reduce((sum, v) => sum + v.value, 0),
      cacheHits: await single(this.cacheHits),
      cacheMisses: await single(this.cacheMisses),
      cacheSizeBytes: await single(this.cacheSizeBytes),
      cacheCapacityBytes: await single(this.cacheCapacityBytes),
    };
  }
}
