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
import { Command } from "commander";
import { parseDuration } from "../config/units.js";
import { AzureUrlSigner } from "../security/azure-sign.js";
import { S3UrlSigner, SignError, SIGV4_MAX_EXPIRY_SECONDS, checkExpiry } from "../security/sign.js";
import { chooseAzureAuth } from "../store/azure/azure-auth.js";
import { controlRequest, controlSocketPath } from "../mount/control.js";
import { allMountRecords } from "./mount-table.js";

interface SignOptions {
  expires: string;
  maxExpiry: string;
  endpoint?: string;
  region: string;
  profile?: string;
  caBundle?: string;
}

/** Durations for URLs: the config units plus days ("7d"). */
export function parseExpiry(text: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/i.exec(text);
  return days ? Number(days[1]) * 86_400 : parseDuration(text) / 1000;
}

export function signCommand(): Command {
  return new Command("sign").description("print a presigned GET URL for a file in a mount, an s3:// object or an az:// blob")
    .argument("<target>", "path of a file in a bucketfs mount, s3://bucket/key, or az://account/container/key")
    .option("--expires <duration>", "how long the URL is valid (e.g. 15m, 1h, 2d)", "1h")
    .option("--max-expiry <duration>", "refuse expiries longer than this", "7d")
    .option("--endpoint <url>", "s3:// and az:// targets: S3-compatible endpoint, or blob service (Azurite)", process.env.BUCKETFS_ENDPOINT)
    .option("--region <region>", "s3:// targets: region", process.env.AWS_REGION ?? "us-east-1")
    .option("--profile <name>", "s3:// targets: credentials profile", process.env.AWS_PROFILE)
    .option("--ca-bundle <file>", "s3:// targets: extra CA certificates (PEM)", process.env.AWS_CA_BUNDLE)
    .action(async (target: string, opts: SignOptions) => console.log(await sign(target, opts)));
}

async function sign(target: string, opts: SignOptions): Promise<string> {
  const max = Math.min(parseExpiry(opts.maxExpiry), SIGV4_MAX_EXPIRY_SECONDS);
  const seconds = checkExpiry(parseExpiry(opts.expires), max);
  if (target.startsWith("s3://")) {
    // Not parseSource: a mount source's prefix is normalised to a directory, an object key is not.
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(target);
    if (!match) throw new SignError(`${target} names no object (expected s3://bucket/key)`);
    const [, bucket, key] = match;
    const signer = new S3UrlSigner({
      bucket, endpoint: opts.endpoint, region: opts.region, profile: opts.profile,
      pathStyle: Boolean(opts.endpoint), caBundle: opts.caBundle,
    }, max);
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
  const mounts = allMountRecords().map((r) => r.mountpoint).sort((a, b) => b.length - a.length);
  const mountpoint = mounts.find((m) => absolute === m || absolute.startsWith(m.endsWith(sep) ? m : m + sep));
  if (!mountpoint) throw new SignError(`${target} is not in a bucketfs mount (give s3://bucket/key or az://account/container/key instead)`);
  return { mountpoint, path: "/" + relative(mountpoint, absolute).split(sep).join("/") };
}
