/**
 * Loads IDC's `idc_index` parquet (zstd) into a SQLite file shaped for directory lookups.
 *
 * The parquet is read one row group at a time with hyparquet (+ hyparquet-compressors for zstd),
 * only the needed columns, so memory stays bounded by one row group. The database is built under
 * a temporary name and renamed into place, so a crash never leaves a half-built index that a
 * later mount would trust. Indexes are created after the bulk insert (much faster than before).
 * The file is created 0600.
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import Database from "better-sqlite3";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { privateDatabase } from "../os/private-file.js";
import {
  ATTRIBUTE_COLUMNS,
  DB_SCHEMA_VERSION,
  REQUIRED_COLUMNS,
  VERSION_METADATA_KEY,
  planColumns,
  uuidFromSeriesUrl,
} from "./columns.js";

export { DB_SCHEMA_VERSION } from "./columns.js";

export interface LoadResult {
  rows: number;
  /** idc_index_data_version from the parquet's metadata, if recorded. */
  dataVersion?: string;
}

export interface LoadOptions {
  /** Recorded in the database's meta table (e.g. the parquet's sha256). */
  meta?: Record<string, string>;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

const TREE_COLUMNS = [...REQUIRED_COLUMNS, "crdc_series_uuid"] as const;
const STORED_COLUMNS = [...TREE_COLUMNS, ...ATTRIBUTE_COLUMNS];

function createSchema(db: Database.Database): void {
  const attributes = ATTRIBUTE_COLUMNS.map((c) => `"${c}"`).join(", ");
  db.exec(`
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE series(
      id INTEGER PRIMARY KEY,
      ${TREE_COLUMNS.map((c) => `"${c}" TEXT NOT NULL`).join(", ")},
      ${attributes}
    );`);
}

function createIndexes(db: Database.Database): void {
  db.exec(`
    -- Covering index: every tree listing (collection → patients → studies → series) and its sizes.
    CREATE INDEX series_tree ON series(collection_id, PatientID, StudyInstanceUID, Modality, series_size_MB);
    CREATE INDEX series_uid ON series(SeriesInstanceUID);
    CREATE TABLE collections AS
      SELECT collection_id, COUNT(DISTINCT PatientID) AS patients, COUNT(DISTINCT StudyInstanceUID) AS studies,
             COUNT(*) AS series, TOTAL(series_size_MB) AS size_mb, TOTAL(instanceCount) AS instances
      FROM series GROUP BY collection_id ORDER BY collection_id;`);
}

function cell(value: unknown): string | number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number" || typeof value === "string") return value;
  return String(value);
}

/** Builds `dbPath` from `parquetPath`. Throws IdcSchemaError before writing anything if columns are missing. */
export async function loadIndex(parquetPath: string, dbPath: string, options: LoadOptions = {}): Promise<LoadResult> {
  const file = await asyncBufferFromFile(parquetPath);
  const metadata = await parquetMetadataAsync(file);
  const plan = planColumns(
    parquetSchema(metadata).children.map((c) => c.element.name),
    parquetPath,
  );
  const dataVersion = metadata.key_value_metadata?.find((kv) => kv.key === VERSION_METADATA_KEY)?.value ?? undefined;
  const total = Number(metadata.num_rows);

  const partial = `${dbPath}.partial`;
  rmSync(partial, { force: true });
  privateDatabase(partial);
  const db = new Database(partial);
  try {
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    createSchema(db);
    const insert = db.prepare(
      `INSERT INTO series(${STORED_COLUMNS.map((c) => `"${c}"`).join(", ")}) VALUES (${STORED_COLUMNS.map(() => "?").join(", ")})`,
    );
    const insertRows = db.transaction((rows: Record<string, unknown>[]) => {
      for (const row of rows) {
        if (plan.uuidFromUrl) row.crdc_series_uuid = uuidFromSeriesUrl(String(row.series_aws_url ?? ""));
        insert.run(STORED_COLUMNS.map((c) => cell(row[c])));
      }
    });
    let done = 0;
    for (const group of metadata.row_groups) {
      const count = Number(group.num_rows);
      const rows = await parquetReadObjects({
        file,
        metadata,
        columns: plan.read,
        rowStart: done,
        rowEnd: done + count,
        compressors,
      });
      insertRows(rows as Record<string, unknown>[]);
      done += count;
      options.onProgress?.(done, total);
    }
    createIndexes(db);
    const meta = db.prepare("INSERT INTO meta(key, value) VALUES (?, ?)");
    const entries: Record<string, string> = {
      schema_version: DB_SCHEMA_VERSION,
      rows: String(done),
      loaded_at: new Date().toISOString(),
      ...(dataVersion ? { data_version: dataVersion } : {}),
      ...options.meta,
    };
    for (const [key, value] of Object.entries(entries)) meta.run(key, value);
    db.close();
    if (existsSync(dbPath)) rmSync(dbPath);
    renameSync(partial, dbPath);
    return { rows: done, dataVersion };
  } catch (err) {
    if (db.open) db.close();
    rmSync(partial, { force: true });
    throw err;
  }
}
