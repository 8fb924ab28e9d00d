/**
 * Wires `--encrypt-cache` into the two places user data rests on local disk: staging files
 * (write-back) and chunk-cache files (read cache). Both take a small seam — a staging-file
 * opener and a chunk-file codec — so neither module knows about keys or ciphers.
 *
 * Chunk-cache files were written plain before encryption was turned on (or under another key)
 * fail authentication and are dropped as misses, never served.
 *
 * The chunk cache's SQLite index gets an IndexProtector (object keys and ETags as keyed tags,
 * rows sealed, no plaintext CRC): `indexProtector`. It takes effect where the cache opens its
 * index with it (ChunkCache.open → new CacheIndex(path, false, protector)).
 */
import type { IndexProtector } from "../cache/cache-index.js";
import type { ChunkFileCodec } from "../cache/chunk-cache.js";
import type { StagingOpener } from "../write/staging.js";
import { DataCipher, SEAL_OVERHEAD } from "./cipher.js";
import { EncryptedFile } from "./encrypted-file.js";

export interface AtRestProtection {
  stagingOpener: StagingOpener;
  chunkCodec: ChunkFileCodec;
  indexProtector: IndexProtector;
}

/** The chunk's file name is its AAD: a sealed chunk cannot be renamed into another chunk's place. */
export function chunkCodec(cipher: DataCipher): ChunkFileCodec {
  return {
    overhead: SEAL_OVERHEAD,
    seal: (parts, chunkName) => [cipher.seal(parts, Buffer.from(chunkName))],
    open: (file, chunkName) => cipher.open(file, Buffer.from(chunkName)),
  };
}

export function stagingOpener(cipher: DataCipher): StagingOpener {
  return (path, how) => EncryptedFile.open(path, how === "create" ? "w+" : "r+", 0o600, cipher);
}

/** Tags and seals for the chunk-cache index rows (see cache-index.ts). */
export function indexProtector(cipher: DataCipher): IndexProtector {
  return {
    tag: (purpose, value) => cipher.tag(`cache index ${purpose}`, value),
    seal: (plain, aad) => cipher.seal(plain, aad),
    open: (sealed, aad) => cipher.open(sealed, aad),
  };
}

export function atRestProtection(cipher: DataCipher): AtRestProtection {
  return {
    stagingOpener: stagingOpener(cipher),
    chunkCodec: chunkCodec(cipher),
    indexProtector: indexProtector(cipher),
  };
}
