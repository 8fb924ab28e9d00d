/**
 * What `bucketfs status` reports about one mount, and the small provider interface through which
 * the write path exposes unsaved files. Today the provider reads the filesystem's dirty files;
 * a crash-safe upload journal can implement UploadStatusProvider and replace it unchanged.
 */
import type { UploadGauges } from "./registry.js";

export type UploadStateName = "pending" | "uploading" | "failed";

export interface UploadState {
  path: string;
  state: UploadStateName;
  sizeBytes: number;
  /** Bytes already sent in the current upload, when one is in flight. */
  sentBytes?: number;
  /** Why the last upload failed (state "failed"). */
  error?: string;
  /** Where the data is kept locally until it is uploaded. */
  stagingFile?: string;
}

export interface UploadStatusProvider {
  uploads(): UploadState[];
}

export interface ThroughputSample {
  inBytesPerSecond: number;
  outBytesPerSecond: number;
}

export interface MountStatus {
  source: string;
  mountpoint: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  readOnly: boolean;
  logFile?: string;
  logLevel: string;
  metricsAddress?: string;
  bytesIn: number;
  bytesOut: number;
  requests: number;
  requestErrors: number;
  throughput: ThroughputSample;
  /** Absent when the mount has no chunk cache. */
  cache?: { sizeBytes: number; capacityBytes: number; hits: number; misses: number; hitRatio: number };
  dirtyBytes: number;
  uploads: UploadState[];
}

/** Gauges for Prometheus derived from a provider. */
export function uploadGauges(provider: UploadStatusProvider): UploadGauges {
  return {
    dirtyBytes: () => provider.uploads().reduce((sum, u) => sum + u.sizeBytes, 0),
    pendingUploads: () => provider.uploads().filter((u) => u.state !== "failed").length,
    failedUploads: () => provider.uploads().filter((u) => u.state === "failed").length,
  };
}

/** Rolling throughput: the rate between the last two samples of the byte totals. */
export class ThroughputMeter {
  private previous = { at: performance.now(), bytesIn: 0, bytesOut: 0 };
  private rate: ThroughputSample = { inBytesPerSecond: 0, outBytesPerSecond: 0 };

  sample(bytesIn: number, bytesOut: number): void {
    const now = performance.now();
    const seconds = Math.max((now - this.previous.at) / 1000, 0.001);
    this.rate = {
      inBytesPerSecond: Math.max(0, (bytesIn - this.previous.bytesIn) / seconds),
      outBytesPerSecond: Math.max(0, (bytesOut - this.previous.bytesOut) / seconds),
    };
    this.previous = { at: now, bytesIn, bytesOut };
  }

  current(): ThroughputSample {
    return this.rate;
  }
}
