/** A filesystem core over an in-memory store, for unit tests (no kernel, no network). */
import { silentLogger } from "../../src/log/logger.js";
import { FaultyStore } from "../../src/store/faulty-store.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { createFilesystem, type Filesystem } from "../../src/vfs/index.js";
import { testTempDir } from "./temp-dirs.js";

export interface MemoryFs {
  fs: Filesystem;
  memory: MemoryStore;
  faults: FaultyStore;
  stagingDir: string;
}

export function memoryFs(options: { prefix?: string; partSize?: number; metadataTtlMs?: number } = {}): MemoryFs {
  const memory = new MemoryStore({ minPartSize: 1024 });
  const faults = new FaultyStore(memory);
  const stagingDir = testTempDir("bucketfs-staging-"); // removed after the test (temp-dirs.ts)
  const fs = createFilesystem({
    store: faults,
    prefix: options.prefix ?? "",
    stagingDir,
    log: silentLogger(),
    uid: 1000,
    gid: 1000,
    metadataTtlMs: options.metadataTtlMs ?? 10_000,
    upload: { partSize: options.partSize ?? 4096, concurrency: 3 },
  });
  return { fs, memory, faults, stagingDir };
}

export async function writeFile(fs: Filesystem, path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const fh = await fs.create(path, mode);
  await fs.write(fh, Buffer.from(data), 0);
  await fs.flush(fh);
  await fs.release(fh);
}

export async function readFile(fs: Filesystem, path: string): Promise<Buffer> {
  const fh = await fs.open(path, 0);
  const size = (await fs.getattr(path)).size;
  const data = await fs.read(fh, 0, size + 1);
  await fs.release(fh);
  return data;
}
