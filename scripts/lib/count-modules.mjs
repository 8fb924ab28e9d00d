// count-modules.mjs — preload (node --import) that records every module a process loads, for
// scripts/bench-startup.sh. ES modules are seen by a load hook (it runs on the hooks thread, so
// it appends to a file named after the pid); CommonJS modules that require() pulls in never
// reach that hook, so require.cache is added at exit. The union, deduplicated, is the count.
//   BUCKETFS_MODULE_LOG=DIR node --import ./scripts/lib/count-modules.mjs …  → DIR/<pid>.modules
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { join } from "node:path";

const dir = process.env.BUCKETFS_MODULE_LOG;
if (dir) {
  const file = join(dir, `${process.pid}.modules`);
  register("./count-modules-hook.mjs", import.meta.url, { data: { file } });
  const cache = createRequire(import.meta.url).cache;
  process.on("exit", () =>
    appendFileSync(
      file,
      Object.keys(cache)
        .map((p) => `${p}\n`)
        .join(""),
    ),
  );
}
