/**
 * Staging area: local files that hold data written through the mount until it is uploaded.
 * The directory is 0700 and files are 0600, since they hold user data (possibly PHI).
 * A staging file is deleted only after its upload succeeded.
 */
import { mkdirSync, chmodSync } from "node:fs";
import { open, rm, type FileHandle } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { join } from "node:path";

export interface StagingFile {
  path: string;
  handle: FileHandle;
}

export class StagingArea {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  async create(): Promise<StagingFile> {
    const path = join(this.dir, `${randomUUID()}.data`);
    const handle = await open(path, "w+", 0o600);
    return { path, handle };
  }

  async discard(file: StagingFile): Promise<void> {
    await file.handle.close().catch(() => undefined);
    await rm(file.path, { force: true });
  }
}
