/**
 * The SQLite index of the chunk cache (better-sqlite3, WAL): which chunk files exist, their size,
 * checksum and last use, so a restarted mount knows its cache without reading every file.
 *
 * It is only an index. The chunk files validate themselves; a row whose file is missing or bad
 * is a miss, and a deleted or corrupt database is rebuilt from the files (see ChunkCache.open).
 *
 * better-sqlite3 is synchronous and runs on the event loop, so the read path never touches it:
 * the cache keeps its live state in memory and hands changes to `IndexWriter`, which coalesces
 * them and applies them in one transaction per batch, off the hot path (a timer, or a full batch).
 */
import Database from "better-sqlite3";
import type { ChunkHeader } from "./chunk-format.js";

/** Numbered migrations; `PRAGMA user_version` records how many have run. */
const MIGRATIONS = [
  `CREATE TABLE chunks (
     id TEXT PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, idx INTEGER NOT NULL,
     offset INTEGER NOT NULL, length INTEGER NOT NULL, charged INTEGER NOT NULL, crc INTEGER NOT NULL, atime INTEGER NOT NULL);
   CREATE INDEX chunks_atime ON chunks (atime);`,
];

export interface IndexRow extends ChunkHeader {
  id: string;
  /** Bytes the file takes on disk (header + data, rounded to the filesystem block). */
  charged: number;
  /** Last use, ms since the epoch: eviction order after a restart. */
  atime: number;
}

interface RawRow {
  id: string; source: string; key: string; etag: string; idx: number; offset: number; length: number; charged: number; crc: number; atime: number;
}

export class CacheIndex {
  private readonly db: Database.Database;
  private readonly upsertStatement: Database.Statement;
  private readonly deleteStatement: Database.Statement;
  private readonly touchStatement: Database.Statement;

  /** Opens (or creates) the index; throws if the file is not a usable database. */
  constructor(path: string, readonly readonly = false) {
    this.db = new Database(path, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma("journal_mode = WAL");
      // The index is rebuildable: losing the last batch on power loss is fine, fsyncs are not.
      this.db.pragma("synchronous = OFF");
      this.migrate();
    }
    this.db.pragma("quick_check");
    this.upsertStatement = this.db.prepare(
      `INSERT OR REPLACE INTO chunks (id, source, key, etag, idx, offset, length, charged, crc, atime)
       VALUES (@id, @source, @key, @etag, @index, @offset, @length, @charged, @crc, @atime)`);
    this.deleteStatement = this.db.prepare("DELETE FROM chunks WHERE id = ?");
    this.touchStatement = this.db.prepare("UPDATE chunks SET atime = ? WHERE id = ?");
  }

  /** Every row, least recently used first. */
  all(): IndexRow[] {
    const rows = this.db.prepare("SELECT * FROM chunks ORDER BY atime ASC").all() as RawRow[];
    return rows.map((r) => ({ id: r.id, source: r.source, key: r.key, etag: r.etag, index: r.idx, offset: r.offset, length: r.length, charged: r.charged, crc: r.crc >>> 0, atime: r.atime }));
  }

  summary(): { chunks: number; bytes: number; objects: number } {
    const row = this.db.prepare("SELECT COUNT(*) AS chunks, COALESCE(SUM(charged), 0) AS bytes, COUNT(DISTINCT source || char(0) || key || char(0) || etag) AS objects FROM chunks").get() as { chunks: number; bytes: number; objects: number };
    return row;
  }

  /** Applies one batch of changes in a single transaction. */
  apply(batch: { upserts: IndexRow[]; deletes: string[]; touches: Map<string, number> }): void {
    this.db.transaction(() => {
      for (const row of batch.upserts) this.upsertStatement.run(row);
      for (const id of batch.deletes) this.deleteStatement.run(id);
      for (const [id, atime] of batch.touches) this.touchStatement.run(atime, id);
    })();
  }

  replaceAll(rows: IndexRow[]): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM chunks").run();
      for (const row of rows) this.upsertStatement.run(row);
    })();
  }

  close(): void {
    this.db.close();
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }
}

/** How long changes may wait before they are written; a crash loses at most this much index. */
const FLUSH_INTERVAL_MS = 500;
/** A batch this large is written at once (on the next turn of the event loop). */
const FLUSH_BATCH = 2_000;

/**
 * Coalesces index changes and writes them in batches. The last change to a chunk wins: an
 * upsert followed by a delete is a delete, and touches of deleted chunks are dropped.
 */
export class IndexWriter {
  private upserts = new Map<string, IndexRow>();
  private deletes = new Set<string>();
  private touches = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** Batches written and the time spent in SQLite: shown by the benchmark and `cache stats`. */
  readonly stats = { batches: 0, rows: 0, millis: 0 };

  constructor(private readonly index: CacheIndex, private readonly onError: (err: unknown) => void) {}

  upsert(row: IndexRow): void {
    this.deletes.delete(row.id);
    this.touches.delete(row.id);
    this.upserts.set(row.id, row);
    this.schedule();
  }

  delete(id: string): void {
    this.upserts.delete(id);
    this.touches.delete(id);
    this.deletes.add(id);
    this.schedule();
  }

  touch(id: string, atime: number): void {
    const pending = this.upserts.get(id);
    if (pending) pending.atime = atime;
    else this.touches.set(id, atime);
    this.schedule();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
    const size = this.upserts.size + this.deletes.size + this.touches.size;
    if (size === 0) return;
    const batch = { upserts: [...this.upserts.values()], deletes: [...this.deletes], touches: this.touches };
    this.upserts = new Map();
    this.deletes = new Set();
    this.touches = new Map();
    const started = performance.now();
    try {
      this.index.apply(batch);
    } catch (err) {
      this.onError(err);
    }
    this.stats.batches++;
    this.stats.rows += size;
    this.stats.millis += performance.now() - started;
  }

  private schedule(): void {
    if (this.upserts.size + this.deletes.size + this.touches.size >= FLUSH_BATCH) {
      this.immediate ??= setImmediate(() => this.flush());
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }
}
