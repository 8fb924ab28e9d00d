/**
 * The files of a series: the `.dcm` objects under `<bucket>/<crdc_series_uuid>/`, listed with
 * anonymous requests through the IdcStore (keys `<bucket>/<uuid>/<file>`). A crdc_series_uuid names one immutable version of a series (any change
 * gives a new UUID), so a listing never goes stale: it is kept in SQLite on disk indefinitely,
 * in memory while recently used, and concurrent first lookups share one LIST. Keys whose name
 * under the series cannot be a file name (`<uuid>//x.dcm`, NUL, nested) are left out and logged
 * once (names.ts). The database is private (0600).
 */
import Database from "better-sqlite3";
import { LRUCache } from "lru-cache";
import type { Logger } from "../log/logger.js";
import { privateDatabase } from "../os/private-file.js";
import { listAll, type ReadableStore } from "../store/object-store.js";
import { HiddenNames } from "./names.js";

export interface InstanceEntry {
  /** `<crdc_instance_uuid>.dcm` */
  name: string;
  size: number;
  etag: string;
  mtimeMs: number;
}

export class SeriesListings {
  private readonly db: Database.Database;
  private readonly memory = new LRUCache<string, InstanceEntry[]>({ max: 2_000 });
  private readonly inFlight = new Map<string, Promise<InstanceEntry[]>>();
  private readonly select: Database.Statement;
  private readonly known: Database.Statement;
  private readonly save: (uuid: string, bucket: string, entries: InstanceEntry[]) => void;

  private readonly hidden: HiddenNames;

  constructor(
    dbPath: string,
    private readonly store: ReadableStore,
    log?: Logger,
  ) {
    this.hidden = new HiddenNames(log);
    privateDatabase(dbPath);
    this.db = new Database(dbPath);
    this.db.pragma("journal_mode = WAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS listed(series_uuid TEXT PRIMARY KEY, bucket TEXT NOT NULL, listed_at TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS instances(series_uuid TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
        mtime_ms INTEGER NOT NULL, PRIMARY KEY(series_uuid, name)) WITHOUT ROWID;`);
    this.select = this.db.prepare(
      "SELECT name, size, etag, mtime_ms AS mtimeMs FROM instances WHERE series_uuid = ? ORDER BY name",
    );
    this.known = this.db.prepare("SELECT 1 FROM listed WHERE series_uuid = ?");
    const insert = this.db.prepare(
      "INSERT OR REPLACE INTO instances(series_uuid, name, size, etag, mtime_ms) VALUES (?, ?, ?, ?, ?)",
    );
    const mark = this.db.prepare("INSERT OR REPLACE INTO listed(series_uuid, bucket, listed_at) VALUES (?, ?, ?)");
    this.save = this.db.transaction((uuid: string, bucket: string, entries: InstanceEntry[]) => {
      for (const e of entries) insert.run(uuid, e.name, e.size, e.etag, e.mtimeMs);
      mark.run(uuid, bucket, new Date().toISOString());
    });
  }

  /** The series' files, sorted by name. Throws StoreError when the bucket cannot be listed. */
  async list(bucket: string, seriesUuid: string, signal?: AbortSignal): Promise<InstanceEntry[]> {
    const cached = this.memory.get(seriesUuid) ?? this.fromDisk(seriesUuid);
    if (cached) return cached;
    let pending = this.inFlight.get(seriesUuid);
    if (!pending) {
      pending = this.fromBucket(bucket, seriesUuid, signal).finally(() => this.inFlight.delete(seriesUuid));
      this.inFlight.set(seriesUuid, pending);
    }
    return pending;
  }

  /** True when the listing is on disk already (prefetch planning, tests). */
  isCached(seriesUuid: string): boolean {
    return this.memory.has(seriesUuid) || this.known.get(seriesUuid) !== undefined;
  }

  close(): void {
    this.db.close();
  }

  private fromDisk(seriesUuid: string): InstanceEntry[] | undefined {
    if (this.known.get(seriesUuid) === undefined) return undefined;
    const entries = this.select.all(seriesUuid) as InstanceEntry[];
    this.memory.set(seriesUuid, entries);
    return entries;
  }

  private async fromBucket(bucket: string, seriesUuid: string, signal?: AbortSignal): Promise<InstanceEntry[]> {
    const prefix = `${bucket}/${seriesUuid}/`;
    const entries: InstanceEntry[] = [];
    for await (const object of listAll(this.store, prefix, signal)) {
      const name = object.key.slice(prefix.length);
      // Only the instance files, as idc-index keeps them: nothing nested, nothing that is no file name.
      if (name.endsWith(".dcm") && this.hidden.showable(prefix, name)) {
        entries.push({ name, size: object.size, etag: object.etag, mtimeMs: object.lastModified.getTime() });
      }
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.save(seriesUuid, bucket, entries);
    this.memory.set(seriesUuid, entries);
    return entries;
  }
}
