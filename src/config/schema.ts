/**
 * The one declaration of every mount option. CLI flags, `-o name=value` options (fstab),
 * environment variables and `--help` text are all derived from MOUNT_OPTIONS; validation and
 * defaults come from the zod schema built from the same list.
 */
import { z } from "zod";
import { parseDuration, parseSize } from "./units.js";

type OptionType = "string" | "boolean" | "size" | "duration" | "int";

export interface OptionSpec {
  /** Property name in MountConfig. */
  key: string;
  /** Long flag and `-o` name, kebab-case. */
  name: string;
  short?: string;
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  env?: string;
  /** Other `-o` spellings, e.g. `ro` for read-only. */
  aliases?: string[];
}

export const MOUNT_OPTIONS: OptionSpec[] = [
  { key: "endpoint", name: "endpoint", type: "string", help: "endpoint URL: S3-compatible server (Ceph, MinIO, …), for gs:// a GCS emulator (http://) or private endpoint (https://), for az:// Azurite (http://127.0.0.1:10000) or another blob service URL", env: "BUCKETFS_ENDPOINT" },
  { key: "region", name: "region", type: "string", help: "region", default: "us-east-1", env: "AWS_REGION" },
  { key: "profile", name: "profile", type: "string", help: "credentials profile from ~/.aws/credentials", env: "AWS_PROFILE" },
  { key: "noSignRequest", name: "no-sign-request", type: "boolean", help: "anonymous requests (public buckets)", default: false },
  { key: "anonymous", name: "anonymous", type: "boolean", help: "gs:// and az:// only: no credentials (public buckets and containers)", default: false },
  { key: "sas", name: "sas", type: "string", help: "az:// only: a SAS token for the container or account (better in AZURE_STORAGE_SAS_TOKEN: command lines are visible to other users)", env: "AZURE_STORAGE_SAS_TOKEN" },
  { key: "billingProject", name: "billing-project", type: "string", help: "gs:// only: project billed for requester-pays buckets (userProject)", env: "BUCKETFS_BILLING_PROJECT" },
  { key: "pathStyle", name: "path-style", type: "boolean", help: "path-style URLs (default when --endpoint is given)", default: false },
  { key: "foreground", name: "foreground", short: "f", type: "boolean", help: "stay in the foreground (no daemon)", default: false },
  { key: "readOnly", name: "read-only", type: "boolean", help: "mount read-only", default: false, aliases: ["ro"] },
  { key: "allowOther", name: "allow-other", type: "boolean", help: "let other users access the mount (enables default_permissions)", default: false, aliases: ["allow_other"] },
  { key: "cacheDir", name: "cache-dir", type: "string", help: "directory for staging and cache data (default $XDG_CACHE_HOME/bucketfs)", env: "BUCKETFS_CACHE_DIR" },
  { key: "partSize", name: "part-size", type: "size", help: "multipart upload part size; also the single-PUT threshold", default: "8M" },
  { key: "uploadConcurrency", name: "upload-concurrency", type: "int", help: "parts uploaded in parallel per file", default: 4 },
  { key: "maxDirty", name: "max-dirty", type: "size", help: "data written but not yet uploaded beyond which writers wait for uploads in progress", default: "1G" },
  { key: "metadataTtl", name: "metadata-ttl", type: "duration", help: "how long stat and listing results are trusted", default: "10s" },
  { key: "cacheSize", name: "cache-size", type: "size", help: "byte cap of the on-disk read cache (0 = no disk cache)", default: "10G", env: "BUCKETFS_CACHE_SIZE" },
  { key: "maxMemory", name: "max-memory", type: "size", help: "memory for read-ahead across all open files; prefetch backs off beyond it", default: "128M" },
  { key: "uid", name: "uid", type: "int", help: "owner of files without stored attributes (default: you)" },
  { key: "gid", name: "gid", type: "int", help: "group of files without stored attributes (default: yours)" },
  { key: "logLevel", name: "log-level", type: "string", help: "trace, debug, info, warn, error", default: "info", env: "BUCKETFS_LOG_LEVEL" },
  { key: "logFile", name: "log-file", type: "string", help: "log file for the background daemon (default under the cache dir; - = stderr of bucketfs mount, e.g. journald)" },
  { key: "metricsAddr", name: "metrics-addr", type: "string", help: "serve Prometheus metrics at http://ADDR/metrics (PORT = loopback, :PORT = all interfaces)", env: "BUCKETFS_METRICS_ADDR" },
  { key: "pidFile", name: "pid-file", type: "string", help: "write the daemon's pid here once mounted (systemd PIDFile=)" },
  { key: "requestTimeout", name: "request-timeout", type: "duration", help: "per-attempt timeout of a store request with no progress; failed attempts are retried with backoff and jitter (5 attempts)", default: "60s" },
  { key: "caBundle", name: "ca-bundle", type: "string", help: "PEM file of extra CA certificates to trust for HTTPS endpoints (TLS verification stays on); HTTPS_PROXY/NO_PROXY are honoured", env: "AWS_CA_BUNDLE" },
  { key: "encryptCache", name: "encrypt-cache", type: "boolean", help: "encrypt staging and read-cache files at rest (AES-256-GCM); key from --encryption-key-file or BUCKETFS_ENCRYPTION_KEY", default: false },
  { key: "encryptionKeyFile", name: "encryption-key-file", type: "string", help: "file holding the 32-byte key for --encrypt-cache (64 hex digits, base64, or raw)", env: "BUCKETFS_ENCRYPTION_KEY_FILE" },
  { key: "auditLog", name: "audit-log", type: "string", help: "append one JSON line per file operation (time, uid, pid, operation, path, bytes) to FILE" },
  { key: "signMaxExpiry", name: "sign-max-expiry", type: "duration", help: "longest expiry of presigned URLs (bucketfs sign, xattr user.bucketfs.url)", default: "168h" },
  { key: "fuseBinding", name: "fuse-binding", type: "string", help: "FUSE binding: auto (the libfuse3 addon in native/ when it is built, else fuse-native), native, or fuse-native", default: "auto", env: "BUCKETFS_FUSE_BINDING" },
  { key: "idcIndex", name: "idc-index", type: "string", help: "IDC: use this local idc_index.parquet instead of downloading the published one", env: "BUCKETFS_IDC_INDEX" },
  { key: "idcVersion", name: "idc-version", type: "string", help: "IDC: idc-index-data release to use, e.g. 24.2.2", default: "current" },
  { key: "idcSource", name: "idc-source", type: "string", help: "IDC: read the AWS buckets (aws) or Google's mirror (gcs)", default: "aws" },
  { key: "idcIndexUrl", name: "idc-index-url", type: "string", help: "IDC: base URL of the published index artifacts (mirrors)", env: "BUCKETFS_IDC_INDEX_URL" },
  { key: "collections", name: "collections", type: "string", help: "IDC: show only these collections (comma-separated collection_id)" },
  { key: "modality", name: "modality", type: "string", help: "IDC: show only series of these modalities (comma-separated, e.g. SM,CT)" },
];

