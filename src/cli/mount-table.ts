/**
 * Knowledge of what is mounted: the kernel's mount table (/proc/self/mountinfo) and bucketfs's
 * own records (one JSON file per mount in the runtime dir: pid, source, mountpoint).
 *
 * The runtime dir must be the user's own and 0700 (dirs.ts, checkPrivateDir): records are
 * neither written to nor read from one another user made, since a planted record names the pid
 * that `bucketfs unmount` signals. Such a directory is an error (RuntimeDirError), never skipped.
 */
import { readFileSync, writeFileSync, rmSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { existingRuntimeDir, idOf, privateRuntimeDir, runtimeDir } from "../mount/dirs.js";

export interface MountRecord {
  pid: number;
  source: string;
  mountpoint: string;
  startedAt: string;
  logFile?: string;
}

/** Mount points in the kernel's table, with their filesystem type. */
export function kernelMounts(): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const mountpoint = left.split(" ")[4].replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.set(mountpoint, right.split(" ")[0]);
  }
  return mounts;
}

export function isMountpoint(path: string): boolean {
  return kernelMounts().has(path);
}

function recordPath(mountpoint: string): string {
  return join(runtimeDir(), `${idOf(mountpoint)}.json`);
}

export function writeMountRecord(record: MountRecord): void {
  privateRuntimeDir();
  rmSync(exitReportPath(record.mountpoint), { force: true });
  writeFileSync(recordPath(record.mountpoint), JSON.stringify(record), { mode: 0o600 });
}

export function readMountRecord(mountpoint: string): MountRecord | undefined {
  if (!existingRuntimeDir()) return undefined;
  try {
    return JSON.parse(readFileSync(recordPath(mountpoint), "utf8")) as MountRecord;
  } catch {
    return undefined;
  }
}

export function removeMountRecord(mountpoint: string): void {
  if (!existingRuntimeDir()) return;
  rmSync(recordPath(mountpoint), { force: true });
  // The control socket a killed daemon could not remove (see control.ts).
  rmSync(join(runtimeDir(), `${idOf(mountpoint)}.sock`), { force: true });
}

export function allMountRecords(): MountRecord[] {
  const dir = existingRuntimeDir();
  if (!dir) return [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  // One unreadable or half-written record must not hide the others.
  return files.flatMap((f) => {
    try {
      const record = JSON.parse(readFileSync(join(dir, f), "utf8")) as MountRecord;
      return typeof record.mountpoint === "string" && typeof record.pid === "number" ? [record] : [];
    } catch {
      return [];
    }
  });
}

/**
 * What a daemon leaves behind when it stops with files it could not upload, so that the
 * `bucketfs unmount` that asked it to stop can report them and exit non-zero. (Not `.json`:
 * allMountRecords reads those as mount records.)
 */
export class UploadsFailedError extends Error {
  override readonly name = "UploadsFailedError";
}

export interface ExitReport {
  failed: string[];
  stagingDir?: string;
}

function exitReportPath(mountpoint: string): string {
  return join(runtimeDir(), `${idOf(mountpoint)}.exit`);
}

export function writeExitReport(mountpoint: string, report: ExitReport): void {
  privateRuntimeDir();
  writeFileSync(exitReportPath(mountpoint), JSON.stringify(report), { mode: 0o600 });
}

/** Reads and removes the exit report of the last daemon of `mountpoint`, if it left one. */
export function takeExitReport(mountpoint: string): ExitReport | undefined {
  if (!existingRuntimeDir()) return undefined;
  try {
    const report = JSON.parse(readFileSync(exitReportPath(mountpoint), "utf8")) as ExitReport;
    rmSync(exitReportPath(mountpoint), { force: true });
    return report;
  } catch {
    return undefined;
  }
}
