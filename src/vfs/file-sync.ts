/**
 * Moves data between the bucket and staging files: fills a staging file from an existing
 * object when it is opened for writing, and uploads it on flush/fsync/close.
 *
 * Durability contract: close() and fsync() return only after the object is in the bucket; if
 * the upload fails they report EIO, the staging file is kept, its location is logged, and the
 * next flush/fsync/close of that file retries.
 */
import { FsError } from "./errors.js";
import type { FsContext } from "./context.js";
import type { FileStat } from "./types.js";
import { DirtyFile } from "../write/dirty-file.js";
import { withAttributes } from "./metadata.js";

/** Ranged GETs used to fill a staging file from an existing object. */
const FILL_BLOCK = 8 * 1024 * 1024;
const FILL_CONCURRENCY = 4;

export class FileSync {
  constructor(private readonly ctx: FsContext) {}

  /** The shared DirtyFile of `path`, creating it (and fetching current content) if needed. */
  async openForWrite(path: string, stat: FileStat, truncate: boolean): Promise<DirtyFile> {
    const existing = this.ctx.openFiles.dirtyAt(path);
    if (existing) {
      if (truncate) await existing.truncate(0);
      return existing;
    }
    const { store, namespace } = this.ctx;
    const key = namespace.mapper.fileKey(path);
    const info = stat.etag !== undefined ? await store.head({ key }) : undefined;
    const staging = await this.ctx.staging.create();
    const file = new DirtyFile(path, key, staging, info?.metadata ?? {}, info?.etag, info?.contentType);
    file.mtimeMs = stat.mtimeMs;
    try {
      if (info && !truncate) await this.fill(file, info.etag, info.size);
      if (truncate && info && info.size > 0) file.markChanged();
    } catch (err) {
      await this.ctx.staging.discard(staging);
      throw err;
    }
    this.ctx.openFiles.setDirty(file);
    return file;
  }

  /** A new, empty file: it will be uploaded on its first flush even if nothing is written. */
  async create(path: string, mode: number): Promise<DirtyFile> {
    const key = this.ctx.namespace.mapper.fileKey(path);
    const staging = await this.ctx.staging.create();
    const metadata = withAttributes({}, { mode, ...this.ctx.namespace.defaultAttributes(), mtimeMs: Date.now() });
    const file = new DirtyFile(path, key, staging, metadata);
    file.markChanged();
    this.ctx.openFiles.setDirty(file);
    return file;
  }

  /** Uploads the file if it has changes; serialised per file. Throws EIO on failure. */
  sync(file: DirtyFile): Promise<void> {
    const run = file.uploading.then(() => this.uploadIfDirty(file));
    file.uploading = run.catch(() => undefined);
    return run;
  }

  /** Drops a file's local state once nothing needs it (no handle open, nothing unsaved). */
  async releaseIfIdle(file: DirtyFile): Promise<void> {
    if (file.openCount > 0 || (file.dirty && !file.unlinked)) return;
    this.ctx.openFiles.dropDirty(file);
    await this.ctx.staging.discard(file.staging);
  }

  statOf(file: DirtyFile): FileStat {
    const stat = this.ctx.namespace.statFromObject(
      { key: file.key, size: file.size, etag: file.baseEtag ?? "", lastModified: new Date(file.mtimeMs) },
      file.metadata,
    );
    return { ...stat, mtimeMs: file.mtimeMs };
  }

  private async uploadIfDirty(file: DirtyFile): Promise<void> {
    if (!file.dirty || file.unlinked) return;
    const generation = file.generation;
    const metadata = withAttributes(file.metadata, { mtimeMs: file.mtimeMs });
    try {
      const { etag } = await this.ctx.uploader.upload({ key: file.key, source: file.staging.handle, size: file.size, metadata, contentType: file.contentType });
      file.metadata = metadata;
      file.baseEtag = etag;
      file.uploadedGeneration = generation;
      file.lastError = undefined;
      this.ctx.namespace.remember(file.path, this.statOf(file));
    } catch (err) {
      file.lastError = err;
      this.ctx.log.error({ path: file.path, key: file.key, stagingFile: file.staging.path, err }, "upload failed; the data is kept in the staging file and the next flush/fsync/close retries");
      throw new FsError("EIO", `upload of ${file.path} failed; data kept at ${file.staging.path}`, { cause: err });
    }
  }

  private async fill(file: DirtyFile, etag: string, size: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < size) {
        const start = next;
        next = Math.min(size, next + FILL_BLOCK);
        const data = await this.ctx.reader.read({ key: file.key, etag, size }, start, next - start);
        await file.staging.handle.write(data, 0, data.length, start);
      }
    };
    await Promise.all(Array.from({ length: FILL_CONCURRENCY }, worker));
    file.size = size;
  }
}
