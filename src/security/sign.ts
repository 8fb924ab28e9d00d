/**
 * Presigned GET URLs for sharing one object (`bucketfs sign`, xattr `user.bucketfs.url`). The
 * URL is signed locally with the mount's credentials (no request is sent) and carries its own
 * expiry, capped by `--sign-max-expiry` and by SigV4's hard limit of 7 days.
 *
 * Only S3 sources can be signed here: GCS V4 signing needs a service-account key, and IDC
 * objects are public already.
 */
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { clientConfig, type S3StoreConfig } from "../store/s3/s3-client-config.js";

/** SigV4 refuses presigned URLs valid for longer than this. */
export const SIGV4_MAX_EXPIRY_SECONDS = 7 * 24 * 3600;
export const DEFAULT_EXPIRY_SECONDS = 3600;

export class SignError extends Error {
  override readonly name = "SignError";
}

export interface UrlSigner {
  /** A GET URL for `key` valid for `expiresSeconds` (rejects beyond the maximum). */
  presignGet(key: string, expiresSeconds: number): Promise<string>;
  readonly maxExpirySeconds: number;
}

export function checkExpiry(expiresSeconds: number, maxSeconds: number): number {
  const cap = Math.min(maxSeconds, SIGV4_MAX_EXPIRY_SECONDS);
  if (!Number.isFinite(expiresSeconds) || expiresSeconds < 1) throw new SignError("expiry must be at least 1 second");
  if (expiresSeconds > cap)
    throw new SignError(`expiry ${expiresSeconds}s exceeds the maximum of ${cap}s (--sign-max-expiry)`);
  return Math.floor(expiresSeconds);
}

export class S3UrlSigner implements UrlSigner {
  private readonly client: S3Client;

  constructor(
    private readonly config: S3StoreConfig,
    readonly maxExpirySeconds: number,
  ) {
    if (config.noSignRequest)
      throw new SignError("anonymous mounts (--no-sign-request) have no credentials to sign with");
    this.client = new S3Client(clientConfig(config));
  }

  async presignGet(key: string, expiresSeconds: number): Promise<string> {
    const expiresIn = checkExpiry(expiresSeconds, this.maxExpirySeconds);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.config.bucket, Key: key }), { expiresIn });
  }
}
