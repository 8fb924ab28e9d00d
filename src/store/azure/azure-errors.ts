/**
 * Turns @azure/storage-blob failures into StoreErrors. What we read: the HTTP status and the
 * `x-ms-error-code` the SDK puts in RestError.code, or Node's network error code for requests
 * that never got an answer. No message matching.
 */
import { isNetworkErrorCode, StoreError, type StoreErrorKind } from "../errors.js";

interface AzureLikeError {
  name?: string;
  code?: string;
  statusCode?: number;
  cause?: unknown;
}

const BY_CODE: Record<string, StoreErrorKind> = {
  BlobNotFound: "NotFound",
  ResourceNotFound: "NotFound",
  ContainerNotFound: "NoSuchBucket",
  ConditionNotMet: "PreconditionFailed",
  SourceConditionNotMet: "PreconditionFailed",
  TargetConditionNotMet: "PreconditionFailed",
  // Only a create guarded by If-None-Match: * answers this: the object exists, the condition failed.
  BlobAlreadyExists: "PreconditionFailed",
  AuthenticationFailed: "InvalidCredentials",
  InvalidAuthenticationInfo: "InvalidCredentials",
  NoAuthenticationInformation: "InvalidCredentials",
  AuthorizationFailure: "AccessDenied",
  AuthorizationPermissionMismatch: "AccessDenied",
  AuthorizationResourceTypeMismatch: "AccessDenied",
  AuthorizationSourceIPMismatch: "AccessDenied",
  InsufficientAccountPermissions: "AccessDenied",
  PublicAccessNotPermitted: "AccessDenied",
  InvalidRange: "InvalidRange",
  ServerBusy: "Throttled",
  OperationTimedOut: "Throttled",
  APINotImplemented: "Unsupported",
  NotImplemented: "Unsupported",
};

const BY_STATUS: Record<number, StoreErrorKind> = {
  401: "InvalidCredentials",
  403: "AccessDenied",
  404: "NotFound",
  412: "PreconditionFailed",
  416: "InvalidRange",
  429: "Throttled",
  501: "Unsupported",
  503: "Throttled",
};

/** @azure/identity's failures to get a token: there are no usable Entra ID credentials. */
const CREDENTIAL_ERRORS = new Set([
  "CredentialUnavailableError",
  "AggregateAuthenticationError",
  "AuthenticationError",
]);

export function kindOf(err: unknown): StoreErrorKind {
  const e = (err ?? {}) as AzureLikeError;
  if (e.name === "AbortError") return "Aborted";
  if (e.name !== undefined && CREDENTIAL_ERRORS.has(e.name)) return "InvalidCredentials";
  if (e.statusCode === undefined) {
    const nested = e.cause as AzureLikeError | undefined;
    const code = e.code ?? nested?.code;
    return isNetworkErrorCode(code) ? "Unreachable" : "Other";
  }
  if (e.code && BY_CODE[e.code]) return BY_CODE[e.code];
  return BY_STATUS[e.statusCode] ?? (e.statusCode >= 500 ? "Throttled" : "Other");
}

/** Wraps any client failure of `what` on `key` (or the container when absent) into a StoreError. */
export function toStoreError(err: unknown, what: string, key?: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as AzureLikeError;
  const detail =
    e.statusCode !== undefined ? `HTTP ${e.statusCode}${e.code ? ` ${e.code}` : ""}` : (e.code ?? e.name ?? "error");
  return new StoreError(kindOf(err), `${what} failed: ${detail}`, key, { cause: err });
}
