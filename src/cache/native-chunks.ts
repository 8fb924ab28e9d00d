/**
 * What the native addon is told about chunk files: where the cached chunks of a version are and
 * what their CRCs must be (the native read path serves FUSE READs from them without JavaScript),
 * and the reservation a native fill writes into. Apart from ChunkCache because these records are
 * the contract with native code (src/fuse/native-binding.ts, src/read/native-fill.ts), and the
 * lookup only reads the cache's live state.
 */
import { join } from "node:path";
import type { ChunkLru } from "./chunk-lru.js";
import type { IndexRow } from "./cache-index.js";
import { encodeHeader, type ChunkIdentity } from "./chunk-format.js";
import { chunkId } from "./chunk-files.js";

/** Where the cached chunks of one object version are, for reads served outside JavaScript. */
export interface CachedChunks {
  /** Path prefix of the chunk files; chunk `i` is `${base}${i}`. */
  base: string;
  /** Bytes before the data in each chunk file (the same for every chunk of a version). */
  headerLength: number;
  chunkSize: number;
  size: number;
  indexes: Uint32Array;
  /** CRC32 of each chunk's data, from the index. */
  crcs: Uint32Array;
  /** 1 where this process has already checked the file against its CRC. */
  verified: Uint8Array;
}

/** Space and names reserved for a chunk that another writer (the native filler) writes itself. */
export interface FillSlot {
  id: ChunkIdentity;
  key: string;
  offset: number;
  length: number;
  /** Written here first, renamed to `path` when complete. */
  tmp: string;
  path: string;
  /** The chunk header with zero checksums; the writer fills both in. */
  header: Buffer;
  charged: number;
}

/**
 * The chunks of `version` (`size` bytes in chunks of `chunkSize`) within `range` that `lru` holds
 * with exactly the geometry the native reader expects; chunk files live under `chunksDir`.
 */
export function cachedChunks(
  lru: ChunkLru,
  chunksDir: string,
  version: Omit<ChunkIdentity, "index">,
  size: number,
  chunkSize: number,
  range: { first: number; last: number },
): CachedChunks {
  const prefix = chunkId({ ...version, index: 0 }).slice(0, -2); // "<hash>.0" → "<hash>"
  const count = Math.min(Math.ceil(size / chunkSize), range.last + 1);
  const found: IndexRow[] = [];
  const fits = (row: IndexRow): boolean =>
    row.index >= range.first &&
    row.offset === row.index * chunkSize &&
    row.length === Math.min(chunkSize, size - row.offset);
  // Look the chunks up one by one, or scan every row when that is fewer steps.
  if (count - range.first <= lru.chunks) {
    for (let index = range.first; index < count; index++) {
      const row = lru.get(`${prefix}.${index}`);
      if (row && fits(row)) found.push(row);
    }
  } else {
    for (const row of lru.rows())
      if (row.id.startsWith(`${prefix}.`) && row.index < count && fits(row)) found.push(row);
  }
  // Even with no chunk yet, the geometry lets the binding wait for transfers it is told about.
  return {
    base: join(chunksDir, prefix.slice(0, 2), `${prefix}.`),
    headerLength: encodeHeader({ ...version, index: 0, offset: 0, length: 0, crc: 0 }).length,
    chunkSize,
    size,
    indexes: Uint32Array.from(found, (row) => row.index),
    crcs: Uint32Array.from(found, (row) => row.crc >>> 0),
    verified: Uint8Array.from(found, (row) => (lru.isVerified(row.id) ? 1 : 0)),
  };
}
