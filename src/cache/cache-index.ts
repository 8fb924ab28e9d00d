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
 *
 * The database is private (0600, with its -wal and -shm). Under `--encrypt-cache` it is given an
 * IndexProtector (src/security/at-rest.ts): then no object key, store, ETag or CRC of plaintext
 * is stored in clear. The columns the index matches or sums on hold keyed tags or nothing
 * (id, source, key, etag: tags; crc, idx, offset, length: 0), and the row itself is kept sealed
 * (AES-GCM, bound to its tagged id) in `sealed`, opened again by `all()`. Rows sealed under
 * another key, or sealed when no protector is given, are dropped: the index is rebuildable.
 * Clear rows an unencrypted run left are sealed when the index is opened with a protector, and
 * SQLite's secure_delete keeps their old bytes out of the freed pages.
 */
import Database from "better-sqlite3";
import { privateDatabase } from "../os/private-file.js";
import type { ChunkHeader } from "./chunk-format.js";

/** Numbered migrations; `PRAGMA user_version` records how many have run. */
const MIGRATIONS = [
  `CREATE TABLE chunks (
     id TEXT PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, idx INTEGER NOT NULL,
     offset INTEGER NOT NULL, length INTEGER NOT NULL, charged INTEGER NOT NULL, crc INTEGER NOT NULL, atime INTEGER NOT NULL);
   CREATE INDEX chunks_atime ON chunks (atime);`,
  "ALTER TABLE chunks ADD COLUMN sealed BLOB",
];

/** Keeps what an index row says out of the database file (`--encrypt-cache`). */
export interface IndexProtector {
  /** A keyed, deterministic stand-in for `value`: equal values give equal tags. */
  tag(purpose: string, value: string): string;
  seal(plain: Buffer, aad: Buffer): Buffer;
  /** Throws if `sealed` was altered, or sealed under another key or for another AAD. */
  open(sealed: Buffer, aad: Buffer): Buffer;
}

export interface IndexRow extends ChunkHeader {
  id: string;
  /** Bytes the file takes on disk (header + data, rounded to the filesystem block). */
  charged: number;
  /** Last use, ms since the epoch: eviction order after a restart. */
  atime: number;
}

interface RawRow {
  id: string;
  source: string;
  key: string;
  etag: string;
  idx: number;
  offset: number;
  length: number;
  charged: number;
  crc: number;
  atime: number;
  sealed: Buffer | null;
}

type StoredRow = Omit<RawRow, "idx"> & { index: number };

/** The fields of a row that a protected index keeps sealed. */
type SealedFields = Pick<IndexRow, "id" | "source" | "key" | "etag" | "index" | "offset" | "length" | "crc">;

export class CacheIndex {
  private readonly db: Database.Database;
  private readonly upsertStatement: Database.Statement;
  private readonly deleteStatement: Database.Statement;
  private readonly touchStatement: Database.Statement;

  /** Opens (or creates) the index; throws if the file is not a usable database. */
  constructor(
    path: string,
    readonly readonly = false,
    private readonly protector?: IndexProtector,
  ) {
    if (!readonly) privateDatabase(path);
    this.db = new Database(path, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma("journal_mode = WAL");
      // The index is rebuildable: losing the last batch on power loss is fine, fsyncs are not.
      this.db.pragma("synchronous = OFF");
      if (protector) this.db.pragma("secure_delete = ON");
      this.migrate();
    }
    this.db.pragma("quick_check");
    this.upsertStatement = this.db.prepare(
      `INSERT OR REPLACE INTO chunks (id, source, key, etag, idx, offset, length, charged, crc, atime, sealed)
       VALUES (@id, @source, @key, @etag, @index, @offset, @length, @charged, @crc, @atime, @sealed)`,
    );
    this.deleteStatement = this.db.prepare("DELETE FROM chunks WHERE id = ?");
    this.touchStatement = this.db.prepare("UPDATE chunks SET atime = ? WHERE id = ?");
    if (!readonly) this.settleProtection();
  }

