/**
 * Scratch directories that clean up after themselves, under the run's private TMPDIR
 * (scripts/test.sh). Use these instead of mkdtempSync plus a hand-written afterEach/afterAll.
 * (mount.ts's tempDir is the plain kind, for mountpoints that the mount helpers take down.)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, onTestFinished } from "vitest";

const forFile: string[] = [];

// Imported while vitest collects a spec file, so this hook belongs to that file's root suite.
afterAll(() => {
  for (const dir of forFile.splice(0)) remove(dir);
});

/** A fresh directory removed when the current test ends (call it inside a test). */
export function scratchDir(label: string): string {
  const dir = make(label);
  onTestFinished(() => remove(dir));
  return dir;
}

/** A fresh directory removed after the spec file's last test (for beforeAll and file scope). */
export function fileScratchDir(label: string): string {
  const dir = make(label);
  forFile.push(dir);
  return dir;
}

function make(label: string): string {
  return mkdtempSync(join(tmpdir(), `bucketfs-${label}-`));
}

/** Removes `dir`, but never through a mount left inside it: that is the test's bug to report. */
function remove(dir: string): void {
  const inside = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((mountpoint) => mountpoint === dir || mountpoint.startsWith(`${dir}/`));
  if (inside.length > 0) throw new Error(`scratch directory ${dir} still has mounts: ${inside.join(", ")}`);
  rmSync(dir, { recursive: true, force: true });
}
