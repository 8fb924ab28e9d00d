/**
 * Opening a cache directory: its layout (0700, `chunks/`, an emptied `tmp/`), its lock, and the
 * rows it holds, read from the SQLite index or, when the database is missing or unreadable,
 * rebuilt from the chunk files' own headers. Apart from ChunkCache because none of it runs again
 * once the cache is open.
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CacheIndex, type IndexRow } from "./cache-index.js";
import { takeLock } from "./cache-lock.js";
import { scanChunkFiles } from "./chunk-files.js";

export interface OpenedDir {
  index: CacheIndex;
  /** The chunks on disk, least recently used first. */
  rows: IndexRow[];
}

/**
 * Prepares `dir` (created with mode 0700), takes its lock and loads the index, or rebuilds it from
 * the chunk files. `decode` turns a chunk file's stored bytes into its plain bytes (the codec).
 */
export function openCacheDir(
  dir: string,
  warn: (message: string, detail: Record<string, unknown>) => void,
  decode: (file: Buffer, chunkName: string) => Buffer,
): OpenedDir {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  takeLock(dir);
  const chunksDir = join(dir, "chunks");
  mkdirSync(chunksDir, { recursive: true, mode: 0o700 });
  rmSync(join(dir, "tmp"), { recursive: true, force: true });
  mkdirSync(join(dir, "tmp"), { mode: 0o700 });
  const dbPath = join(dir, "index.sqlite");
  let index: CacheIndex;
  let rebuild = !existsSync(dbPath);
  try {
    index = new CacheIndex(dbPath);
  } catch (err) {
    warn("cache index unreadable: rebuilding it from the chunk files", { err });
    for (const suffix of ["", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    index = new CacheIndex(dbPath);
    rebuild = true;
  }
  if (!rebuild) return { index, rows: index.all() };
  const rows = scanChunkFiles(chunksDir, (file) => warn("dropped unreadable chunk file", { file }), decode);
  index.replaceAll(rows);
  return { index, rows };
}
