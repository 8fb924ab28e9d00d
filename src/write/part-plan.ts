/**
 * The parts of a multipart upload that rewrites an existing object in place: a grid of
 * `partSize` parts, each either copied server-side from the base object (UploadPartCopy; no
 * bytes through this machine) when it is unchanged, or uploaded from staging when it holds a
 * change. Neighbouring copied parts are merged into one copy of up to `maxCopyPart` bytes, which
 * keeps the request count low for large objects; every part but the last stays ≥ partSize, so
 * the store's minimum part size holds.
 *
 * Appending 1 MiB to an object of N full parts therefore sends one part of data at most:
 * copies of the N parts, then the tail.
 */
import type { ByteRange } from "../store/object-store.js";

export interface PlannedPart extends ByteRange {
  /** "copy": from the base object, server-side; "upload": from staging (changed bytes). */
  source: "copy" | "upload";
}

export interface PartPlanInput {
  size: number;
  partSize: number;
  /** Largest single copied part (S3: 5 GiB); at most partSize means copies are never merged. */
  maxCopyPart: number;
  copyable: (start: number, end: number) => boolean;
}

export function planParts(input: PartPlanInput): PlannedPart[] {
  const { size, partSize, copyable } = input;
  const maxCopy = Math.max(partSize, Math.floor(input.maxCopyPart / partSize) * partSize);
  const parts: PlannedPart[] = [];
  for (let start = 0; start < size || parts.length === 0; start += partSize) {
    const end = Math.min(size, start + partSize);
    const source = end > start && copyable(start, end) ? "copy" : "upload";
    const last = parts.at(-1);
    if (source === "copy" && last?.source === "copy" && end - last.start <= maxCopy) {
      last.end = end;
    } else {
      parts.push({ start, end, source });
    }
  }
  return parts;
}

/** Bytes the plan sends from this machine (the uploaded parts). */
export function uploadedBytes(parts: readonly PlannedPart[]): number {
  return parts.filter((p) => p.source === "upload").reduce((sum, p) => sum + p.end - p.start, 0);
}
