/**
 * bundle.ts — the second half of `npm run build`: bundles the compiled CLI (dist/cli/main.js) and
 * the JavaScript packages it imports into a few files in dist/bundle/, which bin/bucketfs.js runs.
 *
 * Why: a mount's daemon loaded about 290 files (the AWS SDK alone is most of them), and
 * `node --cpu-prof` showed Node's module loader (resolving, reading, format detection, compiling)
 * taking 440 of the daemon's 970 ms. Bundled, a mount is ready about 0.13 s sooner
 * (docs/benchmarks.md, "Startup"). Code splitting keeps each command's lazy imports lazy, so
 * `--version` still loads only its own few modules.
 *
 * Native addons (better-sqlite3, fuse-native) stay external: they find their .node files from
 * their own package directories. Output sits two levels below the root, like dist/cli/, so the
 * paths our code resolves from import.meta (native/, bin/) are the same bundled or not.
 *   npx tsx scripts/bundle.ts
 */
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist/bundle");

// CommonJS packages inside an ES module bundle call require() for Node's built-ins.
const REQUIRE_SHIM =
  'import { createRequire as __bucketfsCreateRequire } from "node:module";\n' +
  "const require = __bucketfsCreateRequire(import.meta.url);";

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ["dist/cli/main.js"],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Packages that ship an ES module build (the AWS SDK's dist-es) are bundled from it: esbuild can
  // then drop the commands and schemas bucketfs never sends, and skips the CommonJS interop that
  // copies every export. A mount's daemon evaluates about a third less code (docs/benchmarks.md).
  mainFields: ["module", "main"],
  external: ["better-sqlite3", "fuse-native"],
  banner: { js: REQUIRE_SHIM },
  logLevel: "warning",
  metafile: true,
  // Smaller sources decode and pre-parse faster; identifiers stay, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
});
const files = Object.keys(result.metafile.outputs).length;
console.log(`bundle: ${files} files in dist/bundle (${result.warnings.length} warnings)`);
