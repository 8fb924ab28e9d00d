/**
 * Setup file of every spec: a FileHandle closed by the garbage collector is a handle the code
 * forgot to close (in the daemon, a descriptor held until some GC), so it fails the test.
 * Node reports it as a process warning; the forks run with --expose-gc, so a collection after
 * each test finds the handles that test leaked.
 */
import { afterEach, expect } from "vitest";

const leaked: string[] = [];
process.on("warning", (warning) => {
  if (/Closing file descriptor \d+ on garbage collection/.test(warning.message)) leaked.push(warning.message);
});

const gc = (globalThis as { gc?: () => void }).gc;

afterEach(async () => {
  gc?.();
  // The collector closes the descriptors now; the warnings are emitted from the event loop.
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(leaked.splice(0), "file handles left open (closed by the garbage collector)").toEqual([]);
});
