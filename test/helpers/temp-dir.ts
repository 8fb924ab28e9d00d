/**
 * Temporary directories that clean up after themselves, under the run's private TMPDIR
 * (scripts/test.sh). Use these instead of mkdtempSync plus a hand-written afterEach.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, onTestFinished } from "vitest";

const forFile: string[] = [];

// Imported while vitest collects a spec file, so this hook belongs to that file's root suite.
afterAll(() => {
  for (const dir of forFile.splice(0)) remove(dir);
});

/** A fresh directory removed when the current test ends (call it inside a test). */
export function tempDir(label: string): string {
  const dir = make(label);
  onTestFinished(() => remove(dir));
  return dir;
}

/** A fresh directory removed after the spec file's last test (for beforeAll and file scope). */
export function fileTempDir(label: string): string {
  const dir = make(label);
  forFile.push(dir);
  return dir;
}

function make(label: string): string {
  return mkdtempSync(join(tmpdir(), `bucketfs-${label}-`));
}

function remove(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
