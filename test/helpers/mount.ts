/**
 * Runs bucketfs the way a user does: `bucketfs mount` as a child process (background daemon),
 * real programs against the mountpoint, `bucketfs unmount` at the end. The test process itself
 * never serves FUSE, so it may do file I/O on the mount.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { bucketfsEnv, s3Server } from "./s3.js";
import { gcsServer } from "./gcs.js";

const run = promisify(execFile);
export const BIN = resolve(import.meta.dirname, "../../bin/bucketfs.js");

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bucketfs CLI and returns its exit code and output (never throws on failure). */
export async function bucketfs(args: string[], env: NodeJS.ProcessEnv = bucketfsEnv()): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Runs a shell command (bash -c) and returns stdout; throws with stderr on failure. */
export async function sh(command: string, cwd?: string): Promise<string> {
  const { stdout } = await run("bash", ["-c", command], { cwd, maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Like sh, but returns the exit code and stderr instead of throwing. */
export function shResult(command: string, cwd?: string): CommandResult {
  const r = spawnSync("bash", ["-c", command], { cwd, encoding: "utf8" });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Like shResult, but without blocking the event loop (needed when the test process serves a proxy). */
export async function shTry(command: string, cwd?: string): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run("bash", ["-c", command], { cwd, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `bucketfs-${label}-`));
}

export class TestMount {
  private constructor(readonly dir: string, readonly source: string, readonly cacheDir: string) {}

  /** Mounts `s3://bucket[/prefix]` (or `gs://…` from the GCS emulator) from the test server in the background. */
  static async start(source: string, extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<TestMount> {
    const dir = tempDir("mnt");
    const cacheDir = tempDir("cache");
    const endpoint = source.startsWith("gs://") ? gcsServer().endpoint : s3Server().endpoint;
    const result = await bucketfs(["mount", source, dir, "--endpoint", endpoint, "--cache-dir", cacheDir, ...extraArgs], env);
    if (result.code !== 0) throw new Error(`mount failed (${result.code}): ${result.stderr}`);
    return new TestMount(dir, source, cacheDir);
  }

  path(relative: string): string {
    return join(this.dir, relative);
  }

  sh(command: string): Promise<string> {
    return sh(command, this.dir);
  }

  async stop(): Promise<void> {
    const result = await bucketfs(["unmount", this.dir]);
    if (result.code !== 0) throw new Error(`unmount failed: ${result.stderr}`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
