/**
 * POSIX attributes stored as object metadata under the names s3fs uses (`x-amz-meta-mode`,
 * `-uid`, `-gid`, `-mtime`, `-atime`, `-ctime`, `-rdev`), so a bucket written by either tool
 * reads right in the other. mode is the decimal st_mode including the type bits (a FIFO, socket
 * or device node is an empty object whose mode says so); times are decimal seconds, with a
 * fraction when the time has sub-second precision; rdev is the decimal device number.
 */
export interface PosixAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
  atimeMs?: number;
  ctimeMs?: number;
  rdev?: number;
}

/** Owner ids are 32-bit; anything larger in foreign metadata is ignored, not trusted. */
const ID_MAX = 0xfffffffe;

function parseInteger(value: string | undefined, max: number): number | undefined {
  if (value === undefined || !/^\d{1,20}$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return n <= max ? n : undefined;
}

function parseSeconds(value: string | undefined): number | undefined {
  const seconds = value !== undefined ? Number(value) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : undefined;
}

function formatSeconds(timeMs: number): string {
  const ms = Math.round(timeMs);
  return ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(3);
}

export function decodeAttributes(metadata: Record<string, string>): PosixAttributes {
  return {
    mode: parseInteger(metadata["mode"], 0o177777),
    uid: parseInteger(metadata["uid"], ID_MAX),
    gid: parseInteger(metadata["gid"], ID_MAX),
    mtimeMs: parseSeconds(metadata["mtime"]),
    atimeMs: parseSeconds(metadata["atime"]),
    ctimeMs: parseSeconds(metadata["ctime"]),
    rdev: parseInteger(metadata["rdev"], Number.MAX_SAFE_INTEGER),
  };
}

export function encodeAttributes(attrs: PosixAttributes): Record<string, string> {
  const out: Record<string, string> = {};
  if (attrs.mode !== undefined) out["mode"] = String(attrs.mode);
  if (attrs.uid !== undefined) out["uid"] = String(attrs.uid);
  if (attrs.gid !== undefined) out["gid"] = String(attrs.gid);
  if (attrs.mtimeMs !== undefined) out["mtime"] = formatSeconds(attrs.mtimeMs);
  if (attrs.atimeMs !== undefined) out["atime"] = formatSeconds(attrs.atimeMs);
  if (attrs.ctimeMs !== undefined) out["ctime"] = formatSeconds(attrs.ctimeMs);
  if (attrs.rdev !== undefined) out["rdev"] = String(attrs.rdev);
  return out;
}

/** Merges attributes into existing metadata, keeping unrelated user metadata. */
export function withAttributes(metadata: Record<string, string>, attrs: PosixAttributes): Record<string, string> {
  return { ...metadata, ...encodeAttributes(attrs) };
}
