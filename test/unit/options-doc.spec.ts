/** README's option table is generated from the one option table, and CI fails when it is stale. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BEGIN, END, optionsTable, README, withOptionsTable } from "../../scripts/gen-options-doc.js";
import { MOUNT_OPTIONS } from "../../src/config/options.js";

const ROOT = join(import.meta.dirname, "../..");

function check(): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, ["--import", "tsx", "scripts/gen-options-doc.ts", "--check"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { status: run.status, stderr: run.stderr };
}

describe("README option table", () => {
  it("is current (scripts/gen-options-doc.ts --check passes)", () => {
    expect(check()).toEqual({ status: 0, stderr: "" });
  });

  it("has one row per option, with its flag, default and environment variable", () => {
    const rows = optionsTable().split("\n").slice(2);
    expect(rows).toHaveLength(Object.keys(MOUNT_OPTIONS).length);
    expect(rows).toContain(
      "| `--part-size SIZE` | `8M` |  | multipart upload part size; also the single-PUT threshold |",
    );
    expect(rows).toContain("| `--read-only` (`-o ro`) | off |  | mount read-only |");
    expect(rows.find((r) => r.startsWith("| `--cache-size"))).toContain("| `10G` | `BUCKETFS_CACHE_SIZE` |");
  });

  it("a stale table is detected and replaced between the markers only", () => {
    const readme = readFileSync(README, "utf8");
    const stale = readme.replace("| `--part-size SIZE` | `8M` |", "| `--part-size SIZE` | `5M` |");
    expect(stale).not.toBe(readme);
    expect(withOptionsTable(stale)).toBe(readme);
    expect(() => withOptionsTable(`no markers ${END} ${BEGIN}`)).toThrow(/has no/);
  });
});
