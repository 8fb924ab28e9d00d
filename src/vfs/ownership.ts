/**
 * Who owns what, per POSIX: new entries belong to the calling process (uid, and gid unless the
 * parent directory is set-group-ID), and chown/chmod follow the rules Linux applies. Without a
 * caller (the fuse-native binding, or calls from inside bucketfs) the mount's defaults apply and
 * nothing is refused, as before.
 */
import { readFileSync } from "node:fs";
import type { Caller } from "./caller.js";
import { FsError } from "./errors.js";
import { S_IFDIR, S_IFMT, S_ISGID, S_ISUID, S_IXGRP, type FileStat } from "./types.js";

/** fuse passes (uid_t)-1 for "leave unchanged". */
const UNCHANGED_ID = 0xffffffff;
/** NGROUPS_MAX on Linux: more ids than this in /proc is not a real process's list. */
const GROUPS_MAX = 65536;

export interface Owner {
  uid: number;
  gid: number;
}

/** The owner of a new entry: the caller, with the parent's group when the parent is set-group-ID. */
export function ownerOfNew(caller: Caller | undefined, parent: FileStat, defaults: Owner): Owner {
  const owner = caller ? { uid: caller.uid, gid: caller.gid } : defaults;
  return (parent.mode & S_ISGID) !== 0 ? { uid: owner.uid, gid: parent.gid } : owner;
}

/** A new directory inherits its parent's set-group-ID bit, as on Linux. */
export function inheritedDirMode(mode: number, parent: FileStat): number {
  return (parent.mode & S_ISGID) !== 0 ? mode | S_ISGID : mode;
}

/** The supplementary groups of a process, from /proc/<pid>/status; empty if it is gone. */
export function supplementaryGroups(pid: number): number[] {
  if (!Number.isInteger(pid) || pid <= 0) return [];
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return [];
  }
  const line = /^Groups:[ \t]*([0-9 \t]*)$/m.exec(status);
  if (!line) return [];
  return line[1]!
    .split(/\s+/)
    .filter((g) => /^\d{1,10}$/.test(g))
    .slice(0, GROUPS_MAX)
    .map(Number);
}

function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || supplementaryGroups(caller.pid).includes(gid);
}

/**
 * The attributes a chown(uid, gid) leaves, or EPERM. Only root changes the owner; the owner may
 * change the group to one of its own groups. A non-directory loses set-user-ID, and
 * set-group-ID when group-executable (otherwise that bit means mandatory locking).
 */
export function chownAttributes(
  stat: FileStat,
  uid: number,
  gid: number,
  caller: Caller | undefined,
): { uid: number; gid: number; mode?: number } {
  const newUid = uid === UNCHANGED_ID || uid === -1 ? stat.uid : uid;
  const newGid = gid === UNCHANGED_ID || gid === -1 ? stat.gid : gid;
  if (caller && caller.uid !== 0) {
    if (newUid !== stat.uid) throw new FsError("EPERM", "only root may change the owner of a file");
    if (newGid !== stat.gid && (caller.uid !== stat.uid || !inGroup(caller, newGid))) {
      throw new FsError("EPERM", "only the owner may change the group, and only to one of its groups");
    }
  }
  const changes = (uid !== UNCHANGED_ID && uid !== -1) || (gid !== UNCHANGED_ID && gid !== -1);
  if (!changes || (stat.mode & S_IFMT) === S_IFDIR) return { uid: newUid, gid: newGid };
  let mode = stat.mode & ~S_ISUID;
  if ((stat.mode & S_IXGRP) !== 0) mode &= ~S_ISGID;
  return mode === stat.mode ? { uid: newUid, gid: newGid } : { uid: newUid, gid: newGid, mode };
}

/**
 * The mode a chmod leaves, or EPERM for anyone but the owner and root. A caller outside the
 * file's group cannot set set-group-ID on it (Linux drops the bit silently).
 */
export function chmodMode(stat: FileStat, mode: number, caller: Caller | undefined): number {
  let permissions = mode & ~S_IFMT;
  // A write by another user makes the kernel clear set-user-ID/set-group-ID through a chmod in
  // that user's name: removing only those bits is allowed to anyone.
  const onlyClearsSetId =
    (permissions | S_ISUID | S_ISGID) === ((stat.mode & ~S_IFMT) | S_ISUID | S_ISGID) &&
    (permissions & ~stat.mode) === 0;
  if (caller && caller.uid !== 0 && !onlyClearsSetId) {
    if (caller.uid !== stat.uid) throw new FsError("EPERM", "only the owner may change the mode of a file");
    if ((permissions & S_ISGID) !== 0 && (stat.mode & S_IFMT) !== S_IFDIR && !inGroup(caller, stat.gid))
      permissions &= ~S_ISGID;
  }
  return (stat.mode & S_IFMT) | permissions;
}
