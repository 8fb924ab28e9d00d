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
