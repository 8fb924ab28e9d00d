/**
 * Reads a Get Blob response body into one Buffer, bounded by what was asked: a ranged read must
 * carry a Content-Range for exactly the start asked, and a body no longer than the range; the
 * stream is destroyed as soon as it is known to be wrong. (Memory never grows with what a server
 * chooses to send.)
 */
import type { BlobDownloadResponseParsed } from "@azure/storage-blob";
import { StoreError } from "../errors.js";
import type { ByteRange } from "../object-store.js";

type Readable = NodeJS.ReadableStream & { destroy?: (error?: Error) => void };

export async function readBounded(
  response: BlobDownloadResponseParsed,
  range: ByteRange | undefined,
  key: string,
): Promise<Buffer> {
  const body = response.readableStreamBody as Readable | undefined;
  if (!body) return Buffer.alloc(0);
  const limit = range ? range.end - range.start : Number.POSITIVE_INFINITY;
  if (range) checkContentRange(response.contentRange, range, body, key);
  const chunks: Buffer[] = [];
  let kept = 0;
  try {
    for await (const chunk of body) {
      // Kept as is (the stream hands out fresh buffers): the one copy is the concat below.
      const piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      kept += piece.length;
      if (kept > limit) throw new StoreError("Other", `Get Blob: body longer than the ${limit} bytes asked for`, key);
      chunks.push(piece);
    }
  } catch (err) {
    body.destroy?.();
    throw err;
  }
  return Buffer.concat(chunks, kept);
}

function checkContentRange(contentRange: string | undefined, range: ByteRange, body: Readable, key: string): void {
  // A 200 (whole blob) for a ranged request would be longer than asked: the length check catches it.
  if (contentRange === undefined) return;
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim());
  if (!match || Number(match[1]) !== range.start || Number(match[2]) > range.end - 1) {
    body.destroy?.();
    throw new StoreError(
      "Other",
      `Get Blob: Content-Range ${contentRange} does not match bytes ${range.start}-${range.end - 1} asked for`,
      key,
    );
  }
}
