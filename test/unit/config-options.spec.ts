/**
 * The one option table: the MountConfig slices, every command's flags from it (including the
 * spellings users already type), and the flags reaching the config through commander.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { resolveMountOptions, resolveOptions } from "../../src/config/load.js";
import { COMMAND_OPTIONS, MOUNT_OPTIONS } from "../../src/config/options.js";
import { keysOf, sliceOf, type CacheConfig } from "../../src/config/schema.js";
import { buildProgram } from "../../src/cli/main.js";
import { VERSION } from "../../src/cli/version.js";

function command(path: string[]): Command {
  let current: Command = buildProgram();
  for (const name of path) {
    const next = current.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no command ${path.join(" ")}`);
    current = next;
  }
  return current;
}

function longFlags(path: string[]): string[] {
  return command(path)
    .options.map((o) => o.long ?? "")
    .sort();
}

/** Parses argv with the real program, stopping at the command's action with the flags it got. */
async function flagsOf(path: string[], argv: string[]): Promise<Record<string, unknown>> {
  const program = buildProgram();
  let target: Command = program;
  for (const name of path) target = target.commands.find((c) => c.name() === name) as Command;
  let seen: Record<string, unknown> = {};
  target.action((...args: unknown[]) => {
    seen = args[args.length - 2] as Record<string, unknown>;
  });
  await program.parseAsync(["node", "bucketfs", ...path, ...argv]);
  return seen;
}

describe("config slices", () => {
  it("groups every option, and a slice holds its group's options only", () => {
    const { config } = resolveMountOptions({ cacheDir: "/c", cacheSize: "1G" }, [], {});
    const cache: CacheConfig = sliceOf(config, "cache");
    expect(cache).toEqual({ cacheDir: "/c", cacheSize: 1024 ** 3 });
    expect(sliceOf(config, "writeBack")).toEqual({
      partSize: 8 * 1024 * 1024,
      uploadConcurrency: 4,
      maxDirty: 1024 ** 3,
    });
    expect(keysOf("metadata")).toEqual(["metadataTtl"]);
    const grouped = (
      ["store", "fuse", "cache", "prefetch", "writeBack", "metadata", "service", "security", "idc"] as const
    ).flatMap((g) => keysOf(g));
    expect(grouped.sort()).toEqual(Object.keys(MOUNT_OPTIONS).sort());
  });
});

describe("one option table for every command", () => {
  it("mount takes every option of the table, plus -o", () => {
    const expected = [...Object.values(MOUNT_OPTIONS).map((s) => `--${s.name}`), "--options"].sort();
    expect(longFlags(["mount"])).toEqual(expected);
  });

  it("sign, cache, idc and prefetch keep the flags they had", () => {
    expect(longFlags(["sign"])).toEqual([
      "--ca-bundle",
      "--endpoint",
      "--expires",
      "--max-expiry",
      "--profile",
      "--region",
    ]);
    expect(longFlags(["cache", "stats"])).toEqual(["--cache-dir", "--json"]);
    expect(longFlags(["cache", "clear"])).toEqual(["--cache-dir"]);
    expect(longFlags(["cache", "verify"])).toEqual(["--cache-dir"]);
    const index = ["--cache-dir", "--collections", "--idc-index", "--idc-index-url", "--idc-version", "--modality"];
    expect(longFlags(["idc", "collections"])).toEqual(index);
    expect(longFlags(["idc", "index", "update"])).toEqual(index);
    expect(longFlags(["idc", "info"])).toEqual([...index, "--endpoint", "--idc-source"].sort());
    expect(longFlags(["prefetch"])).toEqual(["--cache-dir", "--concurrency"]);
    expect(longFlags(["list"])).toEqual(["--json"]);
    expect(longFlags(["unmount"])).toEqual(["--lazy"]);
  });

  it("--help shows each option's default and environment variable", () => {
    const help = command(["mount"]).helpInformation().replace(/\s+/g, " ");
    expect(help).toContain(
      "--part-size <SIZE> multipart upload part size; also the single-PUT threshold (default: 8M)",
    );
    expect(help).toContain("--region <R> region (default: us-east-1) [env AWS_REGION]");
  });

  it("spells each flag of a command as the table does", () => {
    const names = new Set(
      [...Object.values(MOUNT_OPTIONS), ...Object.values(COMMAND_OPTIONS)].map((s) => `--${s.name}`),
    );
    for (const path of [["mount"], ["sign"], ["cache", "stats"], ["idc", "info"], ["prefetch"], ["status"]]) {
      for (const flag of longFlags(path)) expect(names.has(flag), `${path.join(" ")} ${flag}`).toBe(true);
    }
  });
});

describe("flags through commander into the config", () => {
  it("--no-sign-request is a switch of its own (not commander's negation of --sign-request)", async () => {
    const flags = await flagsOf(
      ["mount"],
      ["s3://bucket", "/mnt/x", "--no-sign-request", "-f", "--part-size", "16M", "-o", "ro"],
    );
    const { options, ...rest } = flags;
    const { config } = resolveMountOptions(rest, options as string[], {});
    expect(config).toMatchObject({
      noSignRequest: true,
      foreground: true,
      partSize: 16 * 1024 * 1024,
      readOnly: true,
      anonymous: false,
    });
    expect(resolveMountOptions({}, [], {}).config.noSignRequest).toBe(false);
  });

  it("a command's options come from the environment like the mount's, flags first", async () => {
    const env = { AWS_REGION: "eu-west-1", BUCKETFS_ENDPOINT: "http://env" };
    expect(resolveOptions(["endpoint", "region", "profile"], {}, env)).toEqual({
      endpoint: "http://env",
      region: "eu-west-1",
      profile: undefined,
    });
    const flags = await flagsOf(["sign"], ["s3://b/k", "--region", "ap-south-1", "--expires", "2h"]);
    expect(flags).toMatchObject({ region: "ap-south-1", expires: "2h", maxExpiry: "7d" });
    expect(resolveOptions(["region"], flags, env)).toEqual({ region: "ap-south-1" });
    expect(resolveOptions(["region"], {}, {})).toEqual({ region: "us-east-1" });
    expect(() => resolveOptions(["cacheSize"], { cacheSize: "lots" }, {})).toThrow(/--cache-size: not a size/);
  });

  it("reports the package's version", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
