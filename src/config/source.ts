/** Parses the mount source: `s3://bucket[/prefix]`, `gs://bucket[/prefix]`, `mem://bucket`, `idc`. */
export type SourceScheme = "s3" | "gs" | "mem" | "idc";

export interface Source {
  scheme: SourceScheme;
  bucket: string;
  /** "" or ending in "/". */
  prefix: string;
  /** The source as the user wrote it, normalised. */
  url: string;
}

export class SourceError extends Error {
  override readonly name = "SourceError";
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

export function parseSource(text: string): Source {
  // The NCI Imaging Data Commons: a read-only tree over IDC's public buckets (src/idc).
  if (/^idc(:\/\/)?$/.test(text.trim())) return { scheme: "idc", bucket: "idc-open-data", prefix: "", url: "idc://" };
  const match = /^([a-z0-9]+):\/\/([^/]*)(?:\/(.*))?$/.exec(text.trim());
  if (!match) {
    throw new SourceError(`malformed source "${text}": expected s3://bucket[/prefix] (or gs://bucket[/prefix])`);
  }
  const [, scheme, bucket, rawPrefix = ""] = match;
  if (scheme !== "s3" && scheme !== "gs" && scheme !== "mem") {
    throw new SourceError(`unsupported source scheme "${scheme}://" in "${text}": use s3:// or gs://`);
  }
  if (!BUCKET_NAME.test(bucket)) {
    throw new SourceError(`invalid bucket name "${bucket}" in "${text}": 3-63 characters of a-z, 0-9, '.', '-', '_'`);
  }
  const trimmed = rawPrefix.replace(/^\/+|\/+$/g, "");
  if (trimmed.split("/").some((s) => s === "." || s === "..") || trimmed.includes("//")) {
    throw new SourceError(`invalid prefix "${rawPrefix}" in "${text}": no empty, "." or ".." segments`);
  }
  const prefix = trimmed === "" ? "" : `${trimmed}/`;
  return { scheme, bucket, prefix, url: `${scheme}://${bucket}${prefix ? `/${trimmed}` : ""}` };
}
