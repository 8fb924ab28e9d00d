/**
 * `bucketfs sign <path-in-mount | s3://bucket/key | az://account/container/key> [--expires 1h]`:
 * prints a presigned GET URL (for Azure, a read-only SAS URL). A path in a mount is signed by that
 * mount's daemon (its credentials and endpoint, over the control socket); an s3:// URL is signed
 * here with the usual credential chain and --endpoint, an az:// URL with AZURE_STORAGE_KEY,
 * AZURE_STORAGE_CONNECTION_STRING or Entra ID. Expiry is capped by --max-expiry (default 7 days,
 * SigV4's own limit and the longest a user delegation key lives).
 */
import { realpathSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { resolveOptions } from "../config/load.js";
import { parseDuration } from "../config/units.js";
import { AzureUrlSigner } from "../security/azure-sign.js";
import { S3UrlSigner, SignError, SIGV4_MAX_EXPIRY_SECONDS, checkExpiry } from "../security/sign.js";
import { chooseAzureAuth } from "../store/azure/azure-auth.js";
import { controlRequest, controlSocketPath } from "../mount/control.js";
import { allMountRecords } from "./mount-table.js";

/** Flags as commander hands them over (main.ts declares them from the one option table). */
interface SignFlags extends Record<string, unknown> {
  expires?: string;
  maxExpiry?: string;
}

/** Durations for URLs: the config units plus days ("7d"). */
export function parseExpiry(text: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/i.exec(text);
  return days ? Number(days[1]) * 86_400 : parseDuration(text) / 1000;
}

export async function sign(target: string, flags: SignFlags): Promise<string> {
  const opts = resolveOptions(["endpoint", "region", "profile", "caBundle"], flags);
  const max = Math.min(parseExpiry(flags.maxExpiry ?? "7d"), SIGV4_MAX_EXPIRY_SECONDS);
  const seconds = checkExpiry(parseExpiry(flags.expires ?? "1h"), max);
  if (target.startsWith("s3://")) {
    // Not parseSource: a mount source's prefix is normalised to a directory, an object key is not.
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(target);
    if (!match) throw new SignError(`${target} names no object (expected s3://bucket/key)`);
    const [, bucket, key] = match;
    const signer = new S3UrlSigner(
      {
        bucket,
        endpoint: opts.endpoint,
        region: opts.region,
        profile: opts.profile,
        pathStyle: Boolean(opts.endpoint),
        caBundle: opts.caBundle,
      },
      max,
    );
    return signer.presignGet(key, seconds);
  }
  if (target.startsWith("az://")) return signAzure(target, opts.endpoint, seconds, max);
  const { mountpoint, path } = locateInMount(target);
  const response = await controlRequest(controlSocketPath(mountpoint), { op: "sign", path, expiresSeconds: seconds });
  if (!response.ok) throw new SignError(response.error);
  if (!response.url) throw new SignError(`the daemon of ${mountpoint} returned no URL`);
  return response.url;
}

async function signAzure(target: string, endpoint: string | undefined, seconds: number, max: number): Promise<string> {
  const match = /^az:\/\/([a-z0-9]{3,24})\/([a-z0-9-]{3,63})\/(.+)$/.exec(target);
  if (!match) throw new SignError(`${target} names no blob (expected az://account/container/key)`);
  const [, account, container, key] = match;
  // No SAS here: a SAS cannot sign; the key, a connection string with a key, or Entra ID can.
  return new AzureUrlSigner({ account, container, endpoint, auth: chooseAzureAuth({}) }, max).presignGet(key, seconds);
}

/** The mount that holds `target` and the target's path inside it ("/a/b"). */
function locateInMount(target: string): { mountpoint: string; path: string } {
  // Resolve the parent only: the file itself is looked up by the daemon (and may be a symlink).
  let absolute: string;
  try {
    absolute = join(realpathSync(dirname(target)), basename(target));
  } catch {
    throw new SignError(`${target}: no such directory`);
  }
  const mounts = allMountRecords()
    .map((r) => r.mountpoint)
    .sort((a, b) => b.length - a.length);
  const mountpoint = mounts.find((m) => absolute === m || absolute.startsWith(m.endsWith(sep) ? m : m + sep));
  if (!mountpoint)
    throw new SignError(
      `${target} is not in a bucketfs mount (give s3://bucket/key or az://account/container/key instead)`,
    );
  return { mountpoint, path: "/" + relative(mountpoint, absolute).split(sep).join("/") };
}
