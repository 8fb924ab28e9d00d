/**
 * The one option table. Every flag of every command, every `-o name=value` (fstab) option, every
 * environment variable and every line of `--help` and of README's option table comes from here;
 * the zod schema (schema.ts) is built from the same entries, so MountConfig's type is inferred
 * from them. Plain data on purpose: `bucketfs --help` and `--version` read it without loading zod.
 */

export type OptionType = "string" | "boolean" | "size" | "duration" | "int";

/**
 * Which component an option configures: a component receives only its slice (schema.ts).
 * "command" options belong to one command (sign, prefetch …) and are no part of MountConfig.
 */
export type OptionGroup =
  "store" | "fuse" | "cache" | "prefetch" | "writeBack" | "metadata" | "service" | "security" | "idc";

export interface OptionSpec {
  /** Long flag and `-o` name, kebab-case. */
  readonly name: string;
  readonly short?: string;
  readonly type: OptionType;
  readonly group: OptionGroup;
  readonly help: string;
  readonly default?: string | number | boolean;
  readonly env?: string;
  /** Other `-o` spellings, e.g. `ro` for read-only. */
  readonly aliases?: readonly string[];
  /** What README's table shows as the default when there is none to show (e.g. "AWS"). */
  readonly shownDefault?: string;
  /** The value's placeholder in README's table (default by type: SIZE, DURATION, N, VALUE). */
  readonly value?: string;
}

