/** Staging dir + upload journal of a unit-test "machine": a new filesystem on the same disk is a remount after a crash. */
import { join } from "node:path";
import { silentLogger } from "../../src/log/logger.js";
import type { Logger } from "../../src/log/logger.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { createFilesystem, type Filesystem } from "../../src/vfs/index.js";
import type { StagingOpener } from "../../src/write/staging.js";
import { testTempDir } from "./temp-dirs.js";

export interface Disk {
  stagingDir: string;
  journalPath: string;
}

export function newDisk(): Disk {
  const root = testTempDir("bucketfs-write-"); // removed after the test (temp-dirs.ts)
  return { stagingDir: join(root, "staging"), journalPath: join(root, "journal.sqlite") };
}

/** A filesystem "process": a new one on the same disk is what a remount after a crash sees. */
export function mountOn(
  store: ObjectStore,
  disk: Disk,
  options: { partSize?: number; stagingOpener?: StagingOpener; maxDirtyBytes?: number; log?: Logger } = {},
): Filesystem {
  return createFilesystem({
    store,
    prefix: "",
    stagingDir: disk.stagingDir,
    journalPath: disk.journalPath,
    log: options.log ?? silentLogger(),
    uid: 1000,
    gid: 1000,
    upload: { partSize: options.partSize ?? 4096, concurrency: 3 },
    stagingOpener: options.stagingOpener,
    maxDirtyBytes: options.maxDirtyBytes,
  });
}
