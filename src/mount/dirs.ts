/** Where bucketfs keeps its files: cache/staging (persistent) and runtime state (pid records). */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "bucketfs");
}

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BUCKETFS_RUNTIME_DIR) return env.BUCKETFS_RUNTIME_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "bucketfs");
  return process.getuid?.() === 0 ? "/run/bucketfs" : join("/tmp", `bucketfs-${process.getuid?.() ?? "user"}`);
}

/** The runtime directory exists but is not safe to use: another user could read or replace what is in it. */
export class RuntimeDirError extends Error {
  override readonly name = "RuntimeDirError";
}

const CHOOSE_ANOTHER = "set XDG_RUNTIME_DIR or BUCKETFS_RUNTIME_DIR to a private directory";

/**
 * Checks that `dir` is a real directory (not a symbolic link), owned by this user and mode 0700,
 * as ssh-agent and tmux do: in /tmp (no XDG_RUNTIME_DIR) another user may create
 * `/tmp/bucketfs-<uid>` first and then read mount records, plant ones that make `bucketfs unmount`
 * signal a pid of their choice, or answer on a control socket. Returns false when `dir` is absent.
 */
export function checkPrivateDir(dir: string): boolean {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  const uid = process.getuid?.();
  if (!st.isDirectory())
    throw new RuntimeDirError(
      `runtime directory ${dir} is not a directory (a symbolic link?): remove it, or ${CHOOSE_ANOTHER}, then try again`,
    );
  if (uid !== undefined && st.uid !== uid) {
    throw new RuntimeDirError(
      `runtime directory ${dir} is owned by uid ${st.uid}, not by you (uid ${uid}): someone else may have created it to intercept bucketfs's ` +
        `control sockets and mount records. Remove it (as its owner or root), or ${CHOOSE_ANOTHER}, then try again`,
    );
  }
  const mode = st.mode & 0o777;
  if (mode !== 0o700) {
    const octal = mode.toString(8).padStart(4, "0");
    throw new RuntimeDirError(
      `runtime directory ${dir} has mode ${octal}, but must be 0700 (private to you): if it is yours, run chmod 700 ${dir}; otherwise remove it; then try again`,
    );
  }
  return true;
}

/** The runtime directory, created 0700 if missing; throws RuntimeDirError when it is not private. */
export function privateRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = runtimeDir(env);
  ensurePrivateDir(dir);
  return dir;
}

/** Creates `dir` (and missing parents) 0700 if it does not exist, then checks it (checkPrivateDir). */
export function ensurePrivateDir(dir: string): void {
  if (!checkPrivateDir(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    checkPrivateDir(dir);
  }
}

/** The runtime directory if it exists and is private, undefined if it does not exist; throws RuntimeDirError otherwise. */
export function existingRuntimeDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = runtimeDir(env);
  return checkPrivateDir(dir) ? dir : undefined;
}

/** A stable, filesystem-safe id for a string (a source URL or a mountpoint). */
export function idOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function stagingDirFor(cacheDir: string, sourceUrl: string): string {
  return join(cacheDir, "staging", idOf(sourceUrl));
}

/** The upload journal of a mount source (SQLite): staged files whose upload has not succeeded yet. */
export function uploadJournalPathFor(cacheDir: string, sourceUrl: string): string {
  return join(cacheDir, "journal", `${idOf(sourceUrl)}.sqlite`);
}

/** Attributes read per object version (src/vfs/known-attributes.ts), one table per mounted source. */
export function attributesPathFor(cacheDir: string, sourceUrl: string): string {
  return join(cacheDir, "attributes", `${idOf(sourceUrl)}.sqlite`);
}

/** The chunk cache of reads (shared by mounts of every bucket; one live mount owns it at a time). */
export function readCacheDir(cacheDir: string): string {
  return join(cacheDir, "read-cache");
}
