/**
 * What one Filesystem serves: a tree of names over a store. Two trees implement it, the bucket's
 * listing-based tree (bucket-namespace.ts) and IDC's index tree (src/idc/idc-namespace.ts); the
 * Filesystem owns the handles, the read chain and, for a WritableNamespace, write-back.
 */
import type { ObjectVersion } from "../read/range-reader.js";
import type { ListedObject, ObjectInfo } from "../store/object-store.js";
import type { KeyMapper } from "./paths.js";
import type { XattrProvider } from "./mounted.js";
import type { DirEntry, FileStat, FsStatfs } from "./types.js";
/**
 * A tree of names: lookups, listings, and the object a read fetches.
 */
export interface Namespace {
  /** The stat of a path; rejects with FsError (ENOENT, ENAMETOOLONG, …). */
  lookup(path: string): Promise<FileStat>;
  /** As lookup, and ENOTDIR unless a directory. */
  lookupDir(path: string): Promise<FileStat>;
  /** The entries of a directory (without "." and ".."). */
  list(path: string): Promise<DirEntry[]>;
  /** The object a read of this file fetches, for the stat `lookup` gave. */
  readVersion(path: string, stat: FileStat): Promise<ObjectVersion>;
  statfs(): FsStatfs;
  /** Extended attributes the tree itself provides (none when absent). */
  readonly xattrs?: XattrProvider;
  /** Closes what the tree holds open (attribute and index databases). */
  close(): void;
}

/** The hooks write-back and tree operations use to keep a writable tree's caches true. */
export interface WritableNamespace extends Namespace {
  readonly mapper: KeyMapper;
  tryLookup(path: string): Promise<FileStat | undefined>;
  remember(path: string, stat: FileStat): void;
  rememberNewDir(path: string, stat: FileStat): void;
  rememberMissing(path: string): void;
  forget(path: string): void;
  forgetStat(path: string): void;
  forgetTree(path: string): void;
  statFromObject(object: ObjectInfo | ListedObject, metadata?: Record<string, string>): FileStat;
  dirStat(metadata?: Record<string, string>, lastModified?: Date): FileStat;
  defaultAttributes(): { uid: number; gid: number };
  /** An entry of `dir` was created, removed or renamed: its mtime and ctime move to now. */
  touchDir(dir: string, now?: number): void;
}

export interface NamespaceConfig {
  uid: number;
  gid: number;
  /** Permission bits for files without stored attributes. */
  fileMode: number;
  dirMode: number;
  metadataTtlMs: number;
  negativeTtlMs: number;
  /** Time source of the TTLs (default: performance); tests pass a clock they move by hand. */
  clock?: { now(): number };
}

/** What the write path knows that the bucket does not yet (files not uploaded). */
export interface LocalOverlay {
  statOf(path: string): FileStat | undefined;
  entriesIn(dirPath: string): DirEntry[];
}