  /** Every row, least recently used first. */
  all(): IndexRow[] {
    const rows = this.db.prepare("SELECT * FROM chunks ORDER BY atime ASC").all() as RawRow[];
    return rows.flatMap((r) => {
      if (!this.protector)
        return r.sealed
          ? []
          : [
              {
                id: r.id,
                source: r.source,
                key: r.key,
                etag: r.etag,
                index: r.idx,
                offset: r.offset,
                length: r.length,
                charged: r.charged,
                crc: r.crc >>> 0,
                atime: r.atime,
              },
            ];
      const fields = r.sealed ? this.unseal(r.id, r.sealed) : undefined;
      return fields ? [{ ...fields, charged: r.charged, atime: r.atime }] : [];
    });
  }

  summary(): { chunks: number; bytes: number; objects: number } {
    const row = this.db
      .prepare(
        "SELECT COUNT(*) AS chunks, COALESCE(SUM(charged), 0) AS bytes, COUNT(DISTINCT source || char(0) || key || char(0) || etag) AS objects FROM chunks",
      )
      .get() as { chunks: number; bytes: number; objects: number };
    return row;
  }

  /** Applies one batch of changes in a single transaction. */
  apply(batch: { upserts: IndexRow[]; deletes: string[]; touches: Map<string, number> }): void {
    this.db.transaction(() => {
      for (const row of batch.upserts) this.upsertStatement.run(this.stored(row));
      for (const id of batch.deletes) this.deleteStatement.run(this.storedId(id));
      for (const [id, atime] of batch.touches) this.touchStatement.run(atime, this.storedId(id));
    })();
  }

  replaceAll(rows: IndexRow[]): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM chunks").run();
      for (const row of rows) this.upsertStatement.run(this.stored(row));
    })();
  }

  /** The id a row is stored under: a tag under protection (the chunk id hashes key and ETag unkeyed). */
  private storedId(id: string): string {
    return this.protector ? this.protector.tag("chunk id", id) : id;
  }

  /** A row as written: in clear, or tagged and sealed. */
  private stored(row: IndexRow): StoredRow & { sealed: Buffer | null } {
    if (!this.protector) return { ...row, sealed: null };
    const p = this.protector;
    const id = this.storedId(row.id);
    const fields: SealedFields = {
      id: row.id,
      source: row.source,
      key: row.key,
      etag: row.etag,
      index: row.index,
      offset: row.offset,
      length: row.length,
      crc: row.crc,
    };
    return {
      id,
      source: p.tag("source", row.source),
      key: p.tag("key", `${row.source}\0${row.key}`),
      etag: p.tag("etag", `${row.source}\0${row.key}\0${row.etag}`),
      index: 0,
      offset: 0,
      length: 0,
      crc: 0,
      charged: row.charged,
      atime: row.atime,
      sealed: p.seal(Buffer.from(JSON.stringify(fields)), Buffer.from(id)),
    };
  }

  private unseal(storedId: string, sealed: Buffer): SealedFields | undefined {
    try {
      const fields = JSON.parse(this.protector!.open(sealed, Buffer.from(storedId)).toString("utf8")) as SealedFields;
      return this.storedId(fields.id) === storedId ? fields : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Makes the rows match the protection this index was opened with: clear rows are sealed (a run
   * without --encrypt-cache left them), rows that cannot be read are dropped (sealed under
   * another key, or sealed while this run has no key).
   */
  private settleProtection(): void {
    const rows = this.db.prepare("SELECT * FROM chunks").all() as RawRow[];
    const clear = rows.filter((r) => r.sealed === null);
    const unreadable = rows.filter((r) => r.sealed !== null && (!this.protector || !this.unseal(r.id, r.sealed)));
    if (unreadable.length === 0 && (!this.protector || clear.length === 0)) return;
    this.db.transaction(() => {
      for (const r of unreadable) this.db.prepare("DELETE FROM chunks WHERE id = ?").run(r.id);
      if (!this.protector) return;
      for (const r of clear) {
        this.db.prepare("DELETE FROM chunks WHERE id = ?").run(r.id);
        this.upsertStatement.run(
          this.stored({
            id: r.id,
            source: r.source,
            key: r.key,
            etag: r.etag,
            index: r.idx,
            offset: r.offset,
            length: r.length,
            charged: r.charged,
            crc: r.crc >>> 0,
            atime: r.atime,
          }),
        );
      }
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

  constructor(
    private readonly index: CacheIndex,
    private readonly onError: (err: unknown) => void,
  ) {}

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
