/**
 * The IDC side of the CLI: `bucketfs idc collections | index update |
 * index info | info <path>`, and `bucketfs prefetch <path>`, which warms the read cache of a
 * mounted series/study/collection through the mount itself, with a progress bar and a
 * disk-space check first.
 */
import { createReadStream, readdirSync, realpathSync, statSync, statfsSync } from "node:fs";
import { join, relative } from "node:path";
import type { MountConfig } from "../config/schema.js";
import {
  IdcIndexDb,
  IdcTree,
  SeriesListings,
  attributesOf,
  downloadIndex,
  listingsPath,
  listOption,
  loadedVersions,
  resolveIndex,
  type ResolvedIndex,
} from "../idc/index.js";
import { defaultCacheDir } from "../mount/dirs.js";
import { allMountRecords } from "./mount-table.js";
import { UsageError } from "./preflight.js";
import { formatSize } from "../config/units.js";
import { createIdcStore } from "../mount/stores.js";

/** The options `bucketfs idc …` takes from the one table (main.ts declares the flags). */
const IDC_KEYS = [
  "idcIndex",
  "idcVersion",
  "idcIndexUrl",
  "cacheDir",
  "collections",
  "modality",
  "endpoint",
  "idcSource",
] as const;
type IdcFlags = Pick<MountConfig, (typeof IDC_KEYS)[number]>;

/**
 * The option checks (zod) and the progress bar are loaded by the commands that use them (this
 * file stays light for main.ts).
 */
async function idcFlags(flags: Record<string, unknown>): Promise<IdcFlags> {
  const { resolveOptions } = await import("../config/load.js");
  return resolveOptions(IDC_KEYS, flags);
}

async function indexFor(flags: IdcFlags): Promise<{ resolved: ResolvedIndex; db: IdcIndexDb }> {
  const resolved = await resolveIndex({
    cacheDir: flags.cacheDir ?? defaultCacheDir(),
    indexFile: flags.idcIndex,
    version: flags.idcVersion,
    baseUrl: flags.idcIndexUrl,
    onProgress: (message) => console.error(`bucketfs: ${message}`),
  });
  const db = new IdcIndexDb(resolved.dbPath, {
    collections: listOption(flags.collections),
    modalities: listOption(flags.modality),
  });
  return { resolved, db };
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows)
    console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
}

export async function collections(given: Record<string, unknown>): Promise<void> {
  const flags = await idcFlags(given);
  const { db } = await indexFor(flags);
  const rows = db
    .collections()
    .map((c) => [c.collection_id, String(c.patients), String(c.series), formatSize(c.size_mb * 1e6)]);
  printTable([["COLLECTION", "PATIENTS", "SERIES", "SIZE"], ...rows]);
  db.close();
}

export async function indexUpdate(given: Record<string, unknown>): Promise<void> {
  const flags = await idcFlags(given);
  const resolved = await downloadIndex({
    cacheDir: flags.cacheDir ?? defaultCacheDir(),
    version: flags.idcVersion,
    baseUrl: flags.idcIndexUrl,
    onProgress: (message) => console.error(`bucketfs: ${message}`),
  });
  console.log(`bucketfs: IDC index ${resolved.version} ready (${resolved.dbPath})`);
}

export async function indexInfo(given: Record<string, unknown>): Promise<void> {
  const flags = await idcFlags(given);
  const { resolved, db } = await indexFor(flags);
  const meta = db.meta();
  console.log(`version:     ${resolved.version}\nrows:        ${meta.rows}\nloaded at:   ${meta.loaded_at}`);
  console.log(
    `source:      ${meta.source_url ?? meta.source_file ?? resolved.parquetPath}${meta.source_sha256 ? ` (sha256 ${meta.source_sha256})` : ""}`,
  );
  console.log(`sqlite:      ${resolved.dbPath} (${formatSize(statSync(resolved.dbPath).size)})`);
  db.close();
  const others = loadedVersions(flags.cacheDir ?? defaultCacheDir());
  if (others.length > 0)
    console.log(`on disk:     ${others.map((v) => v.version + (v.current ? " (current)" : "")).join(", ")}`);
}

/** `path` inside a mount → its tree path; or a tree path as written (`collection/patient/...`). */
function treePath(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path;
  }
  const mount = allMountRecords()
    .filter((r) => real === r.mountpoint || real.startsWith(`${r.mountpoint}/`))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0];
  if (!mount)
    throw new UsageError(`${path} is not inside a bucketfs mount (give a mounted path, or collection/patient/... )`);
  return relative(mount.mountpoint, real);
}

export async function info(path: string, given: Record<string, unknown>): Promise<void> {
  const flags = await idcFlags(given);
  const { resolved, db } = await indexFor(flags);
  const cacheDir = flags.cacheDir ?? defaultCacheDir();
  const store = createIdcStore(flags);
  const listings = new SeriesListings(listingsPath(cacheDir), store);
  try {
    const node = await new IdcTree(db, listings).resolve(`/${treePath(path)}`);
    const attributes = attributesOf(node, db, resolved.version);
    const width = Math.max(...Object.keys(attributes).map((k) => k.length)) + 2;
    for (const [name, value] of Object.entries(attributes)) console.log(`${`${name}:`.padEnd(width)}${value}`);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT")
      throw new UsageError(`${path}: not in IDC index ${resolved.version}`);
    throw err;
  } finally {
    listings.close();
    db.close();
  }
}

/** Every regular file under a directory of a mount (or the file itself), with sizes. */
function filesUnder(path: string): { path: string; size: number }[] {
  const stat = statSync(path);
  if (!stat.isDirectory()) return [{ path, size: stat.size }];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => filesUnder(join(path, e.name)));
}

export async function prefetch(path: string, flags: { concurrency?: string } & Record<string, unknown>): Promise<void> {
  const files = filesUnder(path);
  const total = files.reduce((s, f) => s + f.size, 0);
  const [{ resolveOptions }, { default: cliProgress }] = await Promise.all([
    import("../config/load.js"),
    import("cli-progress"),
  ]);
  const cacheDir = resolveOptions(["cacheDir"], flags).cacheDir ?? defaultCacheDir();
  const fsStat = statfsSync(existsDir(cacheDir));
  const free = fsStat.bavail * fsStat.bsize;
  if (total > free) {
    throw new UsageError(
      `${path} is ${formatSize(total)} but only ${formatSize(free)} is free for the cache at ${cacheDir}: free space or choose a smaller directory`,
    );
  }
  console.error(`bucketfs: prefetching ${files.length} files, ${formatSize(total)}`);
  const bar = new cliProgress.SingleBar(
    {
      format: "{bar} {percentage}% | {done} / {size} | {rate}/s | ETA {eta_formatted}",
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  bar.start(total, 0, { done: formatSize(0), size: formatSize(total), rate: formatSize(0) });
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      for await (const chunk of createReadStream(file.path, { highWaterMark: 1024 * 1024 })) {
        done += (chunk as Buffer).length;
        const rate = done / Math.max((Date.now() - started) / 1000, 0.001);
        bar.update(done, { done: formatSize(done), size: formatSize(total), rate: formatSize(rate) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(flags.concurrency) || 4) }, worker));
  bar.stop();
  console.error(`bucketfs: prefetched ${formatSize(done)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function existsDir(dir: string): string {
  // The cache directory may not exist yet: measure the nearest existing ancestor.
  for (let d = dir; ; d = join(d, "..")) {
    try {
      if (statSync(d).isDirectory()) return d;
    } catch {
      if (d === "/") return "/";
    }
  }
}
