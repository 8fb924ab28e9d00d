/**
 * Staging area: local files that hold data written through the mount until it is uploaded.
 * The directory is 0700 and files are 0600, since they hold user data (possibly PHI).
 * A staging file is deleted only after its upload succeeded.
 */
import { mkdirSync, chmodSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { join } from "node:path";

/** The part of a FileHandle that staging uses; an encrypting file (src/security) provides the same. */
export interface StagingHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  truncate(length?: number): Promise<void>;
  close(): Promise<void>;
  /** Flushes the data to disk (fdatasync) before the upload journal records the file. */
  datasync?(): Promise<void>;
}

/**
 * Opens a staging file at `path` (mode 0600): a new empty one ("create"), or one a previous run
 * left, keeping its data ("reopen"). The seam for `--encrypt-cache` (src/security/at-rest.ts).
 */
export type StagingOpener = (path: string, how: "create" | "reopen") => Promise<StagingHandle>;

const openPlain: StagingOpener = (path, how) => open(path, how === "create" ? "w+" : "r+", 0o600);

export interface StagingFile {
  path: string;
  handle: StagingHandle;
}

export class StagingArea {
  constructor(
    readonly dir: string,
    private readonly openFile: StagingOpener = openPlain,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  async create(): Promise<StagingFile> {
    const path = join(this.dir, `${randomUUID()}.data`);
    const handle = await this.openFile(path, "create");
    return { path, handle };
  }

  /**
   * Opens a staging file a previous run left behind (upload journal recovery), keeping its data.
   * An encrypting opener reads it with the same key (its size is derived from the file).
   */
  async reopen(path: string): Promise<StagingFile> {
    return { path, handle: await this.openFile(path, "reopen") };
  }

  async discard(file: StagingFile): Promise<void> {
    await file.handle.close().catch(() => undefined);
    await rm(file.path, { force: true });
  }
}

/** Writes all of `data` at `offset` (a write may take fewer bytes than asked). */
export async function writeAll(handle: StagingHandle, data: Buffer, offset: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, offset + done);
    done += bytesWritten;
  }
}
