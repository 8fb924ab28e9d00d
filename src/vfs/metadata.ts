/**
 * POSIX attributes stored as object metadata under the names s3fs uses (`x-amz-meta-mode`,
 * `-uid`, `-gid`, `-mtime`), so a bucket written by either tool reads right in the other.
 * mode is the decimal st_mode including the type bits; mtime is decimal seconds, with a fraction
 * when the time has sub-second precision.
 */
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type EntryKind } from "./types.js";

export interface PosixAttributes {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
}

function parseInteger(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export function decodeAttributes(metadata: Record<string, string>): PosixAttributes {
  const mtime = metadata["mtime"] !== undefined ? Number(metadata["mtime"]) : NaN;
  return {
    mode: parseInteger(metadata["mode"]),
    uid: parseInteger(metadata["uid"]),
    gid: parseInteger(metadata["gid"]),
    mtimeMs: Number.isFinite(mtime) && mtime >= 0 ? Math.round(mtime * 1000) : undefined,
  };
}

export function encodeAttributes(attrs: PosixAttributes): Record<string, string> {
  const out: Record<string, string> = {};
  if (attrs.mode !== undefined) out["mode"] = String(attrs.mode);
  if (attrs.uid !== undefined) out["uid"] = String(attrs.uid);
  if (attrs.gid !== undefined) out["gid"] = String(attrs.gid);
  if (attrs.mtimeMs !== undefined) {
    const ms = Math.round(attrs.mtimeMs);
    out["mtime"] = ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(3);
  }
  return out;
}

/** Merges attributes into existing metadata, keeping unrelated user metadata. */
export function withAttributes(metadata: Record<string, string>, attrs: PosixAttributes): Record<string, string> {
  return { ...metadata, ...encodeAttributes(attrs) };
}

export function kindFromMode(mode: number | undefined, fallback: EntryKind): EntryKind {
  if (mode === undefined) return fallback;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) return "symlink";
  if (type === S_IFDIR) return "dir";
  if (type === S_IFREG) return "file";
  return fallback;
}

export function typeBits(kind: EntryKind): number {
  return kind === "dir" ? S_IFDIR : kind === "symlink" ? S_IFLNK : S_IFREG;
}
