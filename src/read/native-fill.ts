/**
 * Fills the disk cache through the native addon: JavaScript reserves room and names for each
 * chunk and signs one ranged GET; the addon receives the body on its own thread and writes it
 * into the chunk files (native/src/fetch.c). The bytes never enter JavaScript; the FUSE READs
 * that follow are served from the files by the addon too.
 *
 * Any failure of a native transfer rejects, having returned its reservations: the caller then
 * fetches through the store as before, which has the retries and the typed errors.
 */
import type { ChunkCache, FillSlot } from "../cache/chunk-cache.js";
import type { RangeSigner } from "../store/object-store.js";
import type { ObjectVersion } from "./range-reader.js";

export interface FillChunkSpec {
  tmp: string;
  path: string;
  header: Buffer;
  offset: number;
  length: number;
}

export type FillCallback = (err: (Error & { body?: Buffer }) | null, crcs: Uint32Array, status: number) => void;

/** The addon's `fill` (see native/src/fetch.c for its contract). */
export type NativeFill = (
  url: string,
  headers: string[],
  start: number,
  end: number,
  chunks: FillChunkSpec[],
  options: { timeoutSeconds: number; caFile?: string },
  callback: FillCallback,
) => void;

export interface NativeFillOptions {
  fill: NativeFill;
  sign: RangeSigner;
  /** No progress for this long fails a transfer. */
  timeoutSeconds: number;
  caFile?: string;
  /** One call per transfer, for metrics. */
  observe?: (bytes: number, durationMs: number, ok: boolean) => void;
}

/** Told when a transfer's chunks are in the cache: byte range [start, end) of the version. */
export type FilledListener = (version: ObjectVersion, start: number, end: number) => void;

export class NativeChunkFiller {
  /** Transfers done and failed (tests, status). */
  readonly counts = { transfers: 0, failures: 0, bytes: 0 };
  private readonly listeners: FilledListener[] = [];

  /** The native binding hands newly filled chunks to open files as they land. */
  onFilled(listener: FilledListener): void {
    this.listeners.push(listener);
  }

  constructor(
    private readonly cache: ChunkCache,
    private readonly source: string,
    private readonly options: NativeFillOptions,
  ) {}

  /**
   * Fills chunks `from..to` (inclusive) of `version`, `chunkSize` bytes each. Chunks cached
   * already, or with no room under the cap, are skipped: their reads go through JavaScript.
   */
  async fillRun(version: ObjectVersion, chunkSize: number, from: number, to: number): Promise<void> {
    const reservations: Promise<FillSlot | undefined>[] = [];
    for (let index = from; index <= to; index++) {
      const offset = index * chunkSize;
      const length = Math.min(chunkSize, version.size - offset);
      reservations.push(
        this.cache.reserveFill({ source: this.source, key: version.key, etag: version.etag, index }, offset, length),
      );
    }
    const slots = await Promise.all(reservations);
    await Promise.all(contiguousRuns(slots).map((run) => this.transfer(version, run)));
  }

  private async transfer(version: ObjectVersion, run: FillSlot[]): Promise<void> {
    const start = run[0].offset;
    const end = run[run.length - 1].offset + run[run.length - 1].length;
    const started = performance.now();
    let crcs: Uint32Array;
    try {
      const signed = await this.options.sign({
        key: version.key,
        range: { start, end },
        ifMatch: version.etag || undefined,
      });
      crcs = await this.nativeGet(signed.url, signed.headers, start, end, run);
    } catch (err) {
      for (const slot of run) this.cache.abandonFill(slot);
      this.counts.failures++;
      this.options.observe?.(0, performance.now() - started, false);
      throw err;
    }
    run.forEach((slot, i) => this.cache.commitFill(slot, crcs[i]));
    for (const listener of this.listeners) listener(version, start, end);
    this.counts.transfers++;
    this.counts.bytes += end - start;
    this.options.observe?.(end - start, performance.now() - started, true);
  }

  private nativeGet(url: string, headers: string[], start: number, end: number, run: FillSlot[]): Promise<Uint32Array> {
    const chunks = run.map((slot) => ({
      tmp: slot.tmp,
      path: slot.path,
      header: slot.header,
      offset: slot.offset,
      length: slot.length,
    }));
    const options = { timeoutSeconds: this.options.timeoutSeconds, caFile: this.options.caFile };
    return new Promise((resolve, reject) => {
      this.options.fill(url, headers, start, end, chunks, options, (err, crcs, status) => {
        if (err) reject(Object.assign(err, { status }));
        else resolve(crcs);
      });
    });
  }
}

/** Reserved slots grouped into runs of adjacent chunks: one GET each. */
function contiguousRuns(slots: (FillSlot | undefined)[]): FillSlot[][] {
  const runs: FillSlot[][] = [];
  let current: FillSlot[] = [];
  for (const slot of slots) {
    if (
      slot &&
      current.length > 0 &&
      current[current.length - 1].offset + current[current.length - 1].length === slot.offset
    ) {
      current.push(slot);
      continue;
    }
    if (current.length > 0) runs.push(current);
    current = slot ? [slot] : [];
  }
  if (current.length > 0) runs.push(current);
  return runs;
}
