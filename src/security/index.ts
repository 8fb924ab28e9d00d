/**
 * The security layer of a mount, built once by the daemon from its config: encryption at rest
 * (staging opener + chunk codec), the audit log, and the URL signer behind `user.bucketfs.url`
 * and `bucketfs sign`. `wrap` applies the filesystem-level parts (audit, xattr) to a mounted
 * filesystem; everything here is off unless its option is given.
 */
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import type { MountedFilesystem } from "../vfs/mounted.js";
import { atRestProtection, type AtRestProtection } from "./at-rest.js";
import { AuditedFilesystem, AuditLog } from "./audit.js";
import { loadCipher } from "./cipher.js";
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

export function s3SignerFor(source: Source, config: MountConfig): UrlSigner | undefined {
  if (source.scheme !== "s3" || config.noSignRequest) return undefined;
  return new S3UrlSigner({
    bucket: source.bucket, endpoint: config.endpoint, region: config.region, profile: config.profile,
    pathStyle: config.pathStyle || Boolean(config.endpoint), caBundle: config.caBundle,
  }, config.signMaxExpiry / 1000);
}

export function openMountSecurity(source: Source, config: MountConfig): MountSecurity {
  const atRest = config.encryptCache
    ? atRestProtection(loadCipher({ keyFile: config.encryptionKeyFile, envKey: process.env.BUCKETFS_ENCRYPTION_KEY }))
    : undefined;
  // Without allow_other only the mounting user gets through the kernel, so that uid is exact.
  const audit = config.auditLog ? new AuditLog(config.auditLog, config.allowOther ? null : process.getuid?.() ?? null) : undefined;
  const signer = s3SignerFor(source, config);
  const keys = new KeyMapper(source.prefix);
  return {
    atRest, signer, audit,
    wrap(fs) {
      const withUrl = signer ? withUrlXattr(fs, signer, source.prefix) : fs;
      return audit ? new AuditedFilesystem(withUrl, audit) : withUrl;
    },
    async signPath(path, expiresSeconds) {
      if (!signer) throw new Error(`${source.url} cannot be signed (only s3:// mounts with credentials)`);
      return signer.presignGet(keys.fileKey(path), expiresSeconds);
    },
    close: () => audit?.close(),
  };
}

