/**
 * The POSIX attributes (mode, owner, times, rdev) last read from each object, valid for as long
 * as the object's ETag and LastModified are unchanged. Both come in every LIST page, so a listing
 * can show the right `ls -l` without a HEAD per entry, even after the metadata TTL expired and
 * after a remount: the table lives in SQLite beside the upload journal.
 *
 * LastModified is compared in whole seconds: HEAD reports it with second precision (an HTTP
 * date), LIST with milliseconds on some servers.
 *
 * Only the attribute subset is kept, re-encoded from what was parsed, so a foreign object's
 * metadata cannot grow a row beyond a few fields. Writes are batched into one transaction
 * (better-sqlite3 is synchronous and runs on the event loop).
 */
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { privateDatabase, privateDir } from "../os/private-file.js";
import { decodeAttributes, encodeAttributes } from "../store/s3fs-metadata.js";

const SCHEMA = `CREATE TABLE IF NOT EXISTS attributes (
  key TEXT PRIMARY KEY, etag TEXT NOT NULL, modified_s INTEGER NOT NULL, metadata TEXT NOT NULL)`;
const FLUSH_AFTER_MS = 200;
const FLUSH_BATCH = 2_000;

interface Row {
  etag: string;
  modified_s: number;
  metadata: string;
}
interface Pending {
  key: string;
  etag: string;
  modified_s: number;
  metadata: string;
}

export class KnownAttributes {
  private readonly db: Database.Database;
  private readonly select: Database.Statement<[string], Row>;
  private readonly upsert: Database.Statement<Pending>;
  private readonly remove: Database.Statement<[string]>;
  /** Recorded but not yet written; consulted first so a lookup sees its own writes. */
  private pending = new Map<string, Pending | undefined>();
  private timer: NodeJS.Timeout | undefined;

  /** `path` = ":memory:" keeps nothing across restarts (unit tests). */
  constructor(path: string) {
    if (path !== ":memory:") {
      privateDir(dirname(path));
      privateDatabase(path);
    }
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // A lost row costs one HEAD later, never a wrong answer: no need to sync every batch.
    this.db.pragma("synchronous = OFF");
    this.db.exec(SCHEMA);
    this.select = this.db.prepare("SELECT etag, modified_s, metadata FROM attributes WHERE key = ?");
    this.upsert = this.db
      .prepare(`INSERT INTO attributes (key, etag, modified_s, metadata) VALUES (@key, @etag, @modified_s, @metadata)
      ON CONFLICT(key) DO UPDATE SET etag = excluded.etag, modified_s = excluded.modified_s, metadata = excluded.metadata`);
    this.remove = this.db.prepare("DELETE FROM attributes WHERE key = ?");
  }

  /** The attribute metadata of this exact version of `key`, if it was read before. */
  lookup(key: string, etag: string, lastModified: Date): Record<string, string> | undefined {
    // After close (unmount) nothing is known: the answer costs a HEAD, never an exception.
    const row = this.pending.has(key) ? this.pending.get(key) : this.db.open ? this.select.get(key) : undefined;
    if (!row || row.etag !== etag || row.modified_s !== seconds(lastModified)) return undefined;
    try {
      const parsed = JSON.parse(row.metadata) as Record<string, string>;
      return encodeAttributes(decodeAttributes(parsed));
    } catch {
      return undefined;
    }
  }

  record(key: string, etag: string, lastModified: Date, metadata: Record<string, string>): void {
    if (!etag) return;
    const attributes = JSON.stringify(encodeAttributes(decodeAttributes(metadata)));
    this.queue(key, { key, etag, modified_s: seconds(lastModified), metadata: attributes });
  }

  forget(key: string): void {
    this.queue(key, undefined);
  }

  /** Writes what is still queued and closes the database (unmount): later writes are dropped. */
  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }

  private queue(key: string, row: Pending | undefined): void {
    this.pending.set(key, row);
    if (this.pending.size >= FLUSH_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS).unref();
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0 || !this.db.open) return;
    this.db.transaction(() => {
      for (const [key, row] of batch) {
        if (row) this.upsert.run(row);
        else this.remove.run(key);
      }
    })();
  }
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
