/**
 * The lock of a directory one daemon owns: `<dir>/lock` holds the pid of that process. Two mounts
 * never share one read cache's accounting, nor one staging area and upload journal (a second
 * daemon's recovery would adopt and delete the first one's staged files). A lock left by a
 * process that is gone is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "../os/process-alive.js";

/** Another live process holds the cache directory. */
export class CacheBusyError extends Error {
  override readonly name = "CacheBusyError";
  constructor(
    readonly dir: string,
    readonly pid: number,
    what = "cache directory",
  ) {
    super(`${what} ${dir} is in use by process ${pid}`);
  }
}

/** `what` names the directory in the error (e.g. "staging directory"). */
export function takeLock(dir: string, what?: string): void {
  const lock = join(dir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx", 0o600);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number.parseInt(readFileSync(lock, "utf8"), 10);
      if (Number.isInteger(pid) && processAlive(pid)) throw new CacheBusyError(dir, pid, what);
      rmSync(lock, { force: true }); // left by a process that is gone
    }
  }
  throw new CacheBusyError(dir, -1, what);
}

/** Removes the lock if this process holds it. */
export function releaseLock(dir: string): void {
  const lock = join(dir, "lock");
  try {
    if (Number.parseInt(readFileSync(lock, "utf8"), 10) === process.pid) rmSync(lock, { force: true });
  } catch {
    // no lock
  }
}

export function lockHolder(dir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, "lock"), "utf8"), 10);
    return Number.isInteger(pid) && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
