/**
 * Whether a process is still running, for lock files (cache and staging locks) and for
 * `bucketfs unmount`, which waits for its daemon to exit.
 */
import { readFileSync } from "node:fs";

/**
 * kill(pid, 0) says the pid exists (EPERM: it exists, but belongs to another user). A zombie
 * answers too, but has exited: a daemon's parent is init (or a container's PID 1), which may reap
 * it late or never, and a lock it held is free.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  return !exitedUnreaped(pid);
}

function exitedUnreaped(pid: number): boolean {
  try {
    // The state follows the command name, which is in parentheses and may itself hold ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return false; // no procfs: trust kill()
  }
}
