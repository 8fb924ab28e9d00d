/**
 * The directory tree, built from key prefixes and `dir/` marker objects, with a stat cache.
 *
 * A path is a directory when objects exist under `<key>/` or a marker object `<key>/` exists;
 * it is a file when an object `<key>` exists. When both hold, the directory wins and the file is
 * hidden (it stays reachable through the store, never through the mount).
 *
 * Stats are cached for `metadataTtlMs` (misses for `negativeTtlMs`). A listing seeds the cache
 * with what LIST returns (size, ETag, LastModified). Modes, owners and times come from
 * KnownAttributes when this version of the object was read before (even in an earlier mount);
 * entries never seen, and subdirectories (whose marker a LIST does not describe), get bounded
 * parallel HEADs before readdir returns, so `ls -l` (and the kernel, which takes the attributes
 * readdir gives) never sees a default mode where the object has its own.
 *
 * Listings are cached for the same TTL, so a warm `ls -l` costs no request at all, and a name a
 * fresh listing does not hold is missing without a request (`cp -r` into a new directory looks
 * up every name before creating it: 3 requests per file otherwise). A change made through the
 * mount updates the parent's cached listing (remember/rememberMissing) or drops it (forget,
 * forgetTree); files not yet uploaded are merged in at every call, never cached.
 */
import { LRUCache } from "lru-cache";
import pLimit from "p-limit";
import type { Logger } from "../log/logger.js";
import { isStoreError } from "../store/errors.js";
import type { ObjectVersion } from "../read/range-reader.js";
import type { ListedObject, ObjectInfo, ObjectStore } from "../store/object-store.js";
import { FsError, notFound } from "./errors.js";
import type { KnownAttributes } from "./known-attributes.js";
import { decodeAttributes } from "../store/s3fs-metadata.js";
import { kindFromMode, typeBits } from "./file-kind.js";
import { NAME_MAX, invalidNameReason, joinPath, parentOf, type KeyMapper } from "./paths.js";
import { S_IFDIR, S_IFMT, type DirEntry, type FileStat, type FsStatfs } from "./types.js";
import type { LocalOverlay, NamespaceConfig, WritableNamespace } from "./namespace.js";

type CachedStat = { stat: FileStat } | { missing: true };

/**
 * HEADs in flight while a readdir completes the attributes of entries it has not seen. A HEAD
 * is small and latency-bound; 32 (half the agent's sockets) overlap them well without starving
 * reads that run at the same time. Profile of a cold `ls -l` of 2,000 objects: most daemon CPU
 * is the socket writes of the requests, not JavaScript per request.
 */
const READDIR_HEADS = 32;
/** Bounded HEADs started while a listing is still arriving; `done` waits for all of them. */
class AttributeHeads {
  private readonly limit;
  private readonly running: Promise<void>[] = [];
  constructor(parallel: number) {
    this.limit = pLimit(parallel);
  }
  add(head: () => Promise<void>): void {
    this.running.push(this.limit(head));
  }
  async done(): Promise<void> {
    await Promise.all(this.running);
  }
}

/**
 * At most `entries` entries, counted by size rather than `max`: lru-cache allocates `max` slots up
 * front (200,000 cost about 40 ms and a GC at every mount's start), while a size bound grows.
 */
function growingTo(entries: number): { maxSize: number; sizeCalculation: () => number } {
  return { maxSize: entries, sizeCalculation: () => 1 };
}

/** A listed entry whose attributes are not known yet (a LIST does not carry metadata). */
type Listed = DirEntry & { unknown?: "object" | "dir" };

export class BucketNamespace implements WritableNamespace {
  private readonly cache: LRUCache<string, CachedStat>;
  /** Bucket entries of recently listed directories (without the local overlay). */
  private readonly listings: LRUCache<string, DirEntry[]>;
  /**
   * Directory mtime/ctime moved by entries created, removed or renamed through this mount. A
   * prefix has no object to keep times in (and rewriting a marker per change would cost a copy
   * each), so they live here for the mount's lifetime and override what the bucket says.
   */
  private readonly dirTimes = new LRUCache<string, { mtimeMs: number; ctimeMs: number }>(growingTo(100_000));
  private readonly warnedKeys = new Set<string>();
  private readonly mountTime = Date.now();

