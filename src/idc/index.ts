/**
 * Public surface of the IDC namespace and its composition: resolve the index (download or local
 * file → SQLite), open it with the mount's filters, and serve it through the one Filesystem,
 * read-only, over a store per bucket. The Mount passes the stores in (it owns credentials,
 * endpoints and metrics).
 */
import { join } from "node:path";
import type { Logger } from "../log/logger.js";
import type { PrefetcherConfig } from "../read/prefetcher.js";
import { DirectReader, type RangeReader } from "../read/range-reader.js";
import { privateDir } from "../os/private-file.js";
import type { ReadableStore } from "../store/object-store.js";
import { createReadOnlyFilesystem, type Filesystem } from "../vfs/index.js";
import { IdcNamespace } from "./idc-namespace.js";
import { IdcTree } from "./idc-tree.js";
import { IdcIndexDb, type IdcFilter } from "./index-db.js";
import { resolveIndex, type IndexSourceOptions, type ResolvedIndex } from "./index-source.js";
import { SeriesListings } from "./series-listing.js";

export { IdcNamespace } from "./idc-namespace.js";
export { IdcStore } from "./idc-store.js";
export { IdcTree } from "./idc-tree.js";
export { IdcIndexDb, type IdcFilter, type SeriesRecord } from "./index-db.js";
export { IdcIndexError, resolveIndex, downloadIndex, loadedVersions, type ResolvedIndex } from "./index-source.js";
export { IdcSchemaError } from "./columns.js";
export { bucketFor, parseIdcSource, listOption, PRIMARY_BUCKET, GCS_XML_ENDPOINT, type IdcSource } from "./buckets.js";
export { attributesOf } from "./attributes.js";
export { SeriesListings } from "./series-listing.js";

export interface IdcMountOptions extends IndexSourceOptions {
  filter: IdcFilter;
  /** IDC's buckets as one store (an IdcStore, possibly metered): keys are `<aws_bucket>/<key>`. */
  store: ReadableStore;
  uid: number;
  gid: number;
  prefetch?: Partial<PrefetcherConfig>;
  /** The end of the read chain (e.g. the chunk cache over `store`); a direct reader by default. */
  reader?: RangeReader;
  /** Where hidden index entries are reported (names that cannot be file names); stderr at warn by default. */
  log?: Logger;
}

export interface IdcMount {
  /** The one Filesystem over the IDC namespace; closing it closes the index and listing databases. */
  fs: Filesystem;
  tree: IdcTree;
  index: ResolvedIndex;
  close(): void;
}

/** Series listings are version-independent (a series UUID is immutable): one cache per machine. */
export function listingsPath(cacheDir: string): string {
  privateDir(join(cacheDir, "idc"));
  return join(cacheDir, "idc", "series-listings.sqlite");
}

export async function openIdc(options: IdcMountOptions): Promise<IdcMount> {
  const index = await resolveIndex(options);
  const db = new IdcIndexDb(index.dbPath, options.filter);
  const listings = new SeriesListings(listingsPath(options.cacheDir), options.store, options.log);
  const tree = new IdcTree(db, listings, options.log);
  const loadedAt = Date.parse(db.meta().loaded_at ?? "") || Date.now();
  const namespace = new IdcNamespace(
    tree,
    { uid: options.uid, gid: options.gid, mtimeMs: loadedAt, version: index.version },
    () => {
      db.close();
      listings.close();
    },
  );
  const fs = createReadOnlyFilesystem(namespace, {
    reader: options.reader ?? new DirectReader(options.store),
    prefetch: options.prefetch,
  });
  return { fs, tree, index, close: () => fs.close() };
}
