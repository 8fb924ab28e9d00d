/**
 * Turns @google-cloud/storage failures into StoreErrors. What we read: the HTTP status (`code`
 * as a number on ApiError, or the status of a raw media response), the JSON API `reason` of the
 * first error item, and Node's network error codes (`code` as a string on fetch errors).
 * No message matching.
 */
import { isNetworkErrorCode, StoreError, type StoreErrorKind } from "../errors.js";

interface GcsLikeError {
  name?: string;
  code?: number | string;
  errors?: Array<{ reason?: string }>;
  cause?: unknown;
}

const BY_REASON: Record<string, StoreErrorKind> = {
  notFound: "NotFound",
  conditionNotMet: "PreconditionFailed",
  forbidden: "AccessDenied",
  insufficientPermissions: "AccessDenied",
  userProjectMissing: "AccessDenied", // a requester-pays bucket read without --billing-project
  requesterPays: "AccessDenied",
  authError: "InvalidCredentials",
  requestedRangeNotSatisfiable: "InvalidRange",
  rateLimitExceeded: "Throttled",
  userRateLimitExceeded: "Throttled",
  backendError: "Throttled",
};

const BY_STATUS: Record<number, StoreErrorKind> = {
  401: "InvalidCredentials",
  403: "AccessDenied",
  404: "NotFound",
  412: "PreconditionFailed",
  416: "InvalidRange",
  429: "Throttled",
  503: "Throttled",
};

export function kindOf(err: unknown): StoreErrorKind {
  const e = (err ?? {}) as GcsLikeError;
  if (e.name === "AbortError") return "Aborted";
  if (isNetworkErrorCode(e.code)) return "Unreachable";
  const nested = e.cause as GcsLikeError | undefined;
  if (isNetworkErrorCode(nested?.code)) return "Unreachable";
  if (typeof e.code === "number") return kindOfStatus(e.code, e.errors?.[0]?.reason);
  return "Other";
}

/** Status + JSON API reason: the reason is more precise (a 403 may be requester-pays, a 401 anonymous). */
export function kindOfStatus(status: number, reason?: string): StoreErrorKind {
  if (status === 401) return "InvalidCredentials";
  if (reason && BY_REASON[reason]) return BY_REASON[reason];
  return BY_STATUS[status] ?? (status >= 500 ? "Throttled" : "Other");
}

/** Wraps any client failure of `what` on `key` (or the bucket when absent) into a StoreError. */
export function toStoreError(err: unknown, what: string, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const kind = kindOf(err);
  const e = err as GcsLikeError & { message?: string };
  const detail =
    typeof e.code === "number"
      ? `HTTP ${e.code}${e.errors?.[0]?.reason ? ` ${e.errors[0].reason}` : ""}`
      : (e.code ?? e.name ?? "error");
  return new StoreError(kind, `${what} failed: ${detail}`, key, { cause: err });
}

/** An error for a raw media response (downloads bypass the client's JSON error parsing). */
export function mediaError(status: number, body: Buffer, what: string, key: string): StoreError {
  let reason: string | undefined;
  try {
    reason = (JSON.parse(body.toString("utf8")) as { error?: { errors?: Array<{ reason?: string }> } }).error
      ?.errors?.[0]?.reason;
  } catch {
    reason = undefined; // media errors are often plain text; the status alone decides
  }
  return new StoreError(
    kindOfStatus(status, reason),
    `${what} failed: HTTP ${status}${reason ? ` ${reason}` : ""}`,
    key,
  );
}

/**
 * The one place client calls pass through: their failures become StoreErrors here. (The client
 * retries on its own; an aborted caller sends nothing.)
 */
export async function callGcs<T>(
  what: string,
  key: string | undefined,
  run: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) throw new StoreError("Aborted", `${what} aborted`, key);
  try {
    return await run();
  } catch (err) {
    throw toStoreError(err, what, key);
  }
}
