/**
 * What the index says about a node of the IDC tree, as name → value pairs. The mount shows them
 * as `user.idc.<name>` extended attributes (getfattr -d); `bucketfs idc info` prints them.
 * Values that the index leaves NULL are left out rather than shown empty.
 */
import type { IdcNode } from "./idc-tree.js";
import type { IdcIndexDb, SeriesRecord } from "./index-db.js";

export const XATTR_PREFIX = "user.idc.";

type Attributes = Record<string, string>;

function put(out: Attributes, name: string, value: string | number | null | undefined): void {
  if (value === null || value === undefined || value === "") return;
  out[name] = typeof value === "number" ? String(Math.round(value * 1e6) / 1e6) : value;
}

const DISTINCT_COLUMNS = [
  "Modality",
  "license_short_name",
  "source_DOI",
  "PatientAge",
  "PatientSex",
  "StudyDate",
  "StudyDescription",
] as const;

/** Totals and distinct values of the series below a directory, from the index. */
function summary(out: Attributes, index: IdcIndexDb, parts: string[], shown: readonly string[]): void {
  const agg = index.aggregate(parts, DISTINCT_COLUMNS);
  if (parts.length < 3) put(out, "studies", agg.studies);
  put(out, "series_count", agg.seriesCount);
  put(out, "series_size_MB", agg.sizeMb);
  put(out, "instanceCount", agg.instances);
  for (const column of shown) put(out, column, agg.lists[column]);
}

export function seriesAttributes(series: SeriesRecord): Attributes {
  const out: Attributes = {};
  put(out, "collection_id", series.collection_id);
  put(out, "PatientID", series.PatientID);
  put(out, "StudyInstanceUID", series.StudyInstanceUID);
  put(out, "SeriesInstanceUID", series.SeriesInstanceUID);
  put(out, "Modality", series.Modality);
  for (const [name, value] of Object.entries(series.attributes)) put(out, name, value);
  put(out, "aws_bucket", series.aws_bucket);
  put(out, "crdc_series_uuid", series.crdc_series_uuid);
  put(out, "url", `s3://${series.aws_bucket}/${series.crdc_series_uuid}/`);
  return out;
}

/** Attributes of any node; `version` is the index version the mount uses. */
export function attributesOf(node: IdcNode, index: IdcIndexDb, version: string): Attributes {
  const out: Attributes = {};
  switch (node.level) {
    case "root":
      put(out, "idc_index_version", version);
      put(out, "collections", index.collections().length);
      return out;
    case "collection": {
      const summaryRow = index.collections().find((c) => c.collection_id === node.parts[0]);
      put(out, "collection_id", node.parts[0]);
      put(out, "patients", summaryRow?.patients);
      summary(out, index, node.parts, ["Modality", "license_short_name", "source_DOI"]);
      return out;
    }
    case "patient":
      put(out, "collection_id", node.parts[0]);
      put(out, "PatientID", node.parts[1]);
      summary(out, index, node.parts, ["PatientAge", "PatientSex", "Modality", "license_short_name", "source_DOI"]);
      return out;
    case "study":
      put(out, "collection_id", node.parts[0]);
      put(out, "PatientID", node.parts[1]);
      put(out, "StudyInstanceUID", node.parts[2]);
      summary(out, index, node.parts, [
        "StudyDate",
        "StudyDescription",
        "Modality",
        "license_short_name",
        "source_DOI",
      ]);
      return out;
    case "series":
      return seriesAttributes(node.series);
    case "instance":
      put(out, "crdc_instance_uuid", node.instance.name.replace(/\.dcm$/, ""));
      put(out, "crdc_series_uuid", node.series.crdc_series_uuid);
      put(out, "SeriesInstanceUID", node.series.SeriesInstanceUID);
      put(out, "Modality", node.series.Modality);
      put(out, "license_short_name", node.series.attributes.license_short_name);
      put(out, "url", `s3://${node.series.aws_bucket}/${node.series.crdc_series_uuid}/${node.instance.name}`);
      return out;
  }
}
