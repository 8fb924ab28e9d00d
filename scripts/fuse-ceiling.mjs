#!/usr/bin/env node
// The "FUSE ceiling" of scripts/bench-read.sh: a trivial read-only filesystem on the same binding
// bucketfs uses (dist/fuse/fuse-native-session.js over fuse-native, same mount options), serving one file of
// SIZE_MIB MiB from memory. Whatever it reaches is the most any fuse-native filesystem can
// reach on this machine, so bucketfs's warm reads are compared with it.
//
//   node scripts/fuse-ceiling.mjs <mountpoint> <size MiB>     (runs until SIGTERM/SIGINT)
import { unmountPath } from "../dist/fuse/binding.js";
import { FuseSession } from "../dist/fuse/fuse-native-session.js";

const [mountpoint, sizeMib] = process.argv.slice(2);
const size = Number(sizeMib) * 1024 * 1024;
const block = Buffer.alloc(8 * 1024 * 1024, 0x5a); // served cyclically: no per-read allocation
const now = new Date();
const stat = (mode, length) => ({ mode, size: length, uid: 0, gid: 0, mtime: now, atime: now, ctime: now, nlink: 1 });

const ops = {
  getattr: (path, cb) => {
    if (path === "/") return cb(0, stat(0o40755, 4096));
    if (path === "/data") return cb(0, stat(0o100644, size));
    return cb(-2);
  },
  readdir: (path, cb) => cb(0, path === "/" ? ["data"] : []),
  open: (_path, _flags, cb) => cb(0, 1),
  release: (_path, _fd, cb) => cb(0),
  read: (_path, _fd, buffer, length, position, cb) => {
    const end = Math.min(position + length, size);
    let written = 0;
    while (position + written < end) {
      const at = (position + written) % block.length;
      written += block.copy(buffer, written, at, Math.min(block.length, at + (end - position - written)));
    }
    cb(written);
  },
};

// The same options as a bucketfs mount (src/cli/daemon.ts fuseOptionsFor), read-only.
const session = new FuseSession(mountpoint, ops, [
  "fsname=fuse-ceiling",
  "subtype=ceiling",
  "big_writes",
  "max_write=131072",
  "max_read=131072",
  "auto_cache",
  "ro",
]);
await session.mount();
console.log(`fuse-ceiling: ${mountpoint}/data (${sizeMib} MiB) mounted`);
const stop = () => unmountPath(mountpoint).finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
