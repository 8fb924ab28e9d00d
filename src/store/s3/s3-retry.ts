/** Retry timing shared by the SDK path and the lean data path of S3Store, so both back off alike. */

/** Network failures that mean "the server is down or restarting", not "misconfigured". */
const OUTAGE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "TimeoutError", "RequestTimeout"]);

export function isOutage(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: { code?: string } } | undefined;
  return OUTAGE_CODES.has(e?.code ?? "") || OUTAGE_CODES.has(e?.name ?? "") || OUTAGE_CODES.has(e?.cause?.code ?? "");
}

/** Full-jitter exponential backoff, like the SDK's standard strategy: up to 100 ms × 2^attempt, ≤ 20 s. */
export function backoffMs(attempt: number): number {
  return Math.random() * Math.min(20_000, 100 * 2 ** attempt);
}

/** The wait before the next try once the ordinary attempts are spent but the server is still down. */
export function outageWaitMs(attempt: number, waited: number, patienceMs: number): number {
  return Math.min(backoffMs(Math.min(attempt, 6)) + 250, patienceMs - waited);
}
