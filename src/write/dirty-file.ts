/**
 * A file being written through the mount: its bytes live in a staging file until uploaded.
 * All handles open on the same path share one DirtyFile, so readers see writers' data.
 *
 * INVARIANT: `size` is the logical file size; the staging file holds every byte below it
 * (writes past the end leave holes, which read as zeros, as on a local disk).
 * `generation` counts changes; the upload of generation G leaves the file clean only if no
 * change happened while it ran.
 */
import type { StagingFile } from "./staging.js";
import { readRange } from "./uploader.js";

export class DirtyFile {
  size = 0;
  generation = 0;
  uploadedGeneration = 0;
  openCount = 0;
  /** Set when the path is unlinked while open: nothing is uploaded on close. */
  unlinked = false;
  /** The last upload's failure, reported by every flush/fsync until an upload succeeds. */
  lastError?: unknown;
  /** Serialises uploads of this file. */
  uploading: Promise<unknown> = Promise.resolve();
  mtimeMs = Date.now();

  constructor(
    public path: string,
    public key: string,
    readonly staging: StagingFile,
    /** User metadata the object will be written with (s3fs attributes included). */
    public metadata: Record<string, string>,
    /** ETag of the object the data started from, when it existed. */
    public baseEtag?: string,
    public contentType?: string,
  ) {}

  get dirty(): boolean {
    return this.generation !== this.uploadedGeneration;
  }

  markChanged(): void {
    this.generation++;
    this.mtimeMs = Date.now();
  }

  async write(data: Buffer, offset: number): Promise<number> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.staging.handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, offset + data.length);
    this.markChanged();
    return data.length;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return Buffer.alloc(0);
    return readRange(this.staging.handle, offset, end - offset);
  }

  async truncate(size: number): Promise<void> {
    await this.staging.handle.truncate(size);
    this.size = size;
    this.markChanged();
  }
}
