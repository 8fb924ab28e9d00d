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
  { key: "endpoint", name: "endpoint", type: "string", help: "S3-compatible endpoint URL (Ceph, MinIO, …)", env: "BUCKETFS_ENDPOINT" },
  { key: "region", name: "region", type: "string", help: "region", default: "us-east-1", env: "AWS_REGION" },
  { key: "profile", name: "profile", type: "string", help: "credentials profile from ~/.aws/credentials", env: "AWS_PROFILE" },
  { key: "noSignRequest", name: "no-sign-request", type: "boolean", help: "anonymous requests (public buckets)", default: false },
  { key: "pathStyle", name: "path-style", type: "boolean", help: "path-style URLs (default when --endpoint is given)", default: false },
  { key: "foreground", name: "foreground", short: "f", type: "boolean", help: "stay in the foreground (no daemon)", default: false },
  { key: "readOnly", name: "read-only", type: "boolean", help: "mount read-only", default: false, aliases: ["ro"] },
  { key: "allowOther", name: "allow-other", type: "boolean", help: "let other users access the mount (enables default_permissions)", default: false, aliases: ["allow_other"] },
  { key: "cacheDir", name: "cache-dir", type: "string", help: "directory for staging and cache data (default $XDG_CACHE_HOME/bucketfs)", env: "BUCKETFS_CACHE_DIR" },
  { key: "partSize", name: "part-size", type: "size", help: "multipart upload part size; also the single-PUT threshold", default: "8M" },
  { key: "uploadConcurrency", name: "upload-concurrency", type: "int", help: "parts uploaded in parallel per file", default: 4 },
  { key: "metadataTtl", name: "metadata-ttl", type: "duration", help: "how long stat and listing results are trusted", default: "10s" },
  { key: "uid", name: "uid", type: "int", help: "owner of files without stored attributes (default: you)" },
  { key: "gid", name: "gid", type: "int", help: "group of files without stored attributes (default: yours)" },
  { key: "logLevel", name: "log-level", type: "string", help: "trace, debug, info, warn, error", default: "info", env: "BUCKETFS_LOG_LEVEL" },
  { key: "logFile", name: "log-file", type: "string", help: "log file for the background daemon (default under the cache dir)" },
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
  pathStyle: boolean;
  foreground: boolean;
  readOnly: boolean;
  allowOther: boolean;
  cacheDir?: string;
  partSize: number;
  uploadConcurrency: number;
  metadataTtl: number;
  uid?: number;
  gid?: number;
  logLevel: string;
  logFile?: string;
}
