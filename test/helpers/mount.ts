/**
 * Runs bucketfs the way a user does: `bucketfs mount` as a child process (background daemon),
 * real programs against the mountpoint, `bucketfs unmount` at the end. The test process itself
 * never serves FUSE, so it may do file I/O on the mount.
 *
 * Environment (set by scripts/asan-tools.sh):
 *   BUCKETFS_TEST_BIN          the bucketfs entry point to run (default: this checkout's bin/bucketfs.js)
 *   BUCKETFS_TEST_LD_PRELOAD   LD_PRELOAD for bucketfs commands only (the daemon inherits it), e.g. libasan
 *   BUCKETFS_TEST_ASAN_OPTIONS ASAN_OPTIONS for bucketfs commands only
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { bucketfsEnv, s3Server } from "./s3.js";
import { gcsServer } from "./gcs.js";
import { azureServer } from "./azure.js";

const run = promisify(execFile);
export const BIN = process.env.BUCKETFS_TEST_BIN || resolve(import.meta.dirname, "../../bin/bucketfs.js");

/** The environment of a bucketfs command: `env`, plus the sanitizer settings meant for bucketfs alone. */
function commandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const preload = process.env.BUCKETFS_TEST_LD_PRELOAD;
  const asan = process.env.BUCKETFS_TEST_ASAN_OPTIONS;
  return { ...env, ...(preload ? { LD_PRELOAD: preload } : {}), ...(asan ? { ASAN_OPTIONS: asan } : {}) };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bucketfs CLI and returns its exit code and output (never throws on failure). */
export async function bucketfs(
  args: string[],
  env: NodeJS.ProcessEnv = bucketfsEnv(),
  timeoutMs = 0,
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: commandEnv(env),
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs,
    });
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

/** Removes an empty directory; leaves anything else (a directory that is still a mount) alone. */
export function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty, busy, or gone
  }
}

/** How long stop() lets `bucketfs unmount` run: under vitest's hook timeout (180 s). */
const UNMOUNT_TIMEOUT_MS = 150_000;

export class TestMount {
  private unmounted = false;

  private constructor(
    readonly dir: string,
    readonly source: string,
    readonly cacheDir: string,
    /** The daemon's pid and log file, as `bucketfs mount` reported them. */
    readonly pid: number,
    readonly logFile: string,
    /** The cache dir was made here (no --cache-dir given), so stop() removes it. */
    private readonly ownsCacheDir: boolean,
  ) {}

  /**
   * Mounts `s3://bucket[/prefix]` (or `gs://…` from the GCS emulator, `az://…` from Azurite) from the test server in the
   * background. Without `--cache-dir` in `extraArgs` the mount gets a fresh one, removed by stop().
   */
  static async start(source: string, extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<TestMount> {
    const given = extraArgs.indexOf("--cache-dir");
    const ownsCacheDir = given < 0;
    const dir = tempDir("mnt");
    const cacheDir = ownsCacheDir ? tempDir("cache") : extraArgs[given + 1];
    const azure = source.startsWith("az://");
    const endpoint = source.startsWith("gs://")
      ? gcsServer().endpoint
      : azure
        ? azureServer().endpoint
        : s3Server().endpoint;
    // Azurite's development key, unless the test chose the credentials itself.
    if (azure && env === undefined) env = { ...bucketfsEnv(), AZURE_STORAGE_KEY: azureServer().key };
    const result = await bucketfs(
      ["mount", source, dir, "--endpoint", endpoint, ...(ownsCacheDir ? ["--cache-dir", cacheDir] : []), ...extraArgs],
      env,
    );
    if (result.code !== 0) {
      rmdirQuietly(dir);
      if (ownsCacheDir) rmSync(cacheDir, { recursive: true, force: true });
      throw new Error(`mount failed (${result.code}): ${result.stderr}`);
    }
    const reported = /\(daemon pid (\d+), log (.*)\)\s*$/.exec(result.stdout);
    return new TestMount(dir, source, cacheDir, Number(reported?.[1] ?? -1), reported?.[2] ?? "", ownsCacheDir);
  }

  path(relative: string): string {
    return join(this.dir, relative);
  }

  /** Whether stop() has unmounted it (a killed daemon's mount stays until then). */
  get stopped(): boolean {
    return this.unmounted;
  }

  sh(command: string): Promise<string> {
    return sh(command, this.dir);
  }

  /** Sends `signal` to the daemon (never to a process group: the pid must have been reported). */
  kill(signal: NodeJS.Signals): void {
    if (!(this.pid > 1)) throw new Error(`no daemon pid known for ${this.dir}`);
    process.kill(this.pid, signal);
  }

  /** The daemon's state and the end of its log, for a failure message. */
  private diagnosis(): string {
    const state = this.pid > 1 ? shResult(`ps -L -o pid,lwp,stat,wchan:32,comm -p ${this.pid}`).stdout : "";
    let tail = "";
    try {
      tail = this.log().split("\n").slice(-40).join("\n");
    } catch (err) {
      tail = `(no log: ${(err as Error).message})`;
    }
    return `daemon ${this.pid}:\n${state || "(not running)"}\nlast lines of its log:\n${tail}`;
  }

  /** The daemon's log so far (JSON lines; the file is in the cache dir, not on the mount). */
  log(): string {
    return readFileSync(this.logFile, "utf8");
  }

  /**
   * Unmounts (uploading unsaved data) and removes the mountpoint and an own cache dir. After the
   * daemon was killed, `bucketfs unmount` detaches the stale mount and clears its record.
   */
  async stop(): Promise<void> {
    // Bounded below the hook timeout, so a stuck daemon fails with what it was doing, not a bare timeout.
    const result = await bucketfs(["unmount", this.dir], bucketfsEnv(), UNMOUNT_TIMEOUT_MS);
    if (result.code !== 0) throw new Error(`unmount failed: ${result.stderr}\n${this.diagnosis()}`);
    this.unmounted = true;
    rmdirSync(this.dir); // never recursive: a directory that is still a mount must not be emptied
    if (this.ownsCacheDir && existsSync(this.cacheDir)) rmSync(this.cacheDir, { recursive: true, force: true });
  }
}
