/**
 * The service side of a mount, started by the daemon next to the FUSE session: metrics (the
 * store decorator, the FUSE observer, the Prometheus endpoint), the control socket answering
 * `bucketfs status`, the pid file for systemd, and SIGUSR2 log toggling.
 */
import { rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:net";
import type { MountConfig } from "../config/schema.js";
import { toggleDebugOnSignal, type Logger } from "../log/logger.js";
import { BucketfsMetrics } from "../metrics/registry.js";
import { startMetricsServer } from "../metrics/server.js";
import { ThroughputMeter, uploadGauges, type MountStatus, type UploadState, type UploadStatusProvider } from "../metrics/status.js";
import { MeteredStore, type UploadProgress } from "../store/metered-store.js";
import type { ObjectStore } from "../store/object-store.js";
import type { MountedFilesystem } from "../vfs/index.js";
import { controlSocketPath, startControlServer, stopControlServer, type ControlHandler } from "./control.js";

/** How often throughput is sampled; status shows the rate over the last interval. */
const THROUGHPUT_INTERVAL_MS = 2_000;

export interface ServiceIdentity {
  source: string;
  mountpoint: string;
  config: MountConfig;
}

export interface MountService {
  metrics: BucketfsMetrics;
  /** The store to build the filesystem on: the given one, measured. */
  store: MeteredStore;
  /** Starts the endpoints once the filesystem exists. Throws (e.g. port in use) before readiness. */
  start(fs: MountedFilesystem): Promise<void>;
  /** Writes the pid file: call once the mount is ready. */
  ready(): void;
  stop(): void;
  /** Replaces the default upload status (dirty files) — e.g. by the upload journal. */
  setUploadStatus(provider: UploadStatusProvider): void;
  /** Answers `bucketfs sign` requests for paths in this mount (src/security). */
  setSigner(sign: (path: string, expiresSeconds: number) => Promise<string>): void;
}

/** The default provider: the filesystem's unsaved files, with progress from the metered store. */
export function dirtyFileStatus(fs: MountedFilesystem, progress: UploadProgress): UploadStatusProvider {
  return {
    uploads: (): UploadState[] => fs.unsavedFiles().map((file) => {
      const sent = progress.sentBytes(file.key);
      const state = sent !== undefined ? "uploading" : file.lastError !== undefined ? "failed" : "pending";
      const error = state === "failed" && file.lastError instanceof Error ? file.lastError.message : undefined;
      return { path: file.path, state, sizeBytes: file.size, sentBytes: sent, error, stagingFile: file.staging.path };
    }),
  };
}

export function createMountService(identity: ServiceIdentity, store: ObjectStore, log: Logger): MountService {
  const metrics = new BucketfsMetrics();
  metrics.mountInfo.set({ source: identity.source, mountpoint: identity.mountpoint }, 1);
  const metered = new MeteredStore(store, metrics);
  const throughput = new ThroughputMeter();
  const socketPath = controlSocketPath(identity.mountpoint);
  const startedAt = new Date();
  let uploads: UploadStatusProvider = { uploads: () => [] };
  let signer: ((path: string, expiresSeconds: number) => Promise<string>) | undefined;
  let control: Server | undefined;
  let metricsServer: { close(): void } | undefined;
  let metricsAddress: string | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let untoggle: (() => void) | undefined;

  const status = async (): Promise<MountStatus> => {
    const totals = await metrics.totals();
    const list = uploads.uploads();
    const lookups = totals.cacheHits + totals.cacheMisses;
    return {
      source: identity.source, mountpoint: identity.mountpoint, pid: process.pid, startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000), readOnly: identity.config.readOnly,
      logFile: identity.config.logFile, logLevel: log.level, metricsAddress,
      bytesIn: totals.bytesIn, bytesOut: totals.bytesOut, requests: totals.requests, requestErrors: totals.errors,
      throughput: throughput.current(),
      cache: totals.cacheCapacityBytes > 0 || lookups > 0
        ? { sizeBytes: totals.cacheSizeBytes, capacityBytes: totals.cacheCapacityBytes, hits: totals.cacheHits, misses: totals.cacheMisses, hitRatio: lookups > 0 ? totals.cacheHits / lookups : 0 }
        : undefined,
      dirtyBytes: list.reduce((sum, u) => sum + u.sizeBytes, 0),
      uploads: list,
    };
  };

  const handle: ControlHandler = async (request) => {
    switch (request.op) {
      case "ping": return { ok: true };
      case "status": return { ok: true, status: await status() };
      case "set-log-level": log.level = request.level; return { ok: true, logLevel: log.level };
      case "sign":
        if (!signer) return { ok: false, error: `${identity.source} cannot be signed (only s3:// mounts with credentials, and az:// mounts with an account key or Entra ID, can sign)` };
        return signer(request.path, request.expiresSeconds).then((url) => ({ ok: true as const, url }), (err: unknown) => ({ ok: false as const, error: (err as Error).message }));
      default: return { ok: false, error: `unknown request ${JSON.stringify(request)}` };
    }
  };

  return {
    metrics,
    store: metered,
    setUploadStatus: (provider) => (uploads = provider),
    setSigner: (sign) => (signer = sign),
    async start(fs) {
      uploads = dirtyFileStatus(fs, metered.uploads);
      metrics.watchUploads(uploadGauges({ uploads: () => uploads.uploads() }));
      if (identity.config.metricsAddr) {
        const started = await startMetricsServer(identity.config.metricsAddr, metrics.registry);
        metricsServer = started.server;
        metricsAddress = started.address;
        log.info({ address: `http://${started.address}/metrics` }, "serving metrics");
      }
      // Without its control socket a mount still works; only `bucketfs status` cannot see into it.
      control = await startControlServer(socketPath, handle).catch((err: unknown) => {
        log.warn({ err, socketPath }, "control socket unavailable: bucketfs status will report this mount as unresponsive");
        return undefined;
      });
      sampler = setInterval(() => void metrics.totals().then((t) => throughput.sample(t.bytesIn, t.bytesOut)), THROUGHPUT_INTERVAL_MS);
      sampler.unref();
      untoggle = toggleDebugOnSignal(log);
    },
    ready() {
      if (identity.config.pidFile) writeFileSync(identity.config.pidFile, `${process.pid}\n`);
    },
    stop() {
      if (sampler) clearInterval(sampler);
      untoggle?.();
      if (control) stopControlServer(control, socketPath);
      metricsServer?.close();
      if (identity.config.pidFile) rmSync(identity.config.pidFile, { force: true });
    },
  };
}
