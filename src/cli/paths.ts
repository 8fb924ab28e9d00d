/** Resolving a user's path to a mountpoint without touching a mount that may hang. */
import { realpathSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { isMountpoint } from "./mount-table.js";

export function realpathOr(path: string): string {
  // A mountpoint is taken as given: resolving it would stat it, which blocks if its daemon hangs.
  if (isMountpoint(resolvePath(path))) return resolvePath(path);
  try {
    return realpathSync(path);
  } catch {
    // A dead FUSE mountpoint cannot be resolved (ENOTCONN): use the absolute path as given.
    return resolvePath(path);
  }
}
