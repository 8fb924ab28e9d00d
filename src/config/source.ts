/**
 * Parses the mount source: `s3://bucket[/prefix]`, `gs://bucket[/prefix]`,
 * `az://account/container[/prefix][?SAS]`, `mem://bucket`, `idc`.
 */
export type SourceScheme = "s3" | "gs" | "az" | "mem" | "idc";

export interface Source {
  scheme: SourceScheme;
  /** The bucket; for az:// the container. */
  bucket: string;
  /** az:// only: the storage account. */
  account?: string;
  /** az:// only: a SAS token given in the URL's query (never part of `url`). */
  sas?: string;
  /** "" or ending in "/". */
  prefix: string;
  /** The source as the user wrote it, normalised. */
  url: string;
}

export class SourceError extends Error {
  override readonly name = "SourceError";
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Azure storage account names: 3-24 lower-case letters and digits. */
const AZURE_ACCOUNT = /^[a-z0-9]{3,24}$/;
/** Azure container names: 3-63 of a-z, 0-9 and single hyphens, starting and ending alphanumeric. */
const AZURE_CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

export function parseSource(text: string): Source {
  // The NCI Imaging Data Commons: a read-only tree over IDC's public buckets (src/idc).
  if (/^idc(:\/\/)?$/.test(text.trim())) return { scheme: "idc", bucket: "idc-open-data", prefix: "", url: "idc://" };
  if (text.trim().startsWith("az://")) return parseAzureSource(text);
  const match = /^([a-z0-9]+):\/\/([^/]*)(?:\/(.*))?$/.exec(text.trim());
  if (!match) {
    throw new SourceError(
      `malformed source "${text}": expected s3://bucket[/prefix] (or gs://bucket[/prefix], az://account/container[/prefix])`,
    );
  }
  const [, scheme, bucket, rawPrefix = ""] = match;
  if (scheme !== "s3" && scheme !== "gs" && scheme !== "mem") {
    throw new SourceError(`unsupported source scheme "${scheme}://" in "${text}": use s3://, gs:// or az://`);
  }
  if (!BUCKET_NAME.test(bucket)) {
    throw new SourceError(`invalid bucket name "${bucket}" in "${text}": 3-63 characters of a-z, 0-9, '.', '-', '_'`);
  }
  const { prefix, trimmed } = parsePrefix(rawPrefix, text);
  return { scheme, bucket, prefix, url: `${scheme}://${bucket}${prefix ? `/${trimmed}` : ""}` };
}

function parsePrefix(rawPrefix: string, text: string): { prefix: string; trimmed: string } {
  const trimmed = rawPrefix.replace(/^\/+|\/+$/g, "");
  if (trimmed.split("/").some((s) => s === "." || s === "..") || trimmed.includes("//")) {
    throw new SourceError(`invalid prefix "${rawPrefix}" in "${text}": no empty, "." or ".." segments`);
  }
  return { prefix: trimmed === "" ? "" : `${trimmed}/`, trimmed };
}

/** `az://account/container[/prefix][?SAS]`: the SAS is kept apart, so `url` (shown, logged) holds no secret. */
function parseAzureSource(text: string): Source {
  const trimmedText = text.trim();
  const query = trimmedText.indexOf("?");
  const path = query < 0 ? trimmedText : trimmedText.slice(0, query);
  const sas = query < 0 ? undefined : trimmedText.slice(query + 1);
  const shown = query < 0 ? trimmedText : `${path}?…`;
  const match = /^az:\/\/([^/]*)\/([^/]*)(?:\/(.*))?$/.exec(path);
  if (!match) throw new SourceError(`malformed source "${shown}": expected az://account/container[/prefix]`);
  const [, account, container, rawPrefix = ""] = match;
  if (!AZURE_ACCOUNT.test(account))
    throw new SourceError(
      `invalid storage account name "${account}" in "${shown}": 3-24 lower-case letters and digits`,
    );
  if (!AZURE_CONTAINER.test(container)) {
    throw new SourceError(
      `invalid container name "${container}" in "${shown}": 3-63 of a-z, 0-9 and single '-', starting and ending with a letter or digit`,
    );
  }
  if (sas !== undefined && !/\bsig=/.test(sas))
    throw new SourceError(`the query of "${shown}" is not a SAS token (it has no sig=)`);
  const { prefix, trimmed } = parsePrefix(rawPrefix, shown);
  return {
    scheme: "az",
    account,
    bucket: container,
    prefix,
    url: `az://${account}/${container}${prefix ? `/${trimmed}` : ""}`,
    ...(sas ? { sas } : {}),
  };
}
