/**
 * Imports that can only go down (issue 13). Every folder under src/ sits on one layer; a module may
 * import from its own folder and from any folder on a LOWER layer, never from a higher layer and
 * never from a sibling on the same layer. Strict layering also rules out cycles between folders.
 * ARCHITECTURE.md draws the same picture. Run by scripts/lint.sh (`npm run lint`) and
 * test/unit/layering.spec.ts.
 */

/** Top to bottom. Folders in one inner array are siblings: neither may import the other. */
const LAYERS = [
  ["cli"], // commands, option parsing, the daemon entry
  ["mount"], // the composition root: builds, starts and closes one mount
  ["fuse"], // the thin FUSE adapter and the errno table
  ["idc", "security"], // the IDC index namespace; signing, audit, at-rest encryption
  ["vfs"], // filesystem semantics (paths, tree, handles), no FUSE
  ["read", "write"], // the read chain; write-back (staging, journal, uploads)
  ["cache"], // the on-disk chunk cache
  ["metrics"], // Prometheus registry, status records
  ["store"], // the ObjectStore contract and the S3 / GCS / Azure / memory backends, HTTP transport
  ["os", "config", "log"], // private files and directories; the config schema; the logger
];

/**
 * TEMPORARY: known imports that break a rule today.
 * An entry exempts exactly one import (from one file to one file). Delete an entry as soon as its
 * import is gone; never add one for new code (a new back-edge means the code is in the wrong folder).
 */
const TEMPORARY_EXCEPTIONS = [
  // vfs holds a DirtyFile as the opaque handle of a file open for writing and passes it back to
  // write-back's LocalWrites (retain, write, closed); a handle type exported by write/index.ts
  // would let these three go.
  { from: "src/vfs/open-files.ts", to: "src/write/dirty-file.ts" },
  { from: "src/vfs/filesystem.ts", to: "src/write/dirty-file.ts" },
  { from: "src/vfs/tree-operations.ts", to: "src/write/dirty-file.ts" },
];

const layerOf = new Map(LAYERS.flatMap((folders, depth) => folders.map((folder) => [folder, depth])));
const ALL_FOLDERS = [...layerOf.keys()];

/** Folders `folder` must not import: every higher layer and its own siblings. */
function forbiddenFor(folder) {
  const depth = layerOf.get(folder);
  return ALL_FOLDERS.filter((other) => other !== folder && layerOf.get(other) <= depth);
}

const escape = (path) => path.replace(/[.]/g, "\\.");
const anyOf = (folders) => `^src/(${folders.join("|")})/`;

/**
 * One rule per folder. Each exception whose source file is in that folder is cut out of the
 * folder's rule and checked by a rule of its own that forbids everything but its one target.
 */
function layerRules() {
  const rules = [];
  for (const folder of ALL_FOLDERS) {
    const forbidden = forbiddenFor(folder);
    if (forbidden.length === 0) continue;
    const own = TEMPORARY_EXCEPTIONS.filter((e) => e.from.startsWith(`src/${folder}/`));
    rules.push({
      name: `layer-${folder}`,
      comment: `${folder}/ may import only from lower layers (${forbidden.join(", ")} are not lower)`,
      severity: "error",
      from: { path: `^src/${folder}/`, pathNot: own.map((e) => `^${escape(e.from)}$`) },
      to: { path: anyOf(forbidden) },
    });
    for (const exception of own) {
      rules.push({
        name: `layer-${folder}`,
        comment: `${exception.from} may import only from lower layers (temporary exception: ${exception.to})`,
        severity: "error",
        from: { path: `^${escape(exception.from)}$` },
        to: { path: anyOf(forbidden), pathNot: `^${escape(exception.to)}$` },
      });
    }
  }
  return rules;
}

/**
 * DirtyFile is write-back's internal state: outside write/ only the exempted files may see it.
 * (vfs may import write/, but not this class: status goes out as plain records.)
 */
function writeBackInternalsRules() {
  const target = "src/write/dirty-file.ts";
  const exempt = TEMPORARY_EXCEPTIONS.filter((e) => e.to === target).map((e) => `^${escape(e.from)}$`);
  return [
    {
      name: "write-back-internals",
      comment: "DirtyFile is private to write/; other folders use write-back's facade and status records",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/write/", ...exempt] },
      to: { path: `^${escape(target)}$` },
    },
  ];
}

module.exports = {
  forbidden: [
    ...layerRules(),
    ...writeBackInternalsRules(),
    {
      name: "folder-without-layer",
      comment: `every folder under src/ has a layer in .dependency-cruiser.cjs (known: ${ALL_FOLDERS.join(", ")})`,
      severity: "error",
      from: { path: "^src/", pathNot: anyOf(ALL_FOLDERS) },
      to: {},
    },
    {
      name: "folder-without-layer",
      comment: "the same for a module that imports nothing and that nothing imports",
      severity: "error",
      from: { path: "^src/", pathNot: anyOf(ALL_FOLDERS), orphan: true },
      to: {},
    },
    {
      // Cycles between folders are already impossible under strict layering (type imports count
      // there). Inside a folder a cycle closed by a type-only import is harmless at run time
      // (fuse/binding.ts <-> native-binding.ts); a runtime cycle is not: module init order bugs.
      name: "no-circular",
      comment: "no runtime import cycles between modules",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "no-test-code-in-src",
      comment: "src/ never imports from test/ or scripts/",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports count: a layer must not know a higher layer's types either.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
