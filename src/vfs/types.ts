/** Plain types shared by the filesystem core and its callers. No FUSE types here. */
/** "special": a FIFO, socket or device node, stored as an empty object whose mode says which. */
export type EntryKind = "file" | "dir" | "symlink" | "special";

export interface FileStat {
  kind: EntryKind;
  /** Full st_mode, including the file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Milliseconds since the epoch. */
  mtimeMs: number;
  ctimeMs: number;
  /** Last access; the mtime when none was stored. */
  atimeMs?: number;
  /** Device number of a character or block device node. */
  rdev?: number;
  /** Version of the object this stat came from; undefined for directories and unsaved files. */
  etag?: string;
}

export interface DirEntry {
  name: string;
  stat: FileStat;
}

export interface FsStatfs {
  blockSize: number;
  blocks: number;
  blocksFree: number;
  files: number;
  filesFree: number;
  nameMax: number;
}

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o010;

export const O_ACCMODE = 0o3;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

export function isWriteFlags(flags: number): boolean {
  const access = flags & O_ACCMODE;
  return access === O_WRONLY || access === O_RDWR;
}
