/**
 * The crash-safe upload journal: one SQLite database (WAL, synchronous=FULL) per mount source,
 * recording every file whose data is staged for an upload that has not yet succeeded.
 *
 * An entry is written (and fsynced by SQLite) *after* the staging file itself was fsynced, and
 * before a multipart upload starts or as soon as any upload failed; it is removed only after the
 * upload succeeded. So after a crash (`kill -9`, power loss) every entry names a complete staging
 * file whose bytes were handed to close/fsync, and the next mount finishes those uploads. Entries are keyed by staging file:
 * a file's staging file never changes while it has local data.
 * The database names user files: it is private (0600 with its -wal and -shm, in a 0700 directory).
 */
import Database from "better-sqlite3";
import { dirname } from "node:path";
import { privateDatabase, privateDir } from "../os/private-file.js";
import type { SparseRecord } from "./sparse-content.js";

/**
 * "conflict": a copy of the user's data that is not the file at its path (never superseded);
 * "incomplete": kept for the user after a staging write failed; listed, never uploaded.
 */
export type JournalState = "pending" | "failed" | "conflict" | "incomplete";

export interface JournalRecord {
  stagingFile: string;
  path: string;
  key: string;
  size: number;
  /** ETag the data was based on; absent for a new file (which must not exist yet). */
  baseEtag?: string;
  /** False when the base is unknown (e.g. after a directory rename): upload unconditionally. */
  conflictCheck: boolean;
  metadata: Record<string, string>;
  contentType?: string;
  /** For a sparse file: its base object and changed ranges (bytes outside them are in the base). */
  sparse?: SparseRecord;
}

export interface JournalEntry extends JournalRecord {
  state: JournalState;
  error?: string;
  updatedAt: number;
}

interface Row {
  staging_file: string;
  path: string;
  object_key: string;
  size: number;
  base_etag: string | null;
  conflict_check: number;
  metadata: string;
  content_type: string | null;
  state: JournalState;
  error: string | null;
  updated_at: number;
  sparse: string | null;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS uploads (
  staging_file TEXT PRIMARY KEY, path TEXT NOT NULL, object_key TEXT NOT NULL, size INTEGER NOT NULL,
  base_etag TEXT, conflict_check INTEGER NOT NULL, metadata TEXT NOT NULL, content_type TEXT,
  state TEXT NOT NULL, error TEXT, updated_at INTEGER NOT NULL, sparse TEXT)`;

export class UploadJournal {
  private readonly db: Database.Database;

  /** `path` = ":memory:" gives a journal that does not survive the process (unit tests). */
  constructor(readonly path: string) {
    if (path !== ":memory:") {
      privateDir(dirname(path));
      privateDatabase(path);
    }
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // FULL: a committed entry survives power loss, which is the point of this journal.
    this.db.pragma("synchronous = FULL");
    this.db.exec(SCHEMA);
    this.migrate();
  }

  /** Journals written before sparse files existed lack the column; their entries are all whole files. */
  private migrate(): void {
    const columns = this.db.prepare("PRAGMA table_info(uploads)").all() as { name: string }[];
    if (!columns.some((c) => c.name === "sparse")) this.db.exec("ALTER TABLE uploads ADD COLUMN sparse TEXT");
  }

  /** Records (or refreshes) a file about to be uploaded, as pending. */
  record(r: JournalRecord): void {
    this.db
      .prepare(
        `INSERT INTO uploads (staging_file, path, object_key, size, base_etag, conflict_check, metadata, content_type, state, error, updated_at, sparse)
      VALUES (@staging_file, @path, @object_key, @size, @base_etag, @conflict_check, @metadata, @content_type, 'pending', NULL, @updated_at, @sparse)
      ON CONFLICT(staging_file) DO UPDATE SET path = excluded.path, object_key = excluded.object_key, size = excluded.size,
        base_etag = excluded.base_etag, conflict_check = excluded.conflict_check, metadata = excluded.metadata,
        content_type = excluded.content_type, state = 'pending', error = NULL, updated_at = excluded.updated_at, sparse = excluded.sparse`,
      )
      .run({
        staging_file: r.stagingFile,
        path: r.path,
        object_key: r.key,
        size: r.size,
        base_etag: r.baseEtag ?? null,
        conflict_check: r.conflictCheck ? 1 : 0,
        metadata: JSON.stringify(r.metadata),
        content_type: r.contentType ?? null,
        updated_at: Date.now(),
        sparse: r.sparse ? JSON.stringify(r.sparse) : null,
      });
  }

  markFailed(stagingFile: string, error: string, state: Exclude<JournalState, "pending"> = "failed"): void {
    this.db
      .prepare("UPDATE uploads SET state = ?, error = ?, updated_at = ? WHERE staging_file = ?")
      .run(state, error, Date.now(), stagingFile);
  }

  remove(stagingFile: string): void {
    this.db.prepare("DELETE FROM uploads WHERE staging_file = ?").run(stagingFile);
  }

  entries(): JournalEntry[] {
    return (this.db.prepare("SELECT * FROM uploads ORDER BY updated_at").all() as Row[]).map((row) => ({
      stagingFile: row.staging_file,
      path: row.path,
      key: row.object_key,
      size: row.size,
      baseEtag: row.base_etag ?? undefined,
      conflictCheck: row.conflict_check === 1,
      metadata: JSON.parse(row.metadata) as Record<string, string>,
      contentType: row.content_type ?? undefined,
      sparse: row.sparse ? (JSON.parse(row.sparse) as SparseRecord) : undefined,
      state: row.state,
      error: row.error ?? undefined,
      updatedAt: row.updated_at,
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
