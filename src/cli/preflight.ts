/**
 * Checks made before mounting, each failing with a message that says what to do. They run in
 * the daemon before it reports readiness, so `bucketfs mount` prints them and exits non-zero.
 */
import { accessSync, constants, readdirSync, statSync } from "node:fs";
import { StoreError } from "../store/errors.js";
import type { ReadableStore } from "../store/object-store.js";
import { isMountpoint } from "./mount-table.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** BUCKETFS_FUSE_DEVICE names another device node (containers with a renamed device, and tests). */
export function checkFuseDevice(device = process.env.BUCKETFS_FUSE_DEVICE || "/dev/fuse"): void {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOENT"
        ? "load the module (modprobe fuse) or, in a container, pass --device /dev/fuse --cap-add SYS_ADMIN"
        : "add yourself to the group that owns it, or run as root";
    throw new UsageError(
      `${device} is not usable (${code}): ${hint}; also install FUSE (apt-get install fuse3 libfuse2)`,
    );
  }
}

export function checkMountpoint(mountpoint: string, allowNonEmpty: boolean): void {
  let stat;
  try {
    stat = statSync(mountpoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTCONN") {
      throw new UsageError(
        `mountpoint ${mountpoint} is a dead FUSE mount ("Transport endpoint is not connected"): run bucketfs unmount ${mountpoint}`,
      );
    }
    throw new UsageError(`mountpoint ${mountpoint} does not exist: create it with mkdir -p ${mountpoint}`);
  }
  if (!stat.isDirectory()) throw new UsageError(`mountpoint ${mountpoint} is not a directory`);
  if (isMountpoint(mountpoint)) {
    throw new UsageError(`mountpoint ${mountpoint} is busy: something is already mounted there (unmount it first)`);
  }
  if (!allowNonEmpty && readdirSync(mountpoint).length > 0) {
    throw new UsageError(
      `mountpoint ${mountpoint} is not empty: use an empty directory, or -o nonempty to mount over its contents`,
    );
  }
}

const ACCESS_TIMEOUT_MS = 20_000;

/** Where each backend's users set their credentials, for the advice in error messages. */
const CREDENTIAL_HINTS: Record<string, string> = {
  s3: "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile",
  gs: "check GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`",
  az: "check AZURE_STORAGE_KEY, AZURE_STORAGE_CONNECTION_STRING, the SAS (--sas), or `az login`",
};
const ANONYMOUS_HINTS: Record<string, string> = { s3: "--no-sign-request", gs: "--anonymous", az: "--anonymous" };

/** Proves the bucket is reachable with these credentials, translating failures into advice. */
export async function checkStoreAccess(
  store: ReadableStore,
  endpoint: string | undefined,
  scheme = "s3",
): Promise<void> {
  const signal = AbortSignal.timeout(ACCESS_TIMEOUT_MS);
  try {
    await store.checkAccess(signal);
  } catch (err) {
    const where = endpoint ?? (scheme === "gs" ? "storage.googleapis.com" : "the default AWS endpoint");
    if (!(err instanceof StoreError)) throw err;
    // The Azure store already names the account, container and credential kind at fault.
    if (scheme === "az" && err.kind !== "Aborted" && err.kind !== "Other") {
      const hint = err.kind === "InvalidCredentials" || err.kind === "AccessDenied" ? `; ${CREDENTIAL_HINTS.az}` : "";
      throw new UsageError(`cannot mount ${store.description}: ${err.message}${hint}`);
    }
    const advice: Partial<Record<StoreError["kind"], string>> = {
      NoSuchBucket: `the bucket does not exist at ${where}: check the name (and --endpoint/--region)`,
      InvalidCredentials: `the server at ${where} rejected the credentials: ${CREDENTIAL_HINTS[scheme] ?? CREDENTIAL_HINTS.s3}`,
      NoCredentials: `no credentials to sign requests with (${err.message}): ${CREDENTIAL_HINTS[scheme] ?? CREDENTIAL_HINTS.s3}`,
      AccessDenied: `access denied by ${where}: these credentials may not read this bucket (for public buckets use ${ANONYMOUS_HINTS[scheme] ?? ANONYMOUS_HINTS.s3})`,
      Unreachable: `cannot reach ${where}: check the URL, the network, or that the server is running`,
      Aborted: `no answer from ${where} within ${ACCESS_TIMEOUT_MS / 1000} s: check the URL and the network`,
    };
    throw new UsageError(`cannot mount ${store.description}: ${advice[err.kind] ?? err.message}`);
  }
}
