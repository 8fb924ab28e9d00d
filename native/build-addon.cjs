#!/usr/bin/env node
/*
 * Builds the libfuse3 addon (native/src) with node-gyp against the installed Node headers and
 * apt's libfuse3-dev, offline. Skips the build when the addon is newer than its sources.
 *   node native/build-addon.cjs          # release build → native/build/Release/bucketfs_fuse.node
 *   BUCKETFS_ASAN=1 node native/build-addon.cjs --force   # AddressSanitizer build (CI)
 * Exit status 1 with the compiler's message when it cannot build; bucketfs then falls back to
 * fuse-native (`--fuse-binding auto`).
 */
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const dir = __dirname;
const built = path.join(dir, "build", "Release", "bucketfs_fuse.node");
const sources = ["binding.gyp", ...fs.readdirSync(path.join(dir, "src")).map((f) => path.join("src", f))];
const force = process.argv.includes("--force") || process.env.BUCKETFS_ASAN === "1";
const newest = Math.max(...sources.map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
if (!force && fs.existsSync(built) && fs.statSync(built).mtimeMs > newest) {
  console.error("build-addon: native/build/Release/bucketfs_fuse.node is up to date");
  process.exit(0);
}
const nodeGyp = require.resolve("node-gyp/bin/node-gyp.js", {
  paths: [path.join(path.dirname(process.execPath), "../lib/node_modules/npm"), dir],
});
const nodedir = ["/usr/include/node/node.h", "/usr/local/include/node/node.h"].find((h) => fs.existsSync(h));
const args = [
  nodeGyp,
  "rebuild",
  "--release",
  "--loglevel=error",
  ...(nodedir ? [`--nodedir=${path.resolve(nodedir, "../../..")}`] : []),
];
try {
  execFileSync(process.execPath, args, { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
} catch {
  console.error("build-addon: could not build the libfuse3 addon (needs libfuse3-dev, zlib1g-dev, a C compiler)");
  process.exit(1);
}
console.error(
  `build-addon: built ${path.relative(process.cwd(), built)}${process.env.BUCKETFS_ASAN === "1" ? " (AddressSanitizer)" : ""}`,
);
