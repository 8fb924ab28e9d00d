/**
 * bench-encrypt.ts — the cost of `--encrypt-cache` on the read path and on staging, measured
 * against the unencrypted code in the same run:
 *   - cache-hit reads: ChunkCache.get of every chunk of BENCH_SIZE_MIB of 512 KiB chunks
 *     (what a re-read served from the disk cache costs), plain vs AES-256-GCM codec
 *   - staging: 128 KiB writes of BENCH_SIZE_MIB into a staging file, then 1 MiB reads of it
 *     (what write-back and its upload read), plain FileHandle vs EncryptedFile
 * Each figure is the median of BENCH_RUNS runs (interleaved); ratio = encrypted time / plain time.
 *
 *   npx tsx scripts/bench-encrypt.ts          Env: BENCH_SIZE_MIB (256), BENCH_RUNS (3)
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkCache, type ChunkFileCodec } from "../src/cache/chunk-cache.js";
import { chunkCodec } from "../src/security/at-rest.js";
import { DataCipher } from "../src/security/cipher.js";
import { EncryptedFile } from "../src/security/encrypted-file.js";
import type { StagingHandle } from "../src/write/staging.js";

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_SIZE_MIB ?? 256);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const CHUNK = 512 * 1024;
const cipher = DataCipher.fromKey(randomBytes(32));
const work = mkdtempSync(join(tmpdir(), "bucketfs-bench-enc-"));
const payload = randomBytes(CHUNK);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function cacheReads(codec: ChunkFileCodec | undefined, run: number): Promise<number> {
  const dir = join(work, `cache-${codec ? "enc" : "plain"}-${run}`);
  const cache = ChunkCache.open(dir, { capacityBytes: (sizeMiB + 64) * MIB, codec });
  const chunks = (sizeMiB * MIB) / CHUNK;
  const id = (index: number) => ({ source: "bench", key: "obj", etag: '"e"', index });
  for (let i = 0; i < chunks; i++) await cache.put(id(i), i * CHUNK, payload);
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) {
    const data = await cache.get(id(i));
    if (!data || data.length !== CHUNK) throw new Error(`chunk ${i} missing`);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  cache.close();
  rmSync(dir, { recursive: true, force: true });
  return seconds;
}

async function staging(encrypted: boolean, run: number): Promise<number> {
  const path = join(work, `staging-${encrypted ? "enc" : "plain"}-${run}`);
  const file: StagingHandle = encrypted
    ? await EncryptedFile.open(path, "w+", 0o600, cipher)
    : await open(path, "w+", 0o600);
  const start = process.hrtime.bigint();
  const piece = payload.subarray(0, 128 * 1024);
  for (let off = 0; off < sizeMiB * MIB; off += piece.length) await file.write(piece, 0, piece.length, off);
  const buffer = Buffer.alloc(MIB);
  for (let off = 0; off < sizeMiB * MIB; off += MIB) await file.read(buffer, 0, MIB, off);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await file.close();
  rmSync(path, { force: true });
  return seconds;
}

const results = {
  cachePlain: [] as number[],
  cacheEnc: [] as number[],
  stagePlain: [] as number[],
  stageEnc: [] as number[],
};
for (let run = 0; run < runs; run++) {
  results.cachePlain.push(await cacheReads(undefined, run));
  results.cacheEnc.push(await cacheReads(chunkCodec(cipher), run));
  results.stagePlain.push(await staging(false, run));
  results.stageEnc.push(await staging(true, run));
}
rmSync(work, { recursive: true, force: true });
const rate = (s: number): string => `${(sizeMiB / s).toFixed(0)} MiB/s`;
const line = (name: string, plain: number[], enc: number[]): void => {
  const p = median(plain);
  const e = median(enc);
  console.log(
    `${name.padEnd(26)} plain ${rate(p).padStart(10)}  encrypted ${rate(e).padStart(10)}  time ratio ${(e / p).toFixed(2)}x`,
  );
};
console.log(`bench-encrypt: ${sizeMiB} MiB, median of ${runs} runs, node ${process.version}`);
line("cache-hit reads (512 KiB)", results.cachePlain, results.cacheEnc);
line("staging write+read", results.stagePlain, results.stageEnc);
