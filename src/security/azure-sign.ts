/**
 * SAS URLs for sharing one blob of an az:// mount (`bucketfs sign`, xattr `user.bucketfs.url`),
 * with the same maximum expiry as S3's presigned URLs (--sign-max-expiry, at most 7 days, which
 * is also the longest a user delegation key lives). An account key signs locally; Entra ID asks
 * Azure for a user delegation key. The Azure SDK is loaded on the first URL, not at mount.
 */
import type { AzureStore, AzureStoreConfig } from "../store/azure/azure-store.js";
import { checkExpiry, type UrlSigner } from "./sign.js";

export class AzureUrlSigner implements UrlSigner {
  private store?: Promise<AzureStore>;

  constructor(
    private readonly config: AzureStoreConfig,
    readonly maxExpirySeconds: number,
  ) {}

  async presignGet(key: string, expiresSeconds: number): Promise<string> {
    const seconds = checkExpiry(expiresSeconds, this.maxExpirySeconds);
    return (await this.open()).presignGet(key, seconds);
  }

  private open(): Promise<AzureStore> {
    this.store ??= import("../store/azure/azure-store.js").then(({ openAzureStore }) => openAzureStore(this.config));
    return this.store;
  }
}
