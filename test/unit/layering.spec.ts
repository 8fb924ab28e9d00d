/**
 * The layering rules (.dependency-cruiser.cjs): the real tree obeys them, and a tree with a
 * back-edge, a sibling import, DirtyFile outside write/ or a folder without a layer does not —
 * so the rules can fail, and `npm run lint` fails with them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import extractDepcruiseConfig from "dependency-cruiser/config-utl/extract-depcruise-config";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { describe, expect, it } from "vitest";
import { testTempDir } from "../helpers/temp-dirs.js";

const REPO = resolve(import.meta.dirname, "../..");

/** Every rule violation under `root`/src as "rule: from -> to", sorted. */
async function violations(root: string): Promise<string[]> {
  const config = await extractDepcruiseConfig(join(REPO, ".dependency-cruiser.cjs"));
  const { forbidden, options } = config;
  const result = await cruise(
    ["src"],
    {
      ...options,
      ruleSet: { forbidden },
      validate: true,
      baseDir: root,
      tsConfig: { fileName: join(root, "tsconfig.json") },
    },
    {},
    { tsConfig: extractTSConfig(join(root, "tsconfig.json")) },
  );
  const output = result.output as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

/** Writes `files` (path relative to root -> content) and a tsconfig like the real one. */
function tree(root: string, files: Record<string, string>): void {
  writeFileSync(
    join(root, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true },
      include: ["src/**/*.ts"],
    }),
  );
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

describe("the layering rules", () => {
  it("hold on the real tree, every src folder having a layer", async () => {
    expect(await violations(REPO)).toEqual([]);
  });

  it("catch a back-edge, a sibling import, DirtyFile outside write/ and a folder without a layer", async () => {
    const root = testTempDir("bucketfs-layering-");
    tree(root, {
      // Allowed: down the layers, inside a folder, and a temporary exception's exact import.
      "src/vfs/tree.ts":
        'import { get } from "../store/store.js";\nimport { part } from "./part.js";\nexport const tree = [get, part];\n',
      "src/vfs/part.ts": "export const part = 1;\n",
      "src/vfs/open-files.ts":
        'import type { DirtyFile } from "../write/dirty-file.js";\nexport type Files = DirtyFile[];\n',
      "src/write/dirty-file.ts": "export class DirtyFile {}\n",
      // A back-edge: store (low) imports vfs (high), type-only.
      "src/store/store.ts":
        'import type { Files } from "../vfs/open-files.js";\nexport const get = (f?: Files) => f;\n',
      // A sibling import on one layer: read -> write.
      "src/read/reader.ts": 'import { DirtyFile } from "../write/dirty-file.js";\nexport const r = new DirtyFile();\n',
      // DirtyFile seen outside write/ by a file that has no exception (a downward import otherwise).
      "src/fuse/adapter.ts": 'import { DirtyFile } from "../write/dirty-file.js";\nexport const a = new DirtyFile();\n',
      // A folder the rules do not know.
      "src/misc/helper.ts": 'import { part } from "../vfs/part.js";\nexport const h = part;\n',
      "src/misc/alone.ts": "export const alone = 1;\n",
    });
    expect(await violations(root)).toEqual([
      "folder-without-layer: src/misc/alone.ts -> src/misc/alone.ts",
      "folder-without-layer: src/misc/helper.ts -> src/vfs/part.ts",
      "layer-read: src/read/reader.ts -> src/write/dirty-file.ts",
      "layer-store: src/store/store.ts -> src/vfs/open-files.ts",
      "write-back-internals: src/fuse/adapter.ts -> src/write/dirty-file.ts",
      "write-back-internals: src/read/reader.ts -> src/write/dirty-file.ts",
    ]);
  });
});
