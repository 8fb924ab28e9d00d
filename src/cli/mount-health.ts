/**
 * Which bucketfs mounts exist on this machine and whether each is healthy: the union of our
 * records (runtime dir) and the kernel's table (type fuse.bucketfs), each checked without ever
 * touching the mountpoint itself, since a stat on a hung or dead FUSE mount can block or fail.
 */
import { readFileSync } from "node:fs";
import type { MountStatus } from "../metrics/status.js";
import { controlRequest, controlSocketPath, ControlUnavailableError } from "../mount/control.js";
import { processAlive } from "../os/process-alive.js";
import { allMountRecords, kernelMounts, readMountRecord, type MountRecord } from "./mount-table.js";

export type MountHealth =
  | "healthy" // daemon alive, mounted, answering on its control socket
  | "unresponsive" // daemon alive and mounted, but its control socket does not answer
  | "dead" // the daemon is gone; the mountpoint (if still mounted) fails with ENOTCONN
  | "transitioning" // daemon alive but not (yet / any more) in the kernel table
  | "foreign"; // mounted as fuse.bucketfs, but with no record here (another user, or another runtime dir)

export interface MountEntry {
  mountpoint: string;
  source: string;
  pid?: number;
  mounted: boolean;
  health: MountHealth;
  /** Present when healthy. */
  status?: MountStatus;
  /** What is wrong and what to do, when not healthy. */
  advice?: string;
}

export const BUCKETFS_FSTYPE = "fuse.bucketfs";

/** True when `pid` is a running bucketfs daemon (not just any process that reused the pid). */
export function daemonAlive(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    // Daemons are titled `bucketfs SOURCE MOUNTPOINT` (background.ts), foreground ones run `bucketfs.js mount … -f`.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("bucketfs");
  } catch {
    return false;
  }
}

export async function checkMount(
  record: MountRecord,
  kernel: Map<string, string>,
  timeoutMs = 3_000,
): Promise<MountEntry> {
  const base = {
    mountpoint: record.mountpoint,
    source: record.source,
    pid: record.pid,
    mounted: kernel.has(record.mountpoint),
  };
  if (!daemonAlive(record.pid)) {
    const advice = base.mounted
      ? `the daemon (pid ${record.pid}) died; the mountpoint is stale: run bucketfs unmount ${record.mountpoint}`
      : `the daemon (pid ${record.pid}) died; nothing is mounted any more: run bucketfs unmount ${record.mountpoint} to clear the record`;
    return { ...base, health: "dead", advice };
  }
  if (!base.mounted) return { ...base, health: "transitioning", advice: "the daemon is starting or stopping" };
  try {
    const response = await controlRequest(controlSocketPath(record.mountpoint), { op: "status" }, timeoutMs);
    if (response.ok && response.status) return { ...base, health: "healthy", status: response.status };
    return { ...base, health: "unresponsive", advice: response.ok ? "no status in the answer" : response.error };
  } catch (err) {
    if (!(err instanceof ControlUnavailableError)) throw err;
    return {
      ...base,
      health: "unresponsive",
      advice: `${err.message}; see the daemon's log${record.logFile ? ` (${record.logFile})` : ""}`,
    };
  }
}

/** Every bucketfs mount known here or to the kernel, each with its health. */
export async function inventory(): Promise<MountEntry[]> {
  const kernel = kernelMounts();
  const records = allMountRecords();
  const entries = await Promise.all(records.map((record) => checkMount(record, kernel)));
  const recorded = new Set(records.map((r) => r.mountpoint));
  for (const [mountpoint, type] of kernel) {
    if (type !== BUCKETFS_FSTYPE || recorded.has(mountpoint)) continue;
    entries.push({
      mountpoint,
      source: kernelSource(mountpoint),
      mounted: true,
      health: "foreign",
      advice: "no daemon record in this runtime dir (mounted by another user, or its record was removed)",
    });
  }
  return entries.sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

/** The health of the mount at `mountpoint`, or undefined when bucketfs knows nothing of it. */
export async function mountAt(mountpoint: string): Promise<MountEntry | undefined> {
  const record = readMountRecord(mountpoint);
  if (record) return checkMount(record, kernelMounts());
  return (await inventory()).find((e) => e.mountpoint === mountpoint);
}

function kernelSource(mountpoint: string): string {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (right && left.split(" ")[4] === mountpoint) return right.split(" ")[1] ?? "?";
  }
  return "?";
}
