/**
 * One live daemon per staging area and upload journal (issue 15, finding 6), with the same
 * lock as the read cache: a live holder refuses a second owner; a lock left by a process that
 * is gone, or that is a zombie (kill(pid, 0) still succeeds on one), is taken over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CacheBusyError, releaseLock, takeLock } from "../../src/cache/cache-lock.js";
import { until } from "../helpers/eventually.js";
import { testTempDir } from "../helpers/temp-dirs.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

function lockDir(): string {
  return testTempDir("bucketfs-lock-");
}

const state = (pid: number): string => /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1] ?? "?";

/** A zombie: a child of a process that never reaps it (sh exec's into sleep after forking it). */
async function zombie(): Promise<number> {
  const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 600"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(parent);
  const pid = await new Promise<number>((resolve) =>
    parent.stdout!.once("data", (chunk: Buffer) => resolve(Number.parseInt(chunk.toString(), 10))),
  );
  // It becomes a zombie when `sleep 0` exits: wait for that state, with a generous bound.
  await until(`process ${pid} to become a zombie`, () => state(pid) === "Z");
  return pid;
}

describe("the lock of a staging area (and of a cache directory)", () => {
  it("refuses a second owner while the first lives, and is free again once released", () => {
    const dir = lockDir();
    takeLock(dir, "staging directory");
    expect(() => takeLock(dir, "staging directory")).toThrow(CacheBusyError);
    expect(() => takeLock(dir, "staging directory")).toThrow(
      `staging directory ${dir} is in use by process ${process.pid}`,
    );
    releaseLock(dir);
    takeLock(dir, "staging directory");
    releaseLock(dir);
  });

  it("takes over a lock whose holder is a zombie", async () => {
    const dir = lockDir();
    const pid = await zombie();
    writeFileSync(join(dir, "lock"), `${pid}\n`);
    takeLock(dir, "staging directory");
    expect(readFileSync(join(dir, "lock"), "utf8")).toBe(`${process.pid}\n`);
    releaseLock(dir);
  });
});