  constructor(
    private readonly store: ObjectStore,
    readonly mapper: KeyMapper,
    private readonly config: NamespaceConfig,
    private readonly log: Logger,
    private readonly overlay: LocalOverlay,
    private readonly known?: KnownAttributes,
    /** HEADs sent by the native addon (S3 with the libfuse3 binding); readdir falls back to the store's. */
    private readonly nativeHead?: (key: string) => Promise<ObjectInfo>,
  ) {
    const time = config.clock ? { perf: config.clock, ttlResolution: 0 } : {};
    this.cache = new LRUCache<string, CachedStat>({
      ...growingTo(200_000),
      ttl: Math.max(1, config.metadataTtlMs),
      ...time,
    });
    // Bounded by directories and by total entries (a listing of N entries weighs N).
    this.listings = new LRUCache<string, DirEntry[]>({
      max: 1_000,
      maxSize: 500_000,
      sizeCalculation: (e) => Math.max(1, e.length),
      ttl: Math.max(1, config.metadataTtlMs),
      ...time,
    });
  }

  async lookup(path: string): Promise<FileStat> {
    const stat = await this.tryLookup(path);
    if (!stat) throw notFound(path);
    return stat;
  }

  async tryLookup(path: string): Promise<FileStat | undefined> {
    const stat = await this.tryLookupFromStore(path);
    return stat && this.withDirTimes(path, stat);
  }

  /** An entry was created in, removed from or renamed into/out of `dir`: its mtime and ctime move. */
  touchDir(dir: string, now = Date.now()): void {
    this.dirTimes.set(dir, { mtimeMs: now, ctimeMs: now });
  }

  private withDirTimes(path: string, stat: FileStat): FileStat {
    const times = stat.kind === "dir" ? this.dirTimes.get(path) : undefined;
    return times ? { ...stat, ...times } : stat;
  }

  private async tryLookupFromStore(path: string): Promise<FileStat | undefined> {
    if (path === "/") return this.dirStat();
    // No such name can exist: say why (ENAMETOOLONG), not that it is missing.
    if (path.split("/").some((name) => Buffer.byteLength(name) > NAME_MAX))
      throw new FsError("ENAMETOOLONG", `file name too long: ${path}`);
    this.mapper.fileKey(path); // ENAMETOOLONG beyond the key limit
    const local = this.overlay.statOf(path);
    if (local) return local;
    const cached = this.cache.get(path);
    if (cached) return "stat" in cached ? cached.stat : undefined;
    if (this.listedWithout(path)) return undefined;
    const stat = await this.fetchStat(path);
    // Cached without dropping the parent's listing: a lookup changes nothing in the bucket.
    if (stat) this.cache.set(path, { stat });
    else this.cache.set(path, { missing: true }, { ttl: Math.max(1, this.config.negativeTtlMs) });
    return stat;
  }

  async readVersion(path: string, stat: FileStat): Promise<ObjectVersion> {
    return { key: this.mapper.fileKey(path), etag: stat.etag ?? "", size: stat.size };
  }

  statfs(): FsStatfs {
    // Buckets have no capacity limit; report a large, stable size (1 PiB in 1 MiB blocks, which
    // fits fuse-native's 32-bit fields) so that df, cp and installers see plenty of room.
    const blocks = 2 ** 30;
    return { blockSize: 1024 * 1024, blocks, blocksFree: blocks, files: 2 ** 31, filesFree: 2 ** 31, nameMax: 255 };
  }

  close(): void {
    this.known?.close();
  }

