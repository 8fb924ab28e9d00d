/**
 * Multipart uploads as block blobs: an upload id is a token that carries a random nonce plus the
 * metadata and content type to commit with (Azure keeps no upload object to hold them); a part is
 * a staged block whose id is derived from the nonce and the part number, so concurrent uploads to
 * one key never collide, and every id of a blob has the same length (Azure requires it).
 */
import { randomBytes } from "node:crypto";
import { StoreError } from "../errors.js";

export interface BlockUpload {
  nonce: string;
  metadata?: Record<string, string>;
  contentType?: string;
}

/** Azure takes at most 50,000 blocks per blob. */
export const MAX_BLOCKS = 50_000;

export function newBlockUpload(metadata?: Record<string, string>, contentType?: string): BlockUpload {
  return { nonce: randomBytes(8).toString("hex"), metadata, contentType };
}

export function encodeUploadId(upload: BlockUpload): string {
  return Buffer.from(JSON.stringify(upload)).toString("base64url");
}

export function decodeUploadId(uploadId: string, key: string): BlockUpload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(uploadId, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const upload = parsed as Partial<BlockUpload> | undefined;
  if (typeof upload?.nonce !== "string" || !/^[0-9a-f]{16}$/.test(upload.nonce)) {
    throw new StoreError("Other", "not an upload id of this Azure store", key);
  }
  return {
    nonce: upload.nonce,
    metadata: stringRecord(upload.metadata),
    contentType: typeof upload.contentType === "string" ? upload.contentType : undefined,
  };
}

/** The block id of a part: base64 of a fixed-length string (nonce + zero-padded part number). */
export function blockId(upload: BlockUpload, partNumber: number): string {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_BLOCKS) {
    throw new StoreError("Other", `part number ${partNumber} outside 1..${MAX_BLOCKS}`);
  }
  return Buffer.from(`${upload.nonce}-${String(partNumber).padStart(5, "0")}`).toString("base64");
}

function stringRecord(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== "object") return undefined;
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}
