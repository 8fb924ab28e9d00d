/**
 * The shipped systemd unit passes `systemd-analyze verify` (syntax, known keys, executable
 * commands). The unit names /usr/local/bin/bucketfs; the check runs on a copy pointing at this
 * checkout's CLI, since verify requires the commands to exist.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { testTempDir } from "../helpers/temp-dirs.js";

const UNIT = resolve(import.meta.dirname, "../../native/bucketfs@.service");
const CLI = resolve(import.meta.dirname, "../../bin/bucketfs.js");
const hasAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

function verify(text: string, instance = "mnt-data"): { code: number; output: string } {
  const dir = testTempDir("bucketfs-unit-"); // removed after the test (temp-dirs.ts)
  const file = join(dir, `bucketfs@${instance}.service`);
  writeFileSync(file, text);
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  return { code: r.status ?? 1, output: `${r.stdout}${r.stderr}`.trim() };
}

describe.skipIf(!hasAnalyze)("bucketfs@.service", () => {
  const unit = readFileSync(UNIT, "utf8");

  it("passes systemd-analyze verify with no warnings", () => {
    const result = verify(unit.replaceAll("/usr/local/bin/bucketfs", CLI));
    expect(result.output).toBe("");
    expect(result.code).toBe(0);
  });

  it("is a real check: a broken copy fails verification", () => {
    const runnable = unit.replaceAll("/usr/local/bin/bucketfs", CLI);
    expect(verify(runnable.replace(/^Type=forking$/m, "Type=forkingg")).output).toMatch(/Failed to parse service type/);
    expect(verify(unit.replaceAll("/usr/local/bin/bucketfs", "/nonexistent/bucketfs")).code).not.toBe(0);
  });

  it("means mounted when ready, flushes on stop, restarts on failure", () => {
    expect(unit).toMatch(/^Type=forking$/m);
    expect(unit).toMatch(/^PIDFile=\/run\/bucketfs\/%i\.pid$/m);
    expect(unit).toMatch(/^ExecStart=.* --pid-file \/run\/bucketfs\/%i\.pid /m);
    expect(unit).toMatch(/^ExecStop=\/usr\/local\/bin\/bucketfs unmount %f$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^DeviceAllow=\/dev\/fuse rw$/m);
    // Private mount namespaces would hide the FUSE mount from the rest of the system.
    expect(unit).not.toMatch(/^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ReadWritePaths)=/m);
  });

  it("instantiates for an escaped mountpoint", () => {
    expect(execFileSync("systemd-escape", ["-p", "/mnt/my data"], { encoding: "utf8" }).trim()).toBe("mnt-my\\x20data");
  });
});
