/** What every part of the filesystem core shares: built once by the composition root. */
import type { Logger } from "../log/logger.js";
import type { RangeFill } from "../read/fill-ahead.js";
import type { RangeReader } from "../read/range-reader.js";
import type { VersionPins } from "../read/version-pins.js";
import type { PrefetcherConfig } from "../read/prefetcher.js";
import type { ObjectStore } from "../store/object-store.js";
import type { LocalWrites } from "../write/write-back.js";
import type { WritableNamespace } from "./namespace.js";
import type { OpenFiles } from "./open-files.js";

export interface FilesystemConfig {
  readOnly: boolean;
  prefetch: PrefetcherConfig;
  /** Concurrency of server-side copies and deletes when renaming a directory. */
  renameConcurrency: number;
}

export interface FsContext {
  store: ObjectStore;
  namespace: WritableNamespace;
  openFiles: OpenFiles;
  /** Files opened for writing: staging, upload, journal, recovery (src/write). */
  writes: LocalWrites;
  reader: RangeReader;
  /** Versions open files read, kept in the chunk cache while open (absent: no disk cache). */
  pins?: VersionPins;
  /** Puts ranges into the disk cache without reading them (native reads); absent otherwise. */
  fill?: RangeFill;
  log: Logger;
  config: FilesystemConfig;
}
