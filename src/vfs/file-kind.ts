/** File kinds and the type bits of st_mode, as the s3fs `mode` attribute carries them. */
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, type EntryKind } from "./types.js";

const SPECIAL_TYPES = new Set([S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK]);

export function isSpecialType(mode: number): boolean {
  return SPECIAL_TYPES.has(mode & S_IFMT);
}

export function kindFromMode(mode: number | undefined, fallback: EntryKind): EntryKind {
  if (mode === undefined) return fallback;
  const type = mode & S_IFMT;
  if (type === S_IFLNK) return "symlink";
  if (type === S_IFDIR) return "dir";
  if (type === S_IFREG) return "file";
  if (SPECIAL_TYPES.has(type)) return "special";
  return fallback;
}

/** The file-type bits of a kind; a special file's come from its stored mode. */
export function typeBits(kind: EntryKind, mode = 0): number {
  if (kind === "special") return mode & S_IFMT;
  return kind === "dir" ? S_IFDIR : kind === "symlink" ? S_IFLNK : S_IFREG;
}
