/**
 * How a GCS store's @google-cloud/storage client is built: which endpoint, whether it sends
 * credentials, how it retries. Kept apart from GcsStore because the client's defaults need
 * working around (STORAGE_EMULATOR_HOST, anonymous access, retries of writes), and those
 * workarounds read best together.
 */
import { IdempotencyStrategy, Storage, type StorageOptions } from "@google-cloud/storage";

export interface GcsStoreConfig {
  bucket: string;
  /** `apiEndpoint`, e.g. http://127.0.0.1:9230 for an emulator. */
  endpoint?: string;
  /** No credentials at all: public buckets. */
  anonymous?: boolean;
  /** Project billed for requester-pays buckets (sent as `userProject`). */
  billingProject?: string;
  projectId?: string;
  maxRetries?: number;
  /**
   * How multipart uploads are done: one streaming resumable session (default, chosen by
   * measurement; gcs-resumable.ts) or parallel parts + compose (gcs-compose.ts).
   */
  uploadStrategy?: "resumable" | "composite";
}

/** The public endpoint spelled with its port: the client then treats it as custom and sends no credentials. */
const ANONYMOUS_PUBLIC_ENDPOINT = "https://storage.googleapis.com:443";

export interface GcsClient {
  storage: Storage;
  /** False for anonymous access and for an http:// endpoint (an emulator). */
  usesCredentials: boolean;
  /** The endpoint the user named (--endpoint or STORAGE_EMULATOR_HOST), for the store's description. */
  given: string | undefined;
}

export function gcsClient(config: GcsStoreConfig): GcsClient {
  const given = config.endpoint ?? process.env.STORAGE_EMULATOR_HOST;
  const endpoint = given ?? (config.anonymous ? ANONYMOUS_PUBLIC_ENDPOINT : undefined);
  const usesCredentials = !config.anonymous && !endpoint?.startsWith("http:");
  const options: StorageOptions = {
    apiEndpoint: endpoint,
    projectId: config.projectId ?? config.billingProject,
    useAuthWithCustomEndpoint: usesCredentials,
    // Every write here replaces a whole object (or is guarded by a generation), so retrying it
    // is as safe as S3's retried PUTs; the default would not retry unconditional writes.
    // (maxRetries 0 must turn retries off: the client reads 0 as "use the default".)
    retryOptions: {
      autoRetry: (config.maxRetries ?? 4) > 0,
      maxRetries: config.maxRetries ?? 4,
      idempotencyStrategy: IdempotencyStrategy.RetryAlways,
    },
  };
  return { storage: withoutEmulatorEnv(() => new Storage(options)), usesCredentials, given };
}

/**
 * The client lets STORAGE_EMULATOR_HOST override even an explicit `apiEndpoint` (it reads the
 * variable in its constructor only). We have already folded the variable into `endpoint`, so an
 * explicit --endpoint wins, as users expect; the constructor is synchronous, so hiding the
 * variable for its duration affects nothing else.
 */
function withoutEmulatorEnv<T>(build: () => T): T {
  const saved = process.env.STORAGE_EMULATOR_HOST;
  delete process.env.STORAGE_EMULATOR_HOST;
  try {
    return build();
  } finally {
    if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
  }
}
