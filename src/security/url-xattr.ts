/**
 * The `user.bucketfs.url` extended attribute: `getfattr -n user.bucketfs.url --only-values FILE`
 * prints a presigned GET URL (default expiry 1 h, within the mount's maximum) for the file's
 * object. Directories and unsaved files have no such attribute (ENODATA). Other attributes come
 * from the filesystem's own provider, if it has one. With --audit-log, every URL minted here is
 * recorded (audit.ts).
 */
import { FsError } from "../vfs/errors.js";
import type { MountedFilesystem, XattrProvider } from "../vfs/mounted.js";
import { KeyMapper } from "../vfs/paths.js";
import { DEFAULT_EXPIRY_SECONDS, type UrlSigner } from "./sign.js";

export const URL_XATTR = "user.bucketfs.url";

export class SignedUrlXattrs implements XattrProvider {
  /** Validity of the URLs this attribute mints (the default, within the mount's maximum). */
  readonly expirySeconds: number;

  constructor(
    private readonly fs: Pick<MountedFilesystem, "getattr" | "xattrs">,
    private readonly signer: UrlSigner,
    private readonly keys: KeyMapper,
    private readonly inner?: XattrProvider,
  ) {
    this.expirySeconds = Math.min(DEFAULT_EXPIRY_SECONDS, signer.maxExpirySeconds);
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    if (name !== URL_XATTR) {
      if (this.inner) return this.inner.getxattr(path, name);
      throw new FsError("ENODATA", `no extended attribute ${name}`);
    }
    if (!(await this.signable(path))) throw new FsError("ENODATA", `${path} has no object to sign`);
    return Buffer.from(await this.signer.presignGet(this.keys.fileKey(path), this.expirySeconds));
  }

  async listxattr(path: string): Promise<string[]> {
    const names = this.inner ? await this.inner.listxattr(path) : [];
    return (await this.signable(path)) ? [...names, URL_XATTR] : names;
  }

  /** A stored regular file (one with an ETag): directories and unsaved files have no object yet. */
  private async signable(path: string): Promise<boolean> {
    const stat = await this.fs.getattr(path);
    return stat.kind === "file" && stat.etag !== undefined;
  }
}

/** `fs` with SignedUrlXattrs as its attribute provider (other members unchanged). */
export function withUrlXattr<T extends MountedFilesystem>(fs: T, signer: UrlSigner, prefix: string): MountedFilesystem {
  const xattrs = new SignedUrlXattrs(fs, signer, new KeyMapper(prefix), fs.xattrs);
  return new Proxy(fs, {
    get(target, property, receiver) {
      if (property === "xattrs") return xattrs;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
