/**
 * The columns of IDC's series-level `idc_index` parquet (idc-index-data 24.x: 31 columns, one row
 * per DICOM series) and the check of a file's schema against what bucketfs needs.
 *
 * IDC renames and adds columns between releases, so columns are read by name, additions are
 * ignored, and only the ones the directory tree cannot do without are required.
 */
export type IdcColumnType = "STRING" | "INT64" | "DOUBLE";

/** Every column of idc_index as published (BigQuery STRING → UTF8, INTEGER → int64, FLOAT → double). */
export const IDC_INDEX_COLUMNS: ReadonlyArray<readonly [name: string, type: IdcColumnType]> = [
  ["collection_id", "STRING"],
  ["analysis_result_id", "STRING"],
  ["PatientID", "STRING"],
  ["SeriesInstanceUID", "STRING"],
  ["StudyInstanceUID", "STRING"],
  ["source_DOI", "STRING"],
  ["PatientAge", "STRING"],
  ["PatientSex", "STRING"],
  ["StudyDate", "STRING"],
  ["StudyDescription", "STRING"],
  ["BodyPartExamined", "STRING"],
  ["Modality", "STRING"],
  ["SOPClassUID", "STRING"],
  ["sop_class_name", "STRING"],
  ["TransferSyntaxUID", "STRING"],
  ["transfer_syntax_name", "STRING"],
  ["PhotometricInterpretation", "STRING"],
  ["PixelRepresentation", "STRING"],
  ["Manufacturer", "STRING"],
  ["ManufacturerModelName", "STRING"],
  ["SeriesDate", "STRING"],
  ["SeriesDescription", "STRING"],
  ["SeriesNumber", "STRING"],
  ["instanceCount", "INT64"],
  ["license_short_name", "STRING"],
  ["series_init_idc_version", "INT64"],
  ["series_revised_idc_version", "INT64"],
  ["aws_bucket", "STRING"],
  ["crdc_series_uuid", "STRING"],
  ["series_aws_url", "STRING"],
  ["series_size_MB", "DOUBLE"],
];

/** Without these there is no directory tree and no bucket path. */
export const REQUIRED_COLUMNS = [
  "collection_id",
  "PatientID",
  "StudyInstanceUID",
  "SeriesInstanceUID",
  "Modality",
  "aws_bucket",
] as const;

/**
 * Series attributes kept in SQLite and shown as `user.idc.*` extended attributes. Each is
 * optional in the parquet: a missing one is NULL (and absent from the xattrs).
 */
export const ATTRIBUTE_COLUMNS = [
  "analysis_result_id",
  "source_DOI",
  "PatientAge",
  "PatientSex",
  "StudyDate",
  "StudyDescription",
  "BodyPartExamined",
  "sop_class_name",
  "transfer_syntax_name",
  "Manufacturer",
  "ManufacturerModelName",
  "SeriesDate",
  "SeriesDescription",
  "SeriesNumber",
  "instanceCount",
  "license_short_name",
  "series_size_MB",
  "series_init_idc_version",
  "series_revised_idc_version",
] as const;

/** The parquet key where idc-index-data records its version (provenance metadata). */
export const VERSION_METADATA_KEY = "idc_index_data_version";

export class IdcSchemaError extends Error {
  override readonly name = "IdcSchemaError";
}

/** The columns to read from this file: required + known optional ones that exist. */
export interface ColumnPlan {
  read: string[];
  /** True when crdc_series_uuid must be derived from series_aws_url (indexes before that column). */
  uuidFromUrl: boolean;
}

/**
 * Checks the file's top-level columns. Throws IdcSchemaError naming every missing column and
 * what the file has instead, so a renamed column is obvious from the message.
 */
export function planColumns(topLevelColumns: string[], source: string): ColumnPlan {
  const present = new Set(topLevelColumns);
  const missing: string[] = REQUIRED_COLUMNS.filter((c) => !present.has(c));
  const uuidFromUrl = !present.has("crdc_series_uuid") && present.has("series_aws_url");
  if (!present.has("crdc_series_uuid") && !uuidFromUrl) missing.push("crdc_series_uuid (or series_aws_url)");
  if (missing.length > 0) {
    throw new IdcSchemaError(
      `${source} is not a usable IDC idc_index parquet: missing column(s) ${missing.join(", ")}; ` +
        `it has: ${[...present].slice(0, 40).join(", ")}${present.size > 40 ? ", …" : ""}`,
    );
  }
  const wanted = [...REQUIRED_COLUMNS, ...ATTRIBUTE_COLUMNS, uuidFromUrl ? "series_aws_url" : "crdc_series_uuid"];
  return { read: wanted.filter((c) => present.has(c)), uuidFromUrl };
}

/** `s3://bucket/<uuid>/*` → `<uuid>` (what idc-index does for indexes without crdc_series_uuid). */
export function uuidFromSeriesUrl(url: string): string {
  return url.split("/")[3] ?? "";
}

/** Bumped when the SQLite layout changes; older files are rebuilt. */
export const DB_SCHEMA_VERSION = "1";
