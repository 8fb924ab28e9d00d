/**
 * IDC's buckets. The index names AWS buckets; Google's mirror has the same keys in buckets that
 * are named differently (idc-index's `_replace_aws_with_gcp_buckets`). Both are public: requests
 * are unsigned.
 */
export type IdcSource = "aws" | "gcs";

export const PRIMARY_BUCKET = "idc-open-data";

const AWS_TO_GCS: Record<string, string> = {
  "idc-open-data": "idc-open-data",
  "idc-open-data-two": "idc-open-idc1",
  "idc-open-data-cr": "idc-open-cr",
};

/** GCS's S3-compatible XML API, which serves anonymous ListObjectsV2 and ranged GETs. */
export const GCS_XML_ENDPOINT = "https://storage.googleapis.com";

export function parseIdcSource(value: string | undefined): IdcSource {
  if (value === undefined || value === "aws") return "aws";
  if (value === "gcs" || value === "gs" || value === "google") return "gcs";
  throw new Error(`--idc-source must be aws or gcs, not "${value}"`);
}

/** The bucket to read for an index `aws_bucket` value. */
export function bucketFor(awsBucket: string, source: IdcSource): string {
  return source === "gcs" ? (AWS_TO_GCS[awsBucket] ?? awsBucket) : awsBucket;
}

/** Splits a comma-separated option (`--collections a,b`) into values. */
export function listOption(value: string | undefined): string[] | undefined {
  const items = value
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return items && items.length > 0 ? items : undefined;
}
