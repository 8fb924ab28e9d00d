/**
 * Structured logging with pino (fast, JSON lines that journald and log shippers understand).
 * Secrets are kept out in two layers: fields with credential names are redacted by path, and
 * every written line is scrubbed of the credential values the process knows (from its
 * environment) and of request signatures, so a secret that reaches a message or an error's
 * text is still not written.
 */
import { pino, type Logger } from "pino";

export type { Logger };

export const REDACTED_PATHS = [
  "secretAccessKey",
  "*.secretAccessKey",
  "sessionToken",
  "*.sessionToken",
  "credentials",
  "*.credentials",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "private_key",
  "*.private_key",
  "accessToken",
  "*.accessToken",
  "sas",
  "*.sas",
  "*.*.sas",
];

/** Environment variables whose values are secrets: never written to a log, in any field. */
export const SECRET_ENV_VARS = [
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_SECURITY_TOKEN",
  "GOOGLE_OAUTH_ACCESS_TOKEN",
  "GCS_ACCESS_TOKEN",
  "BUCKETFS_ENCRYPTION_KEY",
  "AZURE_STORAGE_KEY",
  "AZURE_STORAGE_CONNECTION_STRING",
  "AZURE_STORAGE_SAS_TOKEN",
  "AZURE_CLIENT_SECRET",
];

/** Shortest value treated as a secret: shorter ones would scrub ordinary words from logs. */
const MIN_SECRET_LENGTH = 8;

/**
 * Signatures of SigV4/SigV2 requests and presigned URLs (query or Authorization header), Azure
 * SAS signatures (`sig=`) and account keys inside connection strings.
 */
const SIGNATURE_PATTERNS = [
  /(X-Amz-Signature=|X-Amz-Security-Token=|X-Goog-Signature=|Signature=|\bsig=|AccountKey=)[^&;\s",]+/gi,
];

export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return SECRET_ENV_VARS.map((name) => env[name]).filter(
    (v): v is string => typeof v === "string" && v.length >= MIN_SECRET_LENGTH,
  );
}

/** Replaces every known secret value and signature in one log line. */
export function scrubSecrets(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    out = out.split(secret).join("[redacted]");
    // The same secret as it appears inside a JSON string (escaped quotes or backslashes).
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join("[redacted]");
  }
  for (const pattern of SIGNATURE_PATTERNS) out = out.replace(pattern, "$1[redacted]");
  return out;
}

export interface LoggerOptions {
  level?: string;
  destination?: number;
  /** Literal values to scrub from every line (default: the secrets in the environment). */
  secrets?: string[];
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = options.secrets ?? secretsFromEnv();
  return pino(
    {
      level: options.level ?? "info",
      base: { name: "bucketfs", pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      hooks: { streamWrite: (line) => scrubSecrets(line, secrets) },
    },
    pino.destination({ fd: options.destination ?? 2, sync: true }),
  );
}

/**
 * SIGUSR2 switches between the configured level and debug (or back), so an administrator can
 * look closer at a live mount without restarting it.
 */
export function toggleDebugOnSignal(log: Logger, signal: NodeJS.Signals = "SIGUSR2"): () => void {
  const configured = log.level;
  const verbose = configured === "debug" || configured === "trace";
  const toggle = (): void => {
    const next = log.level === configured ? (verbose ? "info" : "debug") : configured;
    log.level = next;
    log.warn({ level: next }, `${signal}: log level is now ${next}`);
  };
  process.on(signal, toggle);
  return () => process.off(signal, toggle);
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
