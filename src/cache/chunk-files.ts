/**
 * Chunk files on disk: their names, what they are charged against the cap, the atomic write of
 * one, and the rebuild of index rows from the files' own headers.
 */
import { createHash } from "node:crypto";
import {
  close,
  open as openCallback,
  readFileSync,
  readdirSync,
  rename as renameCallback,
  rmSync,
  statSync,
  writev,
} from "node:fs";
import { join } from "node:path";
import type { IndexRow } from "./cache-index.js";
import { ChunkFormatError, decodeHeader, verifyChunk, type ChunkIdentity } from "./chunk-format.js";

/** Chunks are charged in filesystem blocks, which is what `du` counts. */
const BLOCK = 4096;

export function chunkId(id: ChunkIdentity): string {
  const hash = createHash("sha256").update(`${id.source}\0${id.key}\0${id.etag}`).digest("hex").slice(0, 40);
  return `${hash}.${id.index}`;
}

export function chargedSize(headerAndData: number): number {
  return Math.ceil(headerAndData / BLOCK) * BLOCK;
}

/**
 * Writes `parts` to `tmp` and renames it to `path`. Callback-style fs: the FileHandle promise API
 * costs noticeably more main-thread time, and this runs once per chunk on the read path.
 */
export function writeFileAtomically(tmp: string, path: string, parts: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    openCallback(tmp, "w", 0o600, (openErr, fd) => {
      if (openErr) return reject(openErr);
      const total = parts.reduce((n, p) => n + p.length, 0);
      writev(fd, parts, (writeErr, written) => {
        close(fd, (closeErr) => {
          // A short write (disk full) fails the chunk: it is simply not cached.
          const err = writeErr ?? closeErr ?? (written !== total ? new Error(`short write to ${tmp}`) : null);
          if (err) return reject(err);
          renameCallback(tmp, path, (renameErr) => (renameErr ? reject(renameErr) : resolve()));
        });
      });
    });
  });
}

/** Rebuilds index rows from the chunk files' own headers; unreadable files are deleted. */
export function scanChunkFiles(
  chunksDir: string,
  dropped: (file: string) => void,
  decode: (file: Buffer, name: string) => Buffer,
): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const sub of readdirSync(chunksDir)) {
    const subDir = join(chunksDir, sub);
    for (const name of readdirSync(subDir)) {
      const file = join(subDir, name);
      try {
        const stored = readFileSync(file);
        const bytes = decode(stored, name);
        const { header } = decodeHeader(bytes);
        const id = chunkId(header);
        if (id !== name) throw new ChunkFormatError("file name does not match its header");
        verifyChunk(bytes, header);
        rows.push({ id, ...header, charged: chargedSize(stored.length), atime: statSync(file).mtimeMs });
      } catch {
        rmSync(file, { force: true });
        dropped(file);
      }
    }
  }
  return rows.sort((a, b) => a.atime - b.atime);
}
