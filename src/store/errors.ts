/**
 * Store errors, normalised. Every backend turns its SDK's errors into one of these kinds inside
 * the backend, so nothing above `store/` ever inspects an SDK exception or matches a message.
 * A kind must be something *any* backend could produce (mountpoint-s3's heuristic).
 */
export type StoreErrorKind =
  | "NotFound" // the key does not exist
  | "NoSuchBucket" // the bucket does not exist
  | "PreconditionFailed" // If-Match / generation condition did not hold: the object changed
  | "AccessDenied" // authenticated, but not allowed
  | "InvalidCredentials" // the server rejected who we are (bad key id or secret)
  | "NoCredentials" // no credentials could be found to sign with (none configured, unknown profile)
  | "Unreachable" // no connection to the endpoint (refused, DNS, TLS, timeout)
  | "Throttled" // SlowDown / 429 / 503 after the client's own retries
  | "InvalidRange" // a range past the end of the object
  | "ReadOnly" // this store cannot be written
  | "Unsupported" // this store cannot do that operation
  | "Aborted" // the caller's AbortSignal fired
  | "Other";

export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isStoreError(err: unknown, kind?: StoreErrorKind): err is StoreError {
  return err instanceof StoreError && (kind === undefined || err.kind === kind);
}

/**
 * Node's codes for a request that never got an answer: no route, no name, no connection, a TLS
 * failure. Every backend reports these as "Unreachable"; Azure's SDK adds its own send failure.
 */
const NETWORK_ERROR_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "ECONNRESET",
  "EPIPE",
  "REQUEST_SEND_ERROR",
  "CERT_HAS_EXPIRED",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

export function isNetworkErrorCode(code: unknown): boolean {
  return typeof code === "string" && NETWORK_ERROR_CODES.has(code);
}
