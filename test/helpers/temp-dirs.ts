/**
 * Temporary directories of in-process tests, removed whether the test passes or fails: one made
 * during a test goes after that test, one made in a beforeAll (or at import) after its file.
 * The hooks are registered once per test file by the setup file test/helpers/temp-dir-cleanup.ts.
 * (FUSE specs keep test/helpers/mount.ts's tempDir: a mountpoint must be unmounted, never deleted.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const forTest: string[] = [];
const forFile: string[] = [];
let testRunning = false;

/** A new directory `<tmpdir>/<prefix>XXXXXX`, removed after the current test (or file). */
export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  (testRunning ? forTest : forFile).push(dir);
  return dir;
}

function removeAll(dirs: string[]): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** For the setup file: a test starts (its directories are its own). */
export function testStarted(): void {
  testRunning = true;
}

/** For the setup file: the test is over, pass or fail. */
export function testFinished(): void {
  testRunning = false;
  removeAll(forTest);
}

/** For the setup file: every test of the file is over. */
export function fileFinished(): void {
  removeAll(forTest);
  removeAll(forFile);
}
