/**
 * `bucketfs status [mountpoint]` and `bucketfs list`: what each mount is doing (from its
 * control socket) and whether its daemon is alive. Exit status 1 when a mount asked about is
 * not healthy, so scripts and health checks can rely on it.
 */
import cliProgress from "cli-progress";
import { formatSize } from "../config/units.js";
import type { MountStatus, UploadState } from "../metrics/status.js";
import { inventory, mountAt, type MountEntry } from "./mount-health.js";

const BAR_WIDTH = 24;

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400),
    h = Math.floor((seconds % 86400) / 3600),
    m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return m > 0 ? `${m}m ${seconds % 60}s` : `${seconds}s`;
}

function progressBar(fraction: number): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const options = {
    barsize: BAR_WIDTH,
    barCompleteString: "█".repeat(BAR_WIDTH),
    barIncompleteString: "░".repeat(BAR_WIDTH),
    barGlue: "",
  };
  return `${cliProgress.Format.BarFormat(clamped, options)} ${String(Math.round(clamped * 100)).padStart(3)}%`;
}

function uploadLine(upload: UploadState): string {
  if (upload.state === "failed")
    return `    failed     ${upload.path} (${formatSize(upload.sizeBytes)}): ${upload.error ?? "upload failed"}; data kept at ${upload.stagingFile ?? "the staging dir"}`;
  if (upload.state === "uploading") {
    const sent = upload.sentBytes ?? 0;
    return `    uploading  ${progressBar(upload.sizeBytes > 0 ? sent / upload.sizeBytes : 1)} ${formatSize(sent)}/${formatSize(upload.sizeBytes)}  ${upload.path}`;
  }
  return `    pending    ${progressBar(0)} ${formatSize(upload.sizeBytes)}  ${upload.path}`;
}

export function renderStatus(status: MountStatus): string[] {
  const t = status.throughput;
  const lines = [
    `  daemon     pid ${status.pid}, up ${formatDuration(status.uptimeSeconds)}, log level ${status.logLevel}${status.logFile ? `, log ${status.logFile === "-" ? "stderr (journal)" : status.logFile}` : ""}`,
    `  traffic    in ${formatSize(status.bytesIn)} (${formatSize(t.inBytesPerSecond)}/s), out ${formatSize(status.bytesOut)} (${formatSize(t.outBytesPerSecond)}/s), ${status.requests} requests, ${status.requestErrors} errors`,
    status.cache
      ? `  cache      ${formatSize(status.cache.sizeBytes)} of ${formatSize(status.cache.capacityBytes)}, hit ratio ${(status.cache.hitRatio * 100).toFixed(1)}% (${status.cache.hits} hits, ${status.cache.misses} misses)`
      : "  cache      none",
  ];
  if (status.metricsAddress) lines.push(`  metrics    http://${status.metricsAddress}/metrics`);
  const failed = status.uploads.filter((u) => u.state === "failed").length;
  lines.push(
    `  unsaved    ${formatSize(status.dirtyBytes)} in ${status.uploads.length} file(s)${failed > 0 ? `, ${failed} FAILED` : ""}`,
  );
  lines.push(...status.uploads.map(uploadLine));
  return lines;
}

function renderEntry(entry: MountEntry): string[] {
  const head = `${entry.source} on ${entry.mountpoint}: ${entry.health.toUpperCase()}${entry.mounted ? "" : " (not mounted)"}`;
  if (entry.status) return [head, ...renderStatus(entry.status)];
  return [head, `  ${entry.advice ?? ""}${entry.pid ? ` [pid ${entry.pid}]` : ""}`];
}

export async function statusCommand(mountpoint: string | undefined, options: { json?: boolean }): Promise<void> {
  const entries = mountpoint
    ? [await mountAt(mountpoint)].filter((e): e is MountEntry => e !== undefined)
    : await inventory();
  if (options.json) console.log(JSON.stringify(entries, null, 2));
  else if (entries.length === 0)
    console.log(mountpoint ? `bucketfs: ${mountpoint} is not a bucketfs mount` : "bucketfs: no mounts");
  else console.log(entries.flatMap(renderEntry).join("\n"));
  // Asked about one mount: anything but healthy fails. Asked about all: only mounts this user
  // owns that are dead or hung fail (another user's mount is not our problem).
  const broken = mountpoint
    ? entries.length === 0 || entries[0].health !== "healthy"
    : entries.some((e) => e.health === "dead" || e.health === "unresponsive");
  if (broken) process.exitCode = 1;
}

export async function listCommand(options: { json?: boolean }): Promise<void> {
  const entries = await inventory();
  if (options.json) {
    console.log(
      JSON.stringify(
        entries.map(({ status: _status, ...rest }) => rest),
        null,
        2,
      ),
    );
    return;
  }
  for (const entry of entries) {
    const state =
      entry.health === "healthy"
        ? "mounted"
        : `${entry.health.toUpperCase()}${entry.advice ? ` (${entry.advice})` : ""}`;
    console.log(`${entry.source}\t${entry.mountpoint}\t${entry.pid ? `pid ${entry.pid}` : "-"}\t${state}`);
  }
}
