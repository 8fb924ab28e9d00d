/**
 * `bucketfs unmount` waits for the daemon to exit, and the cache and staging locks ask whether
 * their holder lives (processAlive). A daemon's parent is init or a container's PID 1, which may
 * reap it late or never: an exited, unreaped daemon (a zombie) still answers kill(pid, 0), and
 * must count as gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { processAlive } from "../../src/os/process-alive.js";

// The child exits at once; waitid(WNOWAIT) returns once it has exited but leaves it unreaped.
const MAKE_ZOMBIE = `
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
print(pid, flush=True)
time.sleep(600)
`;

let parent: ChildProcess | undefined;

afterEach(async () => {
  if (parent && parent.exitCode === null && parent.signalCode === null) {
    const exited = once(parent, "exit");
    parent.kill("SIGKILL");
    await exited;
  }
});

describe("processAlive", () => {
  it("counts a zombie as gone, although kill(pid, 0) still answers for it", async () => {
    parent = spawn("/usr/bin/python3", ["-c", MAKE_ZOMBIE], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(parent.stdout!, "data")) as [Buffer];
    const zombie = Number(line.toString().trim());
    expect(zombie).toBeGreaterThan(1);
    expect(() => process.kill(zombie, 0)).not.toThrow();
    expect(processAlive(zombie)).toBe(false);
    expect(processAlive(parent.pid!)).toBe(true);
  });

  it("counts a pid that does not exist as gone", () => {
    expect(processAlive(2 ** 22 + 1)).toBe(false);
  });
});
