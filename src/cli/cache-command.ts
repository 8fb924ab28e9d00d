/**
 * `bucketfs cache stats|clear|verify`: the on-disk read cache from outside the daemon.
 *
 * `stats` only reads the SQLite index (read-only; safe while a mount owns the cache) and, if a
 * live mount owns it, asks that mount over its control socket for the hit ratio since mount.
 * `clear` and `verify` change the cache, so they take its lock: while a mount owns the cache
 * they refuse with a clear message instead of pulling files from under it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CacheIndex } from "../cache/cache-index.js";
import { CacheBusyError, ChunkCache, lockHolder } from "../cache/chunk-cache.js";
import { resolveOptions } from "../config/load.js";
import { formatSize } from "../config/units.js";
import { controlRequest, controlSocketPath } from "../mount/control.js";
import { defaultCacheDir, readCacheDir } from "../mount/dirs.js";
import { allMountRecords } from "./mount-table.js";
import { UsageError } from "./preflight.js";

/** Flags as commander hands them over (main.ts declares them from the one option table). */
interface CacheOptions extends Record<string, unknown> {
  json?: boolean;
}

function cacheDirOf(opts: CacheOptions): string {
  return readCacheDir(resolveOptions(["cacheDir"], opts).cacheDir ?? defaultCacheDir());
}

export async function stats(opts: CacheOptions): Promise<void> {
  const dir = cacheDirOf(opts);
  const dbPath = join(dir, "index.sqlite");
  const summary = existsSync(dbPath) ? readSummary(dbPath) : { chunks: 0, bytes: 0, objects: 0 };
  const owner = lockHolder(dir);
  const live = owner !== undefined ? await liveCounters(owner) : undefined;
  if (opts.json) {
    console.log(JSON.stringify({ dir, ...summary, ownerPid: owner, ...live }, null, 2));
    return;
  }
  console.log(`cache dir  ${dir}`);
  console.log(
    `size       ${formatSize(summary.bytes)}${live?.capacityBytes ? ` of ${formatSize(live.capacityBytes)}` : ""}`,
  );
  console.log(`chunks     ${summary.chunks} (of ${summary.objects} object versions)`);
  if (owner === undefined) console.log("in use     no (hit ratio is reported while mounted)");
  else if (!live) console.log(`in use     by pid ${owner} (its control socket did not answer)`);
  else {
    const lookups = live.hits + live.misses;
    console.log(`in use     by ${live.mountpoint} (pid ${owner}); index may lag by up to 1 s`);
    console.log(
      `hit ratio  ${lookups > 0 ? `${((100 * live.hits) / lookups).toFixed(1)} %` : "-"} (${live.hits} hits, ${live.misses} misses since mount)`,
    );
  }
}

function readSummary(dbPath: string): { chunks: number; bytes: number; objects: number } {
  const index = new CacheIndex(dbPath, true);
  try {
    return index.summary();
  } finally {
    index.close();
  }
}

async function liveCounters(
  pid: number,
): Promise<{ mountpoint: string; hits: number; misses: number; capacityBytes: number } | undefined> {
  const record = allMountRecords().find((r) => r.pid === pid);
  if (!record) return undefined;
  try {
    const response = await controlRequest(controlSocketPath(record.mountpoint), { op: "status" }, 2_000);
    const cache = response.ok ? response.status?.cache : undefined;
    return cache
      ? { mountpoint: record.mountpoint, hits: cache.hits, misses: cache.misses, capacityBytes: cache.capacityBytes }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Opens the cache for a change, or explains which mount owns it. */
function openForChange(opts: CacheOptions): ChunkCache {
  const dir = cacheDirOf(opts);
  try {
    // The cap does not matter for clear/verify; a huge one means nothing is trimmed on open.
    return ChunkCache.open(dir, { capacityBytes: Number.MAX_SAFE_INTEGER, warn: () => undefined });
  } catch (err) {
    if (err instanceof CacheBusyError) {
      const record = allMountRecords().find((r) => r.pid === err.pid);
      throw new UsageError(
        `the cache in ${dir} is in use by ${record ? `the mount on ${record.mountpoint}` : "process"} (pid ${err.pid}); unmount it first`,
      );
    }
    throw err;
  }
}

export async function clear(opts: CacheOptions): Promise<void> {
  const cache = openForChange(opts);
  try {
    const before = cache.stats();
    await cache.clear();
    console.log(`bucketfs: removed ${before.chunks} chunks (${formatSize(before.usedBytes)}) from ${cache.dir}`);
  } finally {
    cache.close();
  }
}

export async function verify(opts: CacheOptions): Promise<void> {
  const cache = openForChange(opts);
  try {
    const result = await cache.verifyAll();
    for (const bad of result.bad) console.log(`bad chunk dropped: ${bad}`);
    console.log(
      `bucketfs: verified ${result.checked} chunks: ${result.checked - result.bad.length} good, ${result.bad.length} bad (dropped)`,
    );
  } finally {
    cache.close();
  }
}