  async lookupDir(path: string): Promise<FileStat> {
    const stat = await this.lookup(path);
    if (stat.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${path}`);
    return stat;
  }

  /** Lists a directory from the bucket, merged with local files not yet uploaded. */
  async list(path: string): Promise<DirEntry[]> {
    const listed = this.listings.get(path) ?? (await this.listFromStore(path));
    const entries = new Map<string, DirEntry>(listed.map((e) => [e.name, e]));
    for (const local of this.overlay.entriesIn(path)) entries.set(local.name, local);
    return [...entries.values()].map((e) =>
      e.stat.kind === "dir" ? { name: e.name, stat: this.withDirTimes(joinPath(path, e.name), e.stat) } : e,
    );
  }

  private async listFromStore(path: string): Promise<DirEntry[]> {
    const prefix = this.mapper.dirPrefix(path);
    const entries = new Map<string, Listed>();
    // HEADs for entries a page could not describe start as soon as that page arrives, so they
    // overlap the rest of the listing instead of waiting for its last page.
    const heads = new AttributeHeads(READDIR_HEADS);
    // A server that hands out a token it handed out before would loop this readdir forever (the
    // stores refuse the simplest case, the same token straight back; this catches any cycle).
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.store.list({ prefix, delimiter: "/", token });
      const added: Listed[] = [];
      for (const object of page.objects) this.addListedObject(entries, prefix, object, added);
      for (const sub of page.prefixes) this.addListedPrefix(entries, prefix, sub, added);
      for (const entry of added) if (entry.unknown) heads.add(() => this.completeAttributes(path, entry));
      token = page.nextToken;
      if (token !== undefined) {
        if (tokens.has(token)) {
          throw new FsError(
            "EIO",
            `listing of ${path} stopped: the server sent continuation token ${JSON.stringify(token)} a second time (a LIST that goes round in circles)`,
          );
        }
        tokens.add(token);
      }
    } while (token);
    await heads.done();
    for (const entry of entries.values()) this.seed(joinPath(path, entry.name), entry.stat);
    const listed = [...entries.values()].map(({ name, stat }) => ({ name, stat }));
    this.listings.set(path, listed);
    return listed;
  }

  /** A change made through the mount: cache the new stat, and put it in the parent's listing. */
  remember(path: string, stat: FileStat): void {
    this.cache.set(path, { stat });
    this.updateListing(path, stat);
  }

  /** A directory just created through the mount: nothing is below it (mkdir checked). */
  rememberNewDir(path: string, stat: FileStat): void {
    this.remember(path, stat);
    this.listings.set(path, []);
  }

  rememberMissing(path: string): void {
    this.forgetKnown(path);
    this.cache.set(path, { missing: true }, { ttl: Math.max(1, this.config.negativeTtlMs) });
    this.updateListing(path, undefined);
  }

  /** Drops what is known of a path (and its parent's listing): the bucket may differ from it. */
  forget(path: string): void {
    this.forgetKnown(path);
    this.dirTimes.delete(path); // a directory's times set by utimens (marker metadata) win again
    this.cache.delete(path);
    this.listings.delete(parentOf(path));
  }

  /** The object at `path` changed in a way its ETag may not show (a metadata copy keeps it). */
  private forgetKnown(path: string): void {
    if (this.known && path !== "/") this.known.forget(this.mapper.fileKey(path));
  }

  /** Drops only the cached stat of a path, e.g. the miss cached before a file was created. */
  forgetStat(path: string): void {
    this.cache.delete(path);
  }

  /** True when the parent's cached listing is fresh and does not hold this name. */
  private listedWithout(path: string): boolean {
    const listing = this.listings.get(parentOf(path));
    const name = path.slice(path.lastIndexOf("/") + 1);
    return listing !== undefined && !listing.some((e) => e.name === name);
  }

  private updateListing(path: string, stat: FileStat | undefined): void {
    const parent = parentOf(path);
    const listing = this.listings.get(parent);
    if (!listing) return;
    const name = path.slice(path.lastIndexOf("/") + 1);
    const others = listing.filter((e) => e.name !== name);
    // Re-set (not mutated) so the cache re-weighs it, keeping the LIST's expiry: changes made
    // here must not keep another client's objects out of view past the TTL.
    const ttl = Math.max(1, this.listings.getRemainingTTL(parent));
    this.listings.set(parent, stat ? [...others, { name, stat }] : others, { ttl });
  }

  /** Forgets a path and everything below it (after a directory rename or removal). */
  forgetTree(path: string): void {
    this.forget(path);
    const below = path === "/" ? "/" : `${path}/`;
    for (const key of [...this.dirTimes.keys()]) if (key === path || key.startsWith(below)) this.dirTimes.delete(key);
    for (const key of [...this.cache.keys()]) if (key.startsWith(below)) this.cache.delete(key);
    for (const key of [...this.listings.keys()]) if (key === path || key.startsWith(below)) this.listings.delete(key);
  }

  statFromObject(object: ObjectInfo | ListedObject, metadata: Record<string, string> = {}): FileStat {
    const attrs = decodeAttributes(metadata);
    const kind = kindFromMode(attrs.mode, "file");
    const permissions = attrs.mode !== undefined ? attrs.mode & ~S_IFMT : this.config.fileMode;
    const mtimeMs = attrs.mtimeMs ?? object.lastModified.getTime();
    return {
      kind,
      mode: typeBits(kind, attrs.mode) | permissions,
      uid: attrs.uid ?? this.config.uid,
      gid: attrs.gid ?? this.config.gid,
      size: object.size,
      mtimeMs,
      ctimeMs: attrs.ctimeMs ?? object.lastModified.getTime(),
      atimeMs: attrs.atimeMs ?? mtimeMs,
      etag: object.etag,
      ...(kind === "special" && attrs.rdev !== undefined ? { rdev: attrs.rdev } : {}),
    };
  }

  dirStat(metadata: Record<string, string> = {}, lastModified?: Date): FileStat {
    const attrs = decodeAttributes(metadata);
    const permissions = attrs.mode !== undefined ? attrs.mode & ~S_IFMT : this.config.dirMode;
    const time = attrs.mtimeMs ?? lastModified?.getTime() ?? this.mountTime;
    return {
      kind: "dir",
      mode: S_IFDIR | permissions,
      uid: attrs.uid ?? this.config.uid,
      gid: attrs.gid ?? this.config.gid,
      size: 4096,
      mtimeMs: time,
      ctimeMs: attrs.ctimeMs ?? time,
      atimeMs: attrs.atimeMs ?? time,
    };
  }

  /** A fresh stat for a new file or directory created through the mount. */
  defaultAttributes(): { uid: number; gid: number } {
    return { uid: this.config.uid, gid: this.config.gid };
  }

  /** HEADs one entry a listing could not describe, replacing its stat. */
  private async completeAttributes(dir: string, entry: Listed): Promise<void> {
    const path = joinPath(dir, entry.name);
    const key = entry.unknown === "dir" ? this.mapper.dirPrefix(path) : this.mapper.fileKey(path);
    // A failed HEAD leaves the listing's stat: readdir still answers, as it did before.
    const head = this.nativeHead;
    const info = await (head ? head(key).catch(() => this.headOrUndefined(key)) : this.headOrUndefined(key)).catch(
      () => undefined,
    );
    if (!info) return;
    if (entry.unknown === "dir") {
      entry.stat = this.dirStat(info.metadata, info.lastModified);
    } else {
      this.known?.record(key, info.etag, info.lastModified, info.metadata);
      entry.stat = this.statFromObject(info, info.metadata);
    }
  }

  private async fetchStat(path: string): Promise<FileStat | undefined> {
    const key = this.mapper.fileKey(path);
    const [file, marker, children] = await Promise.all([
      this.headOrUndefined(key),
      this.headOrUndefined(`${key}/`),
      this.store.list({ prefix: `${key}/`, maxKeys: 1 }),
    ]);
    if (marker) return this.dirStat(marker.metadata, marker.lastModified);
    if (children.objects.length > 0 || children.prefixes.length > 0) return this.dirStat();
    if (file) this.known?.record(key, file.etag, file.lastModified, file.metadata);
    return file ? this.statFromObject(file, file.metadata) : undefined;
  }

  private async headOrUndefined(key: string): Promise<ObjectInfo | undefined> {
    try {
      return await this.store.head({ key });
    } catch (err) {
      if (isStoreError(err, "NotFound")) return undefined;
      throw err;
    }
  }

  private addListedObject(entries: Map<string, Listed>, prefix: string, object: ListedObject, added: Listed[]): void {
    const name = object.key.slice(prefix.length);
    if (name === "") return; // this directory's own marker
    if (!this.isShowable(object.key, name) || entries.get(name)?.stat.kind === "dir") return;
    // A listing that carries metadata (Azure) is the truth; otherwise what was read before, if the version is unchanged.
    const metadata = object.metadata ?? this.known?.lookup(object.key, object.etag, object.lastModified);
    const entry: Listed = {
      name,
      stat: this.statFromObject(object, metadata),
      ...(metadata || !this.known ? {} : { unknown: "object" as const }),
    };
    entries.set(name, entry);
    added.push(entry);
  }

  private addListedPrefix(entries: Map<string, Listed>, prefix: string, sub: string, added: Listed[]): void {
    const name = sub.slice(prefix.length, -1);
    if (!this.isShowable(sub, name)) return;
    const entry: Listed = { name, stat: this.dirStat(), ...(this.known ? { unknown: "dir" as const } : {}) };
    entries.set(name, entry);
    added.push(entry);
  }

  /** Keys that cannot be file names are hidden; each is logged once per mount. */
  private isShowable(key: string, name: string): boolean {
    const reason = invalidNameReason(name);
    if (!reason) return true;
    if (!this.warnedKeys.has(key)) {
      this.warnedKeys.add(key);
      this.log.warn({ key, reason }, "object hidden: its key cannot be shown as a file name");
    }
    return false;
  }

  /** Listing data never overrides a richer cached stat (from HEAD or a local write). */
  private seed(path: string, stat: FileStat): void {
    const cached = this.cache.get(path);
    if (cached && "stat" in cached && cached.stat.etag === stat.etag) return;
    this.cache.set(path, { stat });
  }
}
