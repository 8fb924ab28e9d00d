#!/usr/bin/env node
/*
 * Rebuilds fuse-native 2.2.6 from source with two fixes to its utimens bridge, which bucketfs
 * needs for `rsync -a`, `cp -p` and `touch` to keep modification times:
 *   1. upstream passes atime in both the atime and the mtime argument slots, so mtime is lost;
 *   2. UTIME_NOW / UTIME_OMIT (tv_nsec sentinels) were converted as if they were nanoseconds.
 * After the fix, UTIME_NOW becomes the current time and UTIME_OMIT becomes 2^64-1 ms, which the
 * adapter reads as "leave unchanged".
 * And one addition: open and create answer with a page-cache code after the handle (0 keep,
 * 1 drop, 2 bypass: keep_cache / direct_io), decided per open by src/vfs/page-cache.ts, so a
 * reader keeps the version it opened while another open reads a newer one (src/fuse/binding.ts
 * passes it). Idempotent: markers in the source say what has been applied.
 * The build uses the libfuse headers bundled in fuse-shared-library, so no apt -dev package is needed.
 */
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const MARKER = "/* bucketfs: utimens fix */";
const dir = path.dirname(require.resolve("fuse-native/package.json"));
const source = path.join(dir, "fuse-native.c");
let code = fs.readFileSync(source, "utf8");

if (!code.includes(MARKER)) {
  const bugged = "  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)\n  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)";
  const fixed = "  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)\n  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)";
  const oldConv = "static uint64_t timespec_to_uint64 (const struct timespec* ts) {\n";
  const newConv =
    `${MARKER}\nstatic uint64_t timespec_to_uint64 (const struct timespec* ts) {\n` +
    "  if (ts->tv_nsec == UTIME_OMIT) return UINT64_MAX;\n" +
    "  if (ts->tv_nsec == UTIME_NOW) { struct timespec now; clock_gettime(CLOCK_REALTIME, &now); return (uint64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000; }\n";
  if (!code.includes(bugged) || !code.includes(oldConv)) {
    console.error("patch-fuse-native: fuse-native.c is not the expected 2.2.6 source; not patching");
    process.exit(1);
  }
  code = code.replace(bugged, fixed).replace(oldConv, newConv);
  if (!code.includes("#include <time.h>")) code = "#include <time.h>\n#include <sys/stat.h>\n" + code;
  fs.writeFileSync(source, code);
}

/* open/create: `signal(err, fh, cache)`; a missing or non-number code drops the cache (the safe choice). */
const CACHE_MARKER = "/* bucketfs: page cache per open */";
if (!code.includes(CACHE_MARKER)) {
  const setCache =
    `  ${CACHE_MARKER}\n  int32_t cache = 1;\n` +
    "  if (argc < 4 || napi_get_value_int32(env, argv[3], &cache) != napi_ok) cache = 1;\n" +
    "  l->info->keep_cache = cache != 1;\n  l->info->direct_io = cache == 2;\n";
  const signalFd = "  NAPI_ARGV_INT32(fd, 2)\n  if (fd != 0) {\n    l->info->fh = fd;\n  }\n})";
  for (const method of ["FUSE_METHOD(open, 2, 1,", "FUSE_METHOD(create, 2, 1,"]) {
    const at = code.indexOf(method);
    const end = at < 0 ? -1 : code.indexOf(signalFd, at);
    if (end < 0) {
      console.error(`patch-fuse-native: ${method} not found as expected; not patching`);
      process.exit(1);
    }
    code =
      code.slice(0, at) +
      method.replace(", 1,", ", 2,") +
      code.slice(at + method.length, end) +
      signalFd.slice(0, -2) +
      setCache +
      "})" +
      code.slice(end + signalFd.length);
  }
  fs.writeFileSync(source, code);
}

const built = path.join(dir, "build", "Release", "fuse.node");
// Renamed with each addition, so a build from an earlier patch level is rebuilt.
const stamp = path.join(dir, "build", "bucketfs-patched-2");
if (!fs.existsSync(built) || !fs.existsSync(stamp)) {
  const nodeGyp = require.resolve("node-gyp/bin/node-gyp.js", {
    paths: [path.dirname(process.execPath) + "/../lib/node_modules/npm", dir],
  });
  // Build against the installed Node headers (Debian's nodejs ships them) instead of downloading them.
  const nodedir = ["/usr/include/node/node.h", "/usr/local/include/node/node.h"].find((h) => fs.existsSync(h));
  const args = [
    nodeGyp,
    "rebuild",
    "--release",
    ...(nodedir ? [`--nodedir=${path.resolve(nodedir, "../../..")}`] : []),
  ];
  execFileSync(process.execPath, args, { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  fs.writeFileSync(stamp, new Date().toISOString() + "\n");
}
console.error("patch-fuse-native: fuse-native rebuilt with the utimens fix and the page cache per open");