/** Keyed by the property name in MountConfig. */
export const MOUNT_OPTIONS = {
  endpoint: {
    value: "URL",
    name: "endpoint",
    type: "string",
    group: "store",
    help: "endpoint URL: S3-compatible server (Ceph, MinIO, …), for gs:// a GCS emulator (http://) or private endpoint (https://), for az:// Azurite (http://127.0.0.1:10000) or another blob service URL",
    env: "BUCKETFS_ENDPOINT",
    shownDefault: "AWS",
  },
  region: {
    value: "R",
    name: "region",
    type: "string",
    group: "store",
    help: "region",
    default: "us-east-1",
    env: "AWS_REGION",
  },
  profile: {
    value: "P",
    name: "profile",
    type: "string",
    group: "store",
    help: "credentials profile from ~/.aws/credentials",
    env: "AWS_PROFILE",
  },
  noSignRequest: {
    name: "no-sign-request",
    type: "boolean",
    group: "store",
    help: "anonymous requests (public buckets)",
    default: false,
  },
  anonymous: {
    name: "anonymous",
    type: "boolean",
    group: "store",
    help: "gs:// and az:// only: no credentials (public buckets and containers)",
    default: false,
  },
  sas: {
    value: "TOKEN",
    name: "sas",
    type: "string",
    group: "store",
    help: "az:// only: a SAS token for the container or account (better in AZURE_STORAGE_SAS_TOKEN: command lines are visible to other users)",
    env: "AZURE_STORAGE_SAS_TOKEN",
  },
  billingProject: {
    value: "PROJECT",
    name: "billing-project",
    type: "string",
    group: "store",
    help: "gs:// only: project billed for requester-pays buckets (userProject)",
    env: "BUCKETFS_BILLING_PROJECT",
  },
  pathStyle: {
    name: "path-style",
    type: "boolean",
    group: "store",
    help: "path-style URLs (default when --endpoint is given)",
    default: false,
  },
  foreground: {
    name: "foreground",
    short: "f",
    type: "boolean",
    group: "service",
    help: "stay in the foreground (no daemon)",
    default: false,
  },
  readOnly: {
    name: "read-only",
    type: "boolean",
    group: "fuse",
    help: "mount read-only",
    default: false,
    aliases: ["ro"],
  },
  allowOther: {
    name: "allow-other",
    type: "boolean",
    group: "fuse",
    help: "let other users access the mount (enables default_permissions)",
    default: false,
    aliases: ["allow_other"],
  },
  cacheDir: {
    value: "DIR",
    name: "cache-dir",
    type: "string",
    group: "cache",
    help: "directory for staging and cache data (default $XDG_CACHE_HOME/bucketfs)",
    env: "BUCKETFS_CACHE_DIR",
    shownDefault: "$XDG_CACHE_HOME/bucketfs",
  },
  partSize: {
    name: "part-size",
    type: "size",
    group: "writeBack",
    help: "multipart upload part size; also the single-PUT threshold",
    default: "8M",
  },
  uploadConcurrency: {
    name: "upload-concurrency",
    type: "int",
    group: "writeBack",
    help: "parts uploaded in parallel per file",
    default: 4,
  },
  maxDirty: {
    name: "max-dirty",
    type: "size",
    group: "writeBack",
    help: "data written but not yet uploaded beyond which writers wait for uploads in progress",
    default: "1G",
  },
  metadataTtl: {
    name: "metadata-ttl",
    type: "duration",
    group: "metadata",
    help: "how long stat and listing results are trusted (names found missing: min(TTL, 1 s))",
    default: "10s",
  },
  cacheSize: {
    name: "cache-size",
    type: "size",
    group: "cache",
    help: "byte cap of the on-disk read cache (0 = no disk cache)",
    default: "10G",
    env: "BUCKETFS_CACHE_SIZE",
  },
  maxMemory: {
    name: "max-memory",
    type: "size",
    group: "prefetch",
    help: "memory for read-ahead across all open files; prefetch backs off beyond it",
    default: "128M",
  },
  uid: {
    name: "uid",
    type: "int",
    group: "fuse",
    help: "owner of files without stored attributes (default: you)",
    shownDefault: "you",
  },
  gid: {
    name: "gid",
    type: "int",
    group: "fuse",
    help: "group of files without stored attributes (default: yours)",
    shownDefault: "yours",
  },
  logLevel: {
    value: "L",
    name: "log-level",
    type: "string",
    group: "service",
    help: "trace, debug, info, warn, error",
    default: "info",
    env: "BUCKETFS_LOG_LEVEL",
  },
  logFile: {
    value: "FILE",
    name: "log-file",
    type: "string",
    group: "service",
    help: "log file for the background daemon (default under the cache dir; - = stderr of bucketfs mount, e.g. journald)",
  },
  metricsAddr: {
    value: "ADDR",
    name: "metrics-addr",
    type: "string",
    group: "service",
    help: "serve Prometheus metrics at http://ADDR/metrics (PORT = loopback, :PORT = all interfaces)",
    env: "BUCKETFS_METRICS_ADDR",
  },
  pidFile: {
    value: "FILE",
    name: "pid-file",
    type: "string",
    group: "service",
    help: "write the daemon's pid here once mounted (systemd PIDFile=)",
  },
  requestTimeout: {
    name: "request-timeout",
    type: "duration",
    group: "store",
    help: "per-attempt timeout of a store request with no progress; failed attempts are retried with backoff and jitter (5 attempts)",
    default: "60s",
  },
  caBundle: {
    value: "FILE",
    name: "ca-bundle",
    type: "string",
    group: "store",
    help: "PEM file of extra CA certificates to trust for HTTPS endpoints (TLS verification stays on); HTTPS_PROXY/NO_PROXY are honoured",
    env: "AWS_CA_BUNDLE",
  },
  encryptCache: {
    name: "encrypt-cache",
    type: "boolean",
    group: "security",
    help: "encrypt staging and read-cache files at rest (AES-256-GCM); key from --encryption-key-file or BUCKETFS_ENCRYPTION_KEY",
    default: false,
  },
  encryptionKeyFile: {
    value: "FILE",
    name: "encryption-key-file",
    type: "string",
    group: "security",
    help: "file holding the 32-byte key for --encrypt-cache (64 hex digits, base64, or raw)",
    env: "BUCKETFS_ENCRYPTION_KEY_FILE",
  },
  auditLog: {
    value: "FILE",
    name: "audit-log",
    type: "string",
    group: "security",
    help: "append one JSON line per file operation (time, uid, pid, operation, path, bytes) to FILE",
  },
  signMaxExpiry: {
    name: "sign-max-expiry",
    type: "duration",
    group: "security",
    help: "longest expiry of presigned URLs (bucketfs sign, xattr user.bucketfs.url)",
    default: "168h",
  },
  fuseBinding: {
    value: "B",
    name: "fuse-binding",
    type: "string",
    group: "fuse",
    help: "FUSE binding: auto (the libfuse3 addon in native/ when it is built, else fuse-native), native, or fuse-native",
    default: "auto",
    env: "BUCKETFS_FUSE_BINDING",
  },
  idcIndex: {
    value: "FILE",
    name: "idc-index",
    type: "string",
    group: "idc",
    help: "IDC: use this local idc_index.parquet instead of downloading the published one",
    env: "BUCKETFS_IDC_INDEX",
  },
  idcVersion: {
    value: "V",
    name: "idc-version",
    type: "string",
    group: "idc",
    help: "IDC: idc-index-data release to use, e.g. 24.2.2",
    default: "current",
  },
  idcSource: {
    value: "aws|gcs",
    name: "idc-source",
    type: "string",
    group: "idc",
    help: "IDC: read the AWS buckets (aws) or Google's mirror (gcs)",
    default: "aws",
  },
  idcIndexUrl: {
    value: "URL",
    name: "idc-index-url",
    type: "string",
    group: "idc",
    help: "IDC: base URL of the published index artifacts (mirrors)",
    env: "BUCKETFS_IDC_INDEX_URL",
  },
  collections: {
    value: "LIST",
    name: "collections",
    type: "string",
    group: "idc",
    help: "IDC: show only these collections (comma-separated collection_id)",
  },
  modality: {
    value: "LIST",
    name: "modality",
    type: "string",
    group: "idc",
    help: "IDC: show only series of these modalities (comma-separated, e.g. SM,CT)",
  },
} as const satisfies Record<string, OptionSpec>;

