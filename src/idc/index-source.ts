/**
 * Where a mount's IDC index comes from, and where it is kept.
 *
 * Published index: `<base>/<version>/release_artifacts/idc_index.parquet` with its `.sha256`
 * sidecar (IDC's public `idc-index-data-artifacts` bucket; `current` is the latest release). It
 * is downloaded once, verified, loaded into SQLite, and kept per version under
 * `<cacheDir>/idc/index/<version>/`. `current` is resolved to the version recorded in the
 * parquet's metadata and remembered in `current.json`, so later mounts start without network.
 * `--idc-index FILE` (air-gapped sites) is loaded once per file path+size+mtime.
 *
 * A version becomes a directory name, and the one recorded in a downloaded parquet comes from
 * the server (whose `.sha256` proves transfer, not origin): every version — `--idc-version`, the
 * parquet's, `current.json`'s — must be a plain name (PLAIN_VERSION) before it is joined to a
 * path, so no index can make bucketfs replace or delete anything outside the index root.
 * Everything here is written private (files 0600, directories 0700).
 */
import { createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { privateDir } from "../os/private-file.js";
import { IdcIndexDb } from "./index-db.js";

export const DEFAULT_INDEX_BASE_URL = "https://storage.googleapis.com/idc-index-data-artifacts";
export const CURRENT = "current";
const PARQUET = "idc_index.parquet";
const DB = "idc_index.sqlite";

export class IdcIndexError extends Error {
  override readonly name = "IdcIndexError";
}

/**
 * What an index version may look like to become a directory name: idc-index-data releases
 * (`24.2.2`), `current`, `current-YYYY-MM-DD`. No `/`, no leading `.` or `-`, no NUL.
 */
const PLAIN_VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isPlainVersion(version: string): boolean {
  return PLAIN_VERSION.test(version);
}

/** The version asked for (`current` by default); anything that is not a plain name is refused. */
function requestedVersion(options: IndexSourceOptions): string {
  const version = options.version ?? CURRENT;
  if (!isPlainVersion(version)) {
    throw new IdcIndexError(
      `--idc-version ${JSON.stringify(version)} is not an IDC index version: expected a release such as 24.2.2, or "current"`,
    );
  }
  return version;
}

/** `root/<version>`, after checking that it is a directory directly inside root. */
function versionDir(root: string, version: string): string {
  const dir = join(root, version);
  if (!isPlainVersion(version) || dirname(resolve(dir)) !== resolve(root)) {
    throw new IdcIndexError(
      `IDC index version ${JSON.stringify(version)} is not a plain version name; refusing to use it as a directory`,
    );
  }
  return dir;
}

export interface IndexSourceOptions {
  cacheDir: string;
  /** A local idc_index parquet instead of the published one. */
  indexFile?: string;
  /** idc-index-data version such as `24.2.2`, or `current`. */
  version?: string;
  baseUrl?: string;
  onProgress?: (message: string) => void;
}

export interface ResolvedIndex {
  dbPath: string;
  /** The idc-index-data version, or `local:<file>`. */
  version: string;
  parquetPath: string;
}

/** The parquet reader is loaded only to load an index: a mount whose index is on disk never needs it. */
const loadIndexModule = (): Promise<typeof import("./index-loader.js")> => import("./index-loader.js");

export function indexRoot(cacheDir: string): string {
  return join(cacheDir, "idc", "index");
}

/** The index for a mount: from disk when already loaded, otherwise downloaded (or read) and loaded. */
export async function resolveIndex(options: IndexSourceOptions): Promise<ResolvedIndex> {
  if (options.indexFile) return localIndex(options);
  const version = requestedVersion(options);
  const root = indexRoot(options.cacheDir);
  const pinned = version === CURRENT ? readCurrent(root) : version;
  if (pinned && IdcIndexDb.isCurrent(join(root, pinned, DB))) return located(root, pinned);
  return downloadIndex(options);
}

/** Downloads (again) and loads the published index for the version asked (`current` by default). */
export async function downloadIndex(options: IndexSourceOptions): Promise<ResolvedIndex> {
  const version = requestedVersion(options);
  const root = indexRoot(options.cacheDir);
  const work = join(root, `.download-${process.pid}-${Date.now()}`);
  privateDir(work);
  try {
    const url = `${(options.baseUrl ?? DEFAULT_INDEX_BASE_URL).replace(/\/+$/, "")}/${version}/release_artifacts/${PARQUET}`;
    options.onProgress?.(`downloading ${url}`);
    const expected = parseChecksum(await fetchText(`${url}.sha256`), `${url}.sha256`);
    const actual = await download(url, join(work, PARQUET));
    if (actual !== expected)
      throw new IdcIndexError(
        `checksum mismatch for ${url}: expected sha256 ${expected}, got ${actual}; try again, or pass --idc-index FILE`,
      );
    writeFileSync(join(work, `${PARQUET}.sha256`), `${expected}  ${PARQUET}\n`, { mode: 0o600 });
    options.onProgress?.("loading the index into SQLite");
    const { loadIndex } = await loadIndexModule();
    const loaded = await loadIndex(join(work, PARQUET), join(work, DB), {
      meta: { source_url: url, source_sha256: expected },
    });
    const resolved =
      loaded.dataVersion ?? (version === CURRENT ? `current-${new Date().toISOString().slice(0, 10)}` : version);
    if (!isPlainVersion(resolved)) {
      throw new IdcIndexError(
        `${url} records index version ${JSON.stringify(resolved)}, which is not a plain version name (letters, digits, ".", "_", "-"); refusing to use it as a directory`,
      );
    }
    const target = versionDir(root, resolved);
    rmSync(target, { recursive: true, force: true });
    renameSync(work, target);
    if (version === CURRENT || !readCurrent(root)) {
      writeFileSync(
        join(root, "current.json"),
        JSON.stringify({ version: resolved, fetchedAt: new Date().toISOString() }),
        { mode: 0o600 },
      );
    }
    return located(root, resolved);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function localIndex(options: IndexSourceOptions): Promise<ResolvedIndex> {
  const file = resolve(options.indexFile!);
  let stat;
  try {
    stat = statSync(file);
  } catch {
    throw new IdcIndexError(`--idc-index ${file}: no such file (expected IDC's idc_index.parquet)`);
  }
  const key = createHash("sha256").update(`${file}\0${stat.size}\0${stat.mtimeMs}`).digest("hex").slice(0, 16);
  const dir = join(indexRoot(options.cacheDir), `local-${key}`);
  const dbPath = join(dir, DB);
  if (!IdcIndexDb.isCurrent(dbPath)) {
    privateDir(dir);
    options.onProgress?.(`loading ${file} into SQLite`);
    const { loadIndex } = await loadIndexModule();
    await loadIndex(file, dbPath, { meta: { source_file: file } });
  }
  return { dbPath, version: `local:${file}`, parquetPath: file };
}

function located(root: string, version: string): ResolvedIndex {
  const dir = versionDir(root, version);
  return { dbPath: join(dir, DB), version, parquetPath: join(dir, PARQUET) };
}

/** The version `current` stands for here; one that is not a plain name is ignored (downloaded again). */
function readCurrent(root: string): string | undefined {
  try {
    const version = (JSON.parse(readFileSync(join(root, "current.json"), "utf8")) as { version?: unknown }).version;
    return typeof version === "string" && isPlainVersion(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

/** Versions loaded on this machine (directories with a usable SQLite index). */
export function loadedVersions(cacheDir: string): { version: string; dbPath: string; current: boolean }[] {
  const root = indexRoot(cacheDir);
  if (!existsSync(root)) return [];
  const current = readCurrent(root);
  return readdirSync(root)
    .filter((name) => isPlainVersion(name) && existsSync(join(root, name, DB)))
    .map((version) => ({ version, dbPath: join(root, version, DB), current: version === current }));
}

function parseChecksum(text: string, url: string): string {
  const match = /\b([0-9a-f]{64})\b/i.exec(text);
  if (!match) throw new IdcIndexError(`${url} does not contain a sha256 checksum`);
  return match[1].toLowerCase();
}

async function get(url: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new IdcIndexError(
      `cannot download ${url} (${(err as Error).message}); offline? pass --idc-index FILE with a local idc_index.parquet`,
      { cause: err },
    );
  }
  if (!response.ok) {
    throw new IdcIndexError(
      `cannot download ${url}: HTTP ${response.status}${response.status === 404 ? " (no such IDC index version? see --idc-version)" : ""}`,
    );
  }
  return response;
}

async function fetchText(url: string): Promise<string> {
  return (await get(url)).text();
}

/** Streams url to file, returning the sha256 of what was written. */
async function download(url: string, file: string): Promise<string> {
  const response = await get(url);
  const hash = createHash("sha256");
  const body = Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
  body.on("data", (chunk: Buffer) => hash.update(chunk));
  await pipeline(body, createWriteStream(file, { mode: 0o600 }));
  return hash.digest("hex");
}
