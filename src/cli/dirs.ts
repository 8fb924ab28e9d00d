/** Where bucketfs keeps its files: cache/staging (persistent) and runtime state (pid records). */
import { createHash } from "node:crypto";
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

/** The chunk cache of reads (shared by mounts of every bucket; one live mount owns it at a time). */
export function readCacheDir(cacheDir: string): string {
  return join(cacheDir, "read-cache");
}
