/**
 * Structured logging with pino (fast, JSON lines that journald and log shippers understand).
 * Secrets are redacted by path, so a credential that reaches a log call is still not written.
 */
import { pino, type Logger } from "pino";

export type { Logger };

export const REDACTED_PATHS = [
  "secretAccessKey", "*.secretAccessKey", "sessionToken", "*.sessionToken", "credentials", "*.credentials",
  "authorization", "*.authorization", "headers.authorization", "*.headers.authorization",
];

export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  return pino(
    { level: options.level ?? "info", base: { name: "bucketfs" }, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } },
    pino.destination({ fd: options.destination ?? 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