/** mount(8) options that matter to mount/systemd, not to bucketfs: accepted and ignored. */
export const IGNORED_MOUNT_OPTIONS = [/^_netdev$/, /^nofail$/, /^noauto$/, /^auto$/, /^users?$/, /^defaults$/, /^rw$/, /^x-systemd\..*/, /^comment=.*/, /^dev$/, /^suid$/, /^exec$/, /^nodev$/, /^nosuid$/, /^noexec$/];

function fieldFor(spec: OptionSpec): z.ZodTypeAny {
  const base = {
    string: z.string().min(1),
    boolean: z.union([z.boolean(), z.enum(["true", "false", "1", "0", ""]).transform((v) => v === "true" || v === "1" || v === "")]),
    size: z.union([z.number(), z.string()]).transform((v, ctx) => (typeof v === "number" ? v : tryParse(() => parseSize(v), ctx))),
    duration: z.union([z.number(), z.string()]).transform((v, ctx) => (typeof v === "number" ? v : tryParse(() => parseDuration(v), ctx))),
    int: z.coerce.number().int().nonnegative(),
  }[spec.type] as z.ZodTypeAny;
  return spec.default === undefined ? base.optional() : (base as z.ZodType<unknown>).prefault(spec.default); // prefault: the default is parsed like user input ("8M" → bytes)
}

function tryParse(parse: () => number, ctx: z.RefinementCtx): number {
  try {
    return parse();
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
}

export const mountConfigSchema = z.object(Object.fromEntries(MOUNT_OPTIONS.map((spec) => [spec.key, fieldFor(spec)])));

export interface MountConfig {
  endpoint?: string;
  region: string;
  profile?: string;
  noSignRequest: boolean;
  anonymous: boolean;
  billingProject?: string;
  sas?: string;
  pathStyle: boolean;
  foreground: boolean;
  readOnly: boolean;
  allowOther: boolean;
  cacheDir?: string;
  partSize: number;
  uploadConcurrency: number;
  maxDirty: number;
  metadataTtl: number;
  cacheSize: number;
  maxMemory: number;
  uid?: number;
  gid?: number;
  logLevel: string;
  logFile?: string;
  metricsAddr?: string;
  pidFile?: string;
  requestTimeout: number;
  caBundle?: string;
  encryptCache: boolean;
  encryptionKeyFile?: string;
  auditLog?: string;
  signMaxExpiry: number;
  fuseBinding: string;
  idcIndex?: string;
  idcVersion: string;
  idcSource: string;
  idcIndexUrl?: string;
  collections?: string;
  modality?: string;
}
