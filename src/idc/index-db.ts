/**
 * Read-only queries over the SQLite index built by index-loader.ts: one method per directory
 * level of the IDC tree, each a range scan of the covering `series_tree` index, with the mount's
 * filters (--collections, --modality) applied in SQL. Statements are prepared once.
 */
import Database from "better-sqlite3";
import { ATTRIBUTE_COLUMNS } from "./columns.js";
import { DB_SCHEMA_VERSION } from "./columns.js";

export interface IdcFilter {
  collections?: string[];
  modalities?: string[];
}

/** One child directory with what the index knows of its size. */
export interface IndexEntry {
  name: string;
  sizeMb: number;
}

export interface SeriesRecord {
  collection_id: string;
  PatientID: string;
  StudyInstanceUID: string;
  SeriesInstanceUID: string;
  Modality: string;
  aws_bucket: string;
  crdc_series_uuid: string;
  /** The optional attribute columns (NULL when the parquet lacked them). */
  attributes: Record<string, string | number | null>;
}

export interface Aggregate {
  seriesCount: number;
  studies: number;
  sizeMb: number;
  instances: number;
  /** Per column: its distinct non-NULL values, sorted, comma-joined. */
  lists: Record<string, string>;
}

export interface CollectionSummary {
  collection_id: string;
  patients: number;
  studies: number;
  series: number;
  size_mb: number;
  instances: number;
}

export class IdcIndexDb {
  private readonly db: Database.Database;
  private readonly where: string;
  private readonly params: string[];
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    readonly path: string,
    readonly filter: IdcFilter = {},
  ) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    const clauses: string[] = [];
    this.params = [];
    if (filter.collections?.length) {
      clauses.push(`collection_id IN (${filter.collections.map(() => "?").join(",")})`);
      this.params.push(...filter.collections);
    }
    if (filter.modalities?.length) {
      clauses.push(`Modality IN (${filter.modalities.map(() => "?").join(",")})`);
      this.params.push(...filter.modalities);
    }
    this.where = clauses.map((c) => ` AND ${c}`).join("");
  }

  meta(): Record<string, string> {
    const rows = this.db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  /** True when this file was built by this version of bucketfs's loader. */
  static isCurrent(path: string): boolean {
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
          { value: string } | undefined;
        return row?.value === DB_SCHEMA_VERSION;
      } finally {
        db.close();
      }
    } catch {
      return false;
    }
  }

  close(): void {
    this.db.close();
  }

  private query<T>(sql: string, ...args: (string | number)[]): T[] {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt.all(...args, ...this.params) as T[];
  }

  /** Summaries per collection; unfiltered mounts read the table precomputed at load time. */
  collections(): CollectionSummary[] {
    if (!this.where)
      return this.db.prepare("SELECT * FROM collections ORDER BY collection_id").all() as CollectionSummary[];
    return this.query<CollectionSummary>(
      `SELECT collection_id, COUNT(DISTINCT PatientID) AS patients, COUNT(DISTINCT StudyInstanceUID) AS studies, COUNT(*) AS series,
              TOTAL(series_size_MB) AS size_mb, TOTAL(instanceCount) AS instances
       FROM series WHERE 1=1${this.where} GROUP BY collection_id ORDER BY collection_id`,
    );
  }

  patients(collection: string): IndexEntry[] {
    return this.query<IndexEntry>(
      `SELECT PatientID AS name, TOTAL(series_size_MB) AS sizeMb FROM series WHERE collection_id = ?${this.where} GROUP BY PatientID ORDER BY PatientID`,
      collection,
    );
  }

  studies(collection: string, patient: string): IndexEntry[] {
    return this.query<IndexEntry>(
      `SELECT StudyInstanceUID AS name, TOTAL(series_size_MB) AS sizeMb FROM series WHERE collection_id = ? AND PatientID = ?${this.where}
       GROUP BY StudyInstanceUID ORDER BY StudyInstanceUID`,
      collection,
      patient,
    );
  }

  /** Series directories of a study: `<Modality>_<SeriesInstanceUID>`, as idc-index names them. */
  seriesDirs(collection: string, patient: string, study: string): IndexEntry[] {
    return this.query<IndexEntry>(
      `SELECT Modality || '_' || SeriesInstanceUID AS name, TOTAL(series_size_MB) AS sizeMb FROM series
       WHERE collection_id = ? AND PatientID = ? AND StudyInstanceUID = ?${this.where} GROUP BY name ORDER BY name`,
      collection,
      patient,
      study,
    );
  }

  /** The series behind `<Modality>_<SeriesInstanceUID>` in that study, if the mount shows it. */
  series(collection: string, patient: string, study: string, dirName: string): SeriesRecord | undefined {
    const cut = dirName.indexOf("_");
    if (cut < 0) return undefined;
    const rows = this.query<Record<string, string | number | null>>(
      `SELECT * FROM series WHERE SeriesInstanceUID = ? AND Modality = ? AND collection_id = ? AND PatientID = ? AND StudyInstanceUID = ?${this.where} LIMIT 1`,
      dirName.slice(cut + 1),
      dirName.slice(0, cut),
      collection,
      patient,
      study,
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /**
   * Totals and distinct values over the series under a collection/patient/study prefix, computed
   * in SQL (a collection can hold 100k+ series; loading them as records would be slow).
   */
  aggregate(parts: string[], columns: readonly string[]): Aggregate {
    const names = ["collection_id", "PatientID", "StudyInstanceUID"].slice(0, parts.length);
    const cond = names.map((n) => ` AND ${n} = ?`).join("");
    const distinct = columns.map((c) => `GROUP_CONCAT(DISTINCT "${c}") AS "${c}"`).join(", ");
    const row = this.query<Record<string, string | number | null>>(
      `SELECT COUNT(*) AS series_count, COUNT(DISTINCT StudyInstanceUID) AS studies, TOTAL(series_size_MB) AS series_size_MB,
              TOTAL(instanceCount) AS instanceCount, ${distinct} FROM series WHERE 1=1${cond}${this.where}`,
      ...parts.slice(0, 3),
    )[0];
    const lists: Record<string, string> = {};
    for (const c of columns)
      lists[c] = String(row[c] ?? "")
        .split(",")
        .filter((v) => v !== "")
        .sort()
        .join(",");
    return {
      seriesCount: Number(row.series_count),
      studies: Number(row.studies),
      sizeMb: Number(row.series_size_MB),
      instances: Number(row.instanceCount),
      lists,
    };
  }
}

function toRecord(row: Record<string, string | number | null>): SeriesRecord {
  const attributes: Record<string, string | number | null> = {};
  for (const c of ATTRIBUTE_COLUMNS) attributes[c] = row[c] ?? null;
  return {
    collection_id: String(row.collection_id),
    PatientID: String(row.PatientID),
    StudyInstanceUID: String(row.StudyInstanceUID),
    SeriesInstanceUID: String(row.SeriesInstanceUID),
    Modality: String(row.Modality),
    aws_bucket: String(row.aws_bucket),
    crdc_series_uuid: String(row.crdc_series_uuid),
    attributes,
  };
}
