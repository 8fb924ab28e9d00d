/**
 * The security layer of a mount, built once by the daemon from its config: encryption at rest
 * (staging opener + chunk codec + cache-index protector), the audit log, and the URL signer
 * behind `user.bucketfs.url` and `bucketfs sign`. `wrap` applies the filesystem-level parts
 * (audit, xattr) to a mounted filesystem; everything here is off unless its option is given.
 *
 * Opening it also makes the process private: umask 077, so everything the daemon writes from
 * here on is 0600/0700 whatever umask it was started with; and BUCKETFS_ENCRYPTION_KEY is
 * removed from the environment once read, so no child process inherits it. (What the kernel
 * shows in /proc/<pid>/environ is the environment the process was started with, readable only
 * by its user and root; a key file keeps the key out of it altogether.)
 */
import type { FuseConfig, SecurityConfig, StoreConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import type { MountedFilesystem } from "../vfs/mounted.js";
import { atRestProtection, type AtRestProtection } from "./at-rest.js";
import { audited, AuditedFilesystem, AuditLog } from "./audit.js";
import { loadCipher } from "./cipher.js";
import { chooseAzureAuth } from "../store/azure/azure-auth.js";
import { AzureUrlSigner } from "./azure-sign.js";
import { S3UrlSigner, type UrlSigner } from "./sign.js";
import { withUrlXattr } from "./url-xattr.js";
import { KeyMapper } from "../vfs/paths.js";

export { EncryptionError } from "./cipher.js";
export { SignError, type UrlSigner } from "./sign.js";

export interface MountSecurity {
  atRest?: AtRestProtection;
  signer?: UrlSigner;
  audit?: AuditLog;
  /** Audit log and `user.bucketfs.url` around `fs`. */
  wrap(fs: MountedFilesystem): MountedFilesystem;
  /** A presigned URL for a path in the mount (`bucketfs sign` through the control socket). */
  signPath(path: string, expiresSeconds: number): Promise<string>;
  close(): void;
}

/** The configuration a URL signer needs: the store's, and the longest expiry. */
export type SignerConfig = StoreConfig & Pick<SecurityConfig, "signMaxExpiry">;
/** The slice of the configuration the security layer reads. */
export type MountSecurityConfig = SecurityConfig & StoreConfig & Pick<FuseConfig, "allowOther">;

/** What a mount that cannot sign says when asked to. */
export const UNSIGNABLE =
  "only s3:// mounts with credentials, and az:// mounts with an account key or Entra ID, can sign";

export function signerFor(source: Source, config: SignerConfig): UrlSigner | undefined {
  return source.scheme === "az" ? azureSignerFor(source, config) : s3SignerFor(source, config);
}

/** az:// mounts sign with an account key (also from a connection string) or Entra ID; not with a SAS or anonymously. */
export function azureSignerFor(source: Source, config: SignerConfig): UrlSigner | undefined {
  if (source.scheme !== "az" || !source.account) return undefined;
  const auth = chooseAzureAuth({
    anonymous: config.anonymous || config.noSignRequest,
    sourceSas: source.sas,
    sas: config.sas,
  });
  if (auth.kind === "anonymous" || auth.kind === "sas") return undefined;
  return new AzureUrlSigner(
    {
      account: source.account,
      container: source.bucket,
      endpoint: config.endpoint,
      auth,
      requestTimeoutMs: config.requestTimeout,
    },
    config.signMaxExpiry / 1000,
  );
}

export function s3SignerFor(source: Source, config: SignerConfig): UrlSigner | undefined {
  if (source.scheme !== "s3" || config.noSignRequest) return undefined;
  return new S3UrlSigner(
    {
      bucket: source.bucket,
      endpoint: config.endpoint,
      region: config.region,
      profile: config.profile,
      pathStyle: config.pathStyle || Boolean(config.endpoint),
      caBundle: config.caBundle,
    },
    config.signMaxExpiry / 1000,
  );
}

/** The umask of a daemon: nothing it creates is readable by group or others. */
export const DAEMON_UMASK = 0o077;

/** The key from the environment, removed from it (child processes and later readers never see it). */
function takeEnvKey(): string | undefined {
  const key = process.env.BUCKETFS_ENCRYPTION_KEY;
  delete process.env.BUCKETFS_ENCRYPTION_KEY;
  return key;
}

export function openMountSecurity(source: Source, config: MountSecurityConfig): MountSecurity {
  process.umask(DAEMON_UMASK);
  const envKey = takeEnvKey();
  const atRest = config.encryptCache
    ? atRestProtection(loadCipher({ keyFile: config.encryptionKeyFile, envKey }))
    : undefined;
  // Without allow_other only the mounting user gets through the kernel, so that uid is exact.
  const audit = config.auditLog
    ? new AuditLog(config.auditLog, config.allowOther ? null : (process.getuid?.() ?? null))
    : undefined;
  const signer = signerFor(source, config);
  const keys = new KeyMapper(source.prefix);
  return {
    atRest,
    signer,
    audit,
    wrap(fs) {
      const withUrl = signer ? withUrlXattr(fs, signer, source.prefix) : fs;
      return audit ? new AuditedFilesystem(withUrl, audit) : withUrl;
    },
    async signPath(path, expiresSeconds) {
      if (!signer) throw new Error(`${source.url} cannot be signed (${UNSIGNABLE})`);
      const sign = (): Promise<string> => signer.presignGet(keys.fileKey(path), expiresSeconds);
      // Over the control socket: who asked is not known (null), only that it was the socket's user or root.
      return audit ? audited(audit, "sign", path, sign, { expiresSeconds, via: "bucketfs sign" }, null) : sign();
    },
    close: () => audit?.close(),
  };
}
