/**
 * The on-disk format of one cached chunk: a versioned, self-describing header followed by the
 * data. A chunk file validates itself — it names the object version and chunk it holds and
 * carries checksums of its data and of its header — so the SQLite index is never trusted over
 * the file, and the index can be rebuilt by scanning the files.
 *
 * Layout (little-endian):
 *   magic "BFSCHUNK" (8) | format version u32 | header length u32 | chunk index u32 |
 *   data offset u64 | data length u32 | data CRC32 u32 |
 *   source length u16 | key length u16 | etag length u16 | source | key | etag (UTF-8) |
 *   header CRC32 u32 (over everything before it)
 *
 * CRC32 (zlib's, native since Node 20.15) rather than CRC32C: it is what Node ships without a
 * native dependency, it runs at several GB/s, and it only has to catch torn or bit-rotted files.
 */
import { crc32 } from "node:zlib";

export const CHUNK_FORMAT_VERSION = 1;
const MAGIC = Buffer.from("BFSCHUNK", "latin1");
const FIXED_BYTES = 8 + 4 + 4 + 4 + 8 + 4 + 4 + 2 + 2 + 2;

/** Which bytes a chunk holds: chunk `index` of one version (etag) of one object in one store. */
export interface ChunkIdentity {
  /** The store's description (e.g. `s3://bucket @ endpoint`): two buckets never share chunks. */
  source: string;
  key: string;
  etag: string;
  index: number;
}

export interface ChunkHeader extends ChunkIdentity {
  offset: number;
  length: number;
  crc: number;
}

/** Why a chunk file was rejected; each is a miss, and the file is dropped. */
export class ChunkFormatError extends Error {
  override readonly name = "ChunkFormatError";
}

export function dataChecksum(data: Uint8Array): number {
  return crc32(data) >>> 0;
}

export function encodeHeader(header: ChunkHeader): Buffer {
  const source = Buffer.from(header.source, "utf8");
  const key = Buffer.from(header.key, "utf8");
  const etag = Buffer.from(header.etag, "utf8");
  const length = FIXED_BYTES + source.length + key.length + etag.length + 4;
  const out = Buffer.alloc(length);
  MAGIC.copy(out, 0);
  let at = 8;
  at = out.writeUInt32LE(CHUNK_FORMAT_VERSION, at);
  at = out.writeUInt32LE(length, at);
  at = out.writeUInt32LE(header.index, at);
  at = out.writeBigUInt64LE(BigInt(header.offset), at);
  at = out.writeUInt32LE(header.length, at);
  at = out.writeUInt32LE(header.crc >>> 0, at);
  at = out.writeUInt16LE(source.length, at);
  at = out.writeUInt16LE(key.length, at);
  at = out.writeUInt16LE(etag.length, at);
  at += source.copy(out, at);
  at += key.copy(out, at);
  at += etag.copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(0, at)) >>> 0, at);
  return out;
}

/** Parses and checks a header; throws ChunkFormatError on any inconsistency. */
export function decodeHeader(file: Buffer): { header: ChunkHeader; headerLength: number } {
  if (file.length < FIXED_BYTES + 4 || !file.subarray(0, 8).equals(MAGIC))
    throw new ChunkFormatError("not a chunk file");
  const version = file.readUInt32LE(8);
  if (version !== CHUNK_FORMAT_VERSION)
    throw new ChunkFormatError(`chunk format ${version}, expected ${CHUNK_FORMAT_VERSION}`);
  const headerLength = file.readUInt32LE(12);
  if (headerLength < FIXED_BYTES + 4 || headerLength > file.length) throw new ChunkFormatError("bad header length");
  const stored = file.readUInt32LE(headerLength - 4);
  if (crc32(file.subarray(0, headerLength - 4)) >>> 0 !== stored)
    throw new ChunkFormatError("header checksum mismatch");
  const index = file.readUInt32LE(16);
  const offset = Number(file.readBigUInt64LE(20));
  const length = file.readUInt32LE(28);
  const crc = file.readUInt32LE(32);
  const sourceLength = file.readUInt16LE(36);
  const keyLength = file.readUInt16LE(38);
  const etagLength = file.readUInt16LE(40);
  if (FIXED_BYTES + sourceLength + keyLength + etagLength + 4 !== headerLength)
    throw new ChunkFormatError("bad field lengths");
  let at = FIXED_BYTES;
  const text = (n: number): string => file.toString("utf8", at, (at += n));
  const header = {
    index,
    offset,
    length,
    crc,
    source: text(sourceLength),
    key: text(keyLength),
    etag: text(etagLength),
  };
  return { header, headerLength };
}

/**
 * Verifies a whole chunk file against the identity and checksum the caller expects and returns
 * its data (a view into `file`). Throws ChunkFormatError if anything differs.
 */
export function verifyChunk(file: Buffer, expected: ChunkIdentity & { crc?: number; length?: number }): Buffer {
  const { header, headerLength } = decodeHeader(file);
  if (
    header.source !== expected.source ||
    header.key !== expected.key ||
    header.etag !== expected.etag ||
    header.index !== expected.index
  ) {
    throw new ChunkFormatError("chunk file holds a different chunk");
  }
  const data = file.subarray(headerLength);
  if (data.length !== header.length || (expected.length !== undefined && expected.length !== header.length))
    throw new ChunkFormatError("chunk length mismatch");
  if (expected.crc !== undefined && expected.crc !== header.crc)
    throw new ChunkFormatError("checksum differs from the index");
  if (dataChecksum(data) !== header.crc) throw new ChunkFormatError("data checksum mismatch");
  return data;
}
