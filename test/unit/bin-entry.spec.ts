/**
 * bin/bucketfs.js runs the esbuild bundle (dist/bundle/) only while it is at least as new as the
 * tsc output it was made from: after a plain `tsc` the bundle would run old code. Each case runs
 * the real bin script in a copy of the layout whose two entries say which one ran.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { testTempDir } from "../helpers/temp-dirs.js";

const BIN = join(import.meta.dirname, "../../bin/bucketfs.js");

/** A tree with bin/bucketfs.js and the entries that exist; returns a function that runs it. */
function layout(entries: { tsc?: number; bundle?: number }): () => string {
  const root = testTempDir("bucketfs-bin-");
  mkdirSync(join(root, "bin"));
  copyFileSync(BIN, join(root, "bin/bucketfs.js"));
  writeFileSync(join(root, "package.json"), '{ "type": "module" }');
  const entry = (path: string, name: string, mtimeSeconds: number): void => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), `export async function main() { process.stdout.write("${name}"); }\n`);
    utimesSync(join(root, path), mtimeSeconds, mtimeSeconds);
  };
  if (entries.tsc !== undefined) entry("dist/cli/main.js", "tsc", entries.tsc);
  if (entries.bundle !== undefined) entry("dist/bundle/main.js", "bundle", entries.bundle);
  return () => execFileSync(process.execPath, [join(root, "bin/bucketfs.js"), "--version"], { encoding: "utf8" });
}

describe("bin/bucketfs.js picks its entry", () => {
  it("runs the bundle when npm run build made it after tsc's output", () => {
    expect(layout({ tsc: 1_000, bundle: 2_000 })()).toBe("bundle");
  });

  it("runs the bundle when both have the same time", () => {
    expect(layout({ tsc: 1_000, bundle: 1_000 })()).toBe("bundle");
  });

  it("runs tsc's output when a later tsc made the bundle stale", () => {
    expect(layout({ tsc: 3_000, bundle: 2_000 })()).toBe("tsc");
  });

  it("runs tsc's output when there is no bundle", () => {
    expect(layout({ tsc: 1_000 })()).toBe("tsc");
  });
});
