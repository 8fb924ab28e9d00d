/**
 * Azure's signer for the native cache filler: a read-only SAS URL per blob, signed locally with
 * the account key (see ../range-signer.ts). Offered only when the account key signs: a user
 * delegation SAS costs a request to Azure, and SAS or anonymous mounts have nothing to sign with;
 * those read through JavaScript.
 */
import type { BlobClient } from "@azure/storage-blob";
import type { RangeSigner } from "../object-store.js";
import { cachingRangeSigner } from "../range-signer.js";

export function azureRangeSigner(
  blobFor: (key: string) => BlobClient,
  sign: (blob: BlobClient, expiresOn: Date) => Promise<string>,
): RangeSigner {
  return cachingRangeSigner((key, expiresOn) => sign(blobFor(key), expiresOn));
}
