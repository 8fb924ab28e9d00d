/**
 * The service side of a mount, built by the Mount next to its filesystem: the control socket
 * answering `bucketfs status` and `bucketfs sign`, the Prometheus endpoint, throughput sampling,
 * the pid file for systemd, and SIGUSR2 log toggling. It reads what the Mount hands it at
 * construction (metrics, upload status, signer); nothing is patched in after start.
 */
import { rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:net";
import type { MountConfig } from "../config/schema.js";
import { toggleDebugOnSignal, type Logger } from "../log/logger.js";
import type { BucketfsMetrics } from "../metrics/registry.js";
import { startMetricsServer } from "../metrics/server.js";
import { ThroughputMeter, uploadGauges, type MountStatus, type UploadStatusProvider } from "../metrics/status.js";
import { controlSocketPath, startControlServer, stopControlServer, type ControlHandler } from "./control.js";

/** How often throughput is sampled; status shows the rate over the last interval. */
const THROUGHPUT_INTERVAL_MS = 2_000;

/** What the service reads from its Mount. */
export interface ServiceView {
  source: string;
  mountpoint: string;
  config: MountConfig;
  metrics: BucketfsMetrics;
  /** Pending and failed uploads (the upload journal; none on a read-only namespace). */
  uploads: UploadStatusProvider;
  /** A presigned URL for a path (`bucketfs sign`); rejects when the mount cannot sign. */
  sign(path: string, expiresSeconds: number): Promise<string>;
}

export interface MountService {
  /** Starts the endpoints. Throws (e.g. port in use) before readiness. */
  start(): Promise<void>;
  /** Writes the pid file: call once the mount is ready. */
  ready(): void;
  stop(): void;
}

/** The endpoints while the service runs. */
interface Running {
  control?: Server;
  metricsServer?: { close(): void };
  metricsAddress?: string;
  sampler: NodeJS.Timeout;
  untoggle: () => void;
}

export function createMountService(view: ServiceView, log: Logger): MountService {
  const { metrics, config } = view;
  const throughput = new ThroughputMeter();
  const socketPath = controlSocketPath(view.mountpoint);
  const startedAt = new Date();
  let running: Running | undefined;

  const status = async (): Promise<MountStatus> => {
    const totals = await metrics.totals();
    const list = view.uploads.uploads();
    const lookups = totals.cacheHits + totals.cacheMisses;
    return {
      source: view.source,
      mountpoint: view.mountpoint,
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      readOnly: config.readOnly,
      logFile: config.logFile,
      logLevel: log.level,
      metricsAddress: running?.metricsAddress,
      bytesIn: totals.bytesIn,
      bytesOut: totals.bytesOut,
      requests: totals.requests,
      requestErrors: totals.errors,
      throughput: throughput.current(),
      cache:
        totals.cacheCapacityBytes > 0 || lookups > 0
          ? {
              sizeBytes: totals.cacheSizeBytes,
              capacityBytes: totals.cacheCapacityBytes,
              hits: totals.cacheHits,
              misses: totals.cacheMisses,
              hitRatio: lookups > 0 ? totals.cacheHits / lookups : 0,
            }
          : undefined,
      dirtyBytes: list.reduce((sum, u) => sum + u.sizeBytes, 0),
      uploads: list,
    };
  };

  const handle: ControlHandler = async (request) => {
    switch (request.op) {
      case "ping":
        return { ok: true };
      case "status":
        return { ok: true, status: await status() };
      case "set-log-level":
        log.level = request.level;
        return { ok: true, logLevel: log.level };
      case "sign":
        return view.sign(request.path, request.expiresSeconds).then(
          (url) => ({ ok: true as const, url }),
          (err: unknown) => ({ ok: false as const, error: (err as Error).message }),
        );
      default:
        return { ok: false, error: `unknown request ${JSON.stringify(request)}` };
    }
  };

  return {
    async start() {
      metrics.watchUploads(uploadGauges(view.uploads));
      let metricsServer: Running["metricsServer"];
      let metricsAddress: string | undefined;
      if (config.metricsAddr) {
        const started = await startMetricsServer(config.metricsAddr, metrics.registry);
        metricsServer = started.server;
        metricsAddress = started.address;
        log.info({ address: `http://${started.address}/metrics` }, "serving metrics");
      }
      // Without its control socket a mount still works; only `bucketfs status` cannot see into it.
      const control = await startControlServer(socketPath, handle).catch((err: unknown) => {
        log.warn(
          { err, socketPath },
          "control socket unavailable: bucketfs status will report this mount as unresponsive",
        );
        return undefined;
      });
      const sampler = setInterval(
        () => void metrics.totals().then((t) => throughput.sample(t.bytesIn, t.bytesOut)),
        THROUGHPUT_INTERVAL_MS,
      );
      sampler.unref();
      running = { control, metricsServer, metricsAddress, sampler, untoggle: toggleDebugOnSignal(log) };
    },
    ready() {
      if (config.pidFile) writeFileSync(config.pidFile, `${process.pid}\n`);
    },
    stop() {
      if (running) {
        clearInterval(running.sampler);
        running.untoggle();
        if (running.control) stopControlServer(running.control, socketPath);
        running.metricsServer?.close();
        running = undefined;
      }
      if (config.pidFile) rmSync(config.pidFile, { force: true });
    },
  };
}