export type MountOptionKey = keyof typeof MOUNT_OPTIONS;

/** Options of one command only (not mount configuration); the same shape, in the same file. */
export interface CommandOptionSpec {
  readonly name: string;
  readonly short?: string;
  /** The value's placeholder in --help; none for a switch. */
  readonly value?: string;
  readonly help: string;
  readonly default?: string;
}

export const COMMAND_OPTIONS = {
  options: {
    name: "options",
    short: "o",
    value: "options...",
    help: "comma-separated mount options (fstab style), e.g. ro,allow_other,endpoint=URL",
  },
  json: { name: "json", help: "machine-readable output" },
  lazy: { name: "lazy", short: "l", help: "detach now even if busy" },
  expires: { name: "expires", value: "duration", help: "how long the URL is valid (e.g. 15m, 1h, 2d)", default: "1h" },
  maxExpiry: { name: "max-expiry", value: "duration", help: "refuse expiries longer than this", default: "7d" },
  concurrency: { name: "concurrency", value: "n", help: "files read in parallel", default: "4" },
} as const satisfies Record<string, CommandOptionSpec>;

export type CommandOptionKey = keyof typeof COMMAND_OPTIONS;

/** mount(8) options that matter to mount/systemd, not to bucketfs: accepted and ignored. */
export const IGNORED_MOUNT_OPTIONS = [
  /^_netdev$/,
  /^nofail$/,
  /^noauto$/,
  /^auto$/,
  /^users?$/,
  /^defaults$/,
  /^rw$/,
  /^x-systemd\..*/,
  /^comment=.*/,
  /^dev$/,
  /^suid$/,
  /^exec$/,
  /^nodev$/,
  /^nosuid$/,
  /^noexec$/,
];

const PLACEHOLDERS: Record<OptionType, string> = {
  string: "VALUE",
  boolean: "",
  size: "SIZE",
  duration: "DURATION",
  int: "N",
};

/** The value's name in --help and README (`--part-size SIZE`); "" for a switch. */
export function placeholderOf(spec: OptionSpec): string {
  return spec.type === "boolean" ? "" : (spec.value ?? PLACEHOLDERS[spec.type]);
}

/** The entries of the table with their keys, in table order. */
export function mountOptionEntries(): [MountOptionKey, OptionSpec][] {
  return Object.entries(MOUNT_OPTIONS) as [MountOptionKey, OptionSpec][];
}
