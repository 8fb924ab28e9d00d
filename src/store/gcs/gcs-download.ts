/**
 * GCS media downloads, bounded. Downloads go through the client's authenticated `requestStream`
 * rather than `createReadStream`, because the latter cannot send `ifGenerationMatch`; this file
 * reads that stream without trusting what the server sends.
 */
import type { ByteRange } from "../object-store.js";
import { StoreError } from "../errors.js";
import { mediaError, toStoreError } from "./gcs-errors.js";

/** The most of an error response's body read (for its JSON reason); the rest is not read. */
const MAX_ERROR_BODY = 64 * 1024;

/** What `File.requestStream` returns, as far as a download uses it. */
export interface MediaStream {
  on(
    event: "response",
    listener: (res: { statusCode?: number; headers?: Record<string, string | undefined> }) => void,
  ): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "error", listener: (err: unknown) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  destroy(): unknown;
}

/**
 * Reads a media download; an HTTP error status comes back as a StoreError value (not thrown)
 * for the caller to judge. Memory is bounded by what was asked, never by what the server sends:
 * - a ranged GET answered 206 must carry a Content-Range for exactly the start asked, ending
 *   within the range, and a body no longer than the range (chunked or not);
 * - a ranged GET answered 200 (the server ignored Range) yields only the bytes asked for, and
 *   stops reading once it has them;
 * - an error body is kept up to MAX_ERROR_BODY (for its JSON reason) and the rest not read.
 * The stream is destroyed as soon as the answer is known.
 */
export function boundedMediaDownload(
  stream: MediaStream,
  key: string,
  range: ByteRange | undefined,
  signal?: AbortSignal,
): Promise<Buffer | StoreError> {
  if (signal?.aborted) {
    stream.destroy();
    return Promise.reject(new StoreError("Aborted", "download aborted", key));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let status = 0;
    /** Bytes of the body to skip before the first kept byte (a 200 for a ranged request). */
    let skip = 0;
    /** Most bytes to keep; more is an error (`strict`) or simply not read. */
    let limit = Number.POSITIVE_INFINITY;
    let strict = false;
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const stop = (outcome: () => void): void => {
      finish(outcome);
      stream.destroy();
    };
    const onAbort = (): void => stop(() => reject(new StoreError("Aborted", "download aborted", key)));
    signal?.addEventListener("abort", onAbort, { once: true });
    const asked = range ? `bytes ${range.start}-${range.end - 1}` : "";
    stream.on("response", (res: { statusCode?: number; headers?: Record<string, string | undefined> }) => {
      status = res.statusCode ?? 0;
      if (status >= 400) {
        limit = MAX_ERROR_BODY;
      } else if (range && status === 206) {
        const contentRange = res.headers?.["content-range"] ?? "";
        const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim());
        if (!match || Number(match[1]) !== range.start || Number(match[2]) > range.end - 1) {
          stop(() =>
            reject(
              new StoreError(
                "Other",
                `objects.get media: Content-Range ${contentRange || "(none)"} does not match the ${asked} asked for`,
                key,
              ),
            ),
          );
          return;
        }
        limit = range.end - range.start;
        strict = true;
      } else if (range) {
        skip = range.start;
        limit = range.end - range.start;
      }
    });
    stream.on("data", (chunk: Buffer) => {
      if (settled) return;
      let piece = chunk;
      if (skip > 0) {
        const dropped = Math.min(skip, piece.length);
        skip -= dropped;
        piece = piece.subarray(dropped);
      }
      if (kept + piece.length > limit) {
        if (strict) {
          stop(() =>
            reject(new StoreError("Other", `objects.get media: body longer than the ${limit} bytes asked for`, key)),
          );
          return;
        }
        piece = piece.subarray(0, limit - kept);
      }
      if (piece.length > 0) chunks.push(Buffer.from(piece));
      kept += piece.length;
      if (kept >= limit && !strict) stop(() => resolve(downloaded(status, chunks, key)));
    });
    stream.on("error", (err: unknown) => finish(() => reject(toStoreError(err, "objects.get media", key))));
    stream.on("end", () => finish(() => resolve(downloaded(status, chunks, key))));
  });
}

function downloaded(status: number, chunks: Buffer[], key: string): Buffer | StoreError {
  const body = Buffer.concat(chunks);
  return status >= 400 ? mediaError(status, body, "objects.get media", key) : body;
}
