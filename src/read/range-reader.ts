/**
 * The read path is a chain of RangeReaders: handle → prefetcher → (chunk cache) → direct GET.
 * Each reader answers `read(version, offset, length)` with exactly the bytes of that version of
 * the object, or throws. Reads are pinned to the ETag the file was opened with (If-Match), so an
 * object replaced underneath raises PreconditionFailed (ESTALE) instead of mixing bytes.
 */
import type { ReadableStore } from "../store/object-store.js";

export interface ObjectVersion {
  key: string;
  etag: string;
  size: number;
}

export interface RangeReader {
  read(version: ObjectVersion, offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
}

/** The last link: one ranged GET per call, never more than was asked for. */
export class DirectReader implements RangeReader {
  constructor(private readonly store: ReadableStore) {}

  async read(version: ObjectVersion, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const end = Math.min(offset + length, version.size);
    if (end <= offset) return Buffer.alloc(0);
    return this.store.get({
      key: version.key,
      range: { start: offset, end },
      ifMatch: version.etag || undefined,
      signal,
    });
  }
}
