/**
 * Turns AWS SDK v3 exceptions into StoreErrors. The SDK's `name` (the S3 error code) and HTTP
 * status are what we read; network failures carry a Node `code`. No message matching.
 */
import { isNetworkErrorCode, StoreError, type StoreErrorKind } from "../errors.js";

interface SdkLikeError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const BY_NAME: Record<string, StoreErrorKind> = {
  NoSuchKey: "NotFound",
  NotFound: "NotFound",
  NoSuchUpload: "NotFound",
  NoSuchBucket: "NoSuchBucket",
  PreconditionFailed: "PreconditionFailed",
  AccessDenied: "AccessDenied",
  Forbidden: "AccessDenied",
  InvalidAccessKeyId: "InvalidCredentials",
  SignatureDoesNotMatch: "InvalidCredentials",
  InvalidToken: "InvalidCredentials",
  ExpiredToken: "InvalidCredentials",
  // The SDK found nothing to sign with (no keys, an unknown --profile): no request was sent.
  CredentialsProviderError: "NoCredentials",
  InvalidRange: "InvalidRange",
  SlowDown: "Throttled",
  Throttling: "Throttled",
  ServiceUnavailable: "Throttled",
  TimeoutError: "Unreachable",
  AbortError: "Aborted",
};

const BY_STATUS: Record<number, StoreErrorKind> = {
  404: "NotFound",
  412: "PreconditionFailed",
  403: "AccessDenied",
  416: "InvalidRange",
  429: "Throttled",
  503: "Throttled",
};

export function kindOf(err: unknown): StoreErrorKind {
  const e = (err ?? {}) as SdkLikeError;
  if (e.name && BY_NAME[e.name]) return BY_NAME[e.name];
  if (isNetworkErrorCode(e.code)) return "Unreachable";
  const nested = e.cause as SdkLikeError | undefined;
  if (isNetworkErrorCode(nested?.code)) return "Unreachable";
  const status = e.$metadata?.httpStatusCode;
  if (status && BY_STATUS[status]) return BY_STATUS[status];
  return "Other";
}

/** Wraps any SDK failure for `key` (or the bucket when absent) into a StoreError. */
export function toStoreError(err: unknown, what: string, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const kind = kindOf(err);
  const e = err as SdkLikeError & { message?: string };
  // For missing credentials the SDK's message is the useful part: it names the profile it looked for.
  const detail =
    kind === "NoCredentials" && e.message
      ? e.message
      : e.name && e.name !== "Error"
        ? e.name
        : (e.code ?? e.message ?? "error");
  const status = e.$metadata?.httpStatusCode;
  return new StoreError(kind, `${what} failed: ${detail}${status ? ` (HTTP ${status})` : ""}`, key, { cause: err });
}
