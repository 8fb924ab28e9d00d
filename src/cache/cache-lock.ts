/**
 * The lock of a cache directory: `<dir>/lock` holds the pid of the one process that owns it, so
 * two mounts never share one cache's accounting. A lock left by a process that is gone is taken
 * over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Another live process holds the cache directory. */
export class CacheBusyError extends Error {
  override readonly name = "CacheBusyError";
  constructor(readonly dir: string, readonly pid: number) {
    super(`cache directory ${dir} is in use by process ${pid}`);
  }
}

export function takeLock(dir: string): void {
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
      if (Number.isInteger(pid) && pidAlive(pid)) throw new CacheBusyError(dir, pid);
      rmSync(lock, { force: true }); // left by a process that is gone
    }
  }
  throw new CacheBusyError(dir, -1);
}

export function lockHolder(dir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, "lock"), "utf8"), 10);
    return Number.isInteger(pid) && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
