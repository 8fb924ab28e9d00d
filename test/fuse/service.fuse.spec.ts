/**
 * bucketfs run like a system service, end to end through real mounts: the mount(8) helper with
 * an fstab option string, daemon readiness and exit codes, SIGTERM with dirty data, a daemon
 * killed with -9 (status, list, unmount), the Prometheus endpoint, and secrets kept out of logs.
 * Every child uses a private runtime dir, so other mounts on the machine are never touched.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DeleteBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../helpers/eventually.js";
import { objectBytes, objectSha256 } from "../helpers/sdk.js";
import { bucketfsEnv, freshBucket, s3Server, sdkClient } from "../helpers/s3.js";
import { BIN, bucketfs as runBucketfs, shResult, tempDir, type CommandResult } from "../helpers/mount.js";

const HELPER = resolve(import.meta.dirname, "../../native/mount.bucketfs");
const runtime = tempDir("run");
const env = (): NodeJS.ProcessEnv => ({ ...bucketfsEnv(), BUCKETFS_RUNTIME_DIR: runtime, NODE_NO_WARNINGS: "1" });
const bucketfs = (args: string[]): Promise<CommandResult> => runBucketfs(args, env());
const started: string[] = [];

function mounted(dir: string): string | undefined {
  const line = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((l) => l.split(" ")[4] === dir);
  return line?.split(" - ")[1]?.split(" ")[0];
}

async function mountNew(
  bucket: string,
  extra: string[] = [],
): Promise<{ dir: string; cache: string; log: string; pid: number }> {
  const dir = tempDir("mnt");
  const cache = tempDir("cache");
  const log = join(cache, "daemon.log");
  const result = await bucketfs([
    "mount",
    `s3://${bucket}`,
    dir,
    "--endpoint",
    s3Server().endpoint,
    "--cache-dir",
    cache,
    "--log-file",
    log,
    ...extra,
  ]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  started.push(dir);
  return { dir, cache, log, pid: Number(/daemon pid (\d+)/.exec(result.stdout)?.[1]) };
}

async function statusJson(
  dir?: string,
): Promise<{ code: number; entries: Array<Record<string, unknown> & { status?: Record<string, unknown> }> }> {
  const result = await bucketfs(["status", ...(dir ? [dir] : []), "--json"]);
  return { code: result.code, entries: JSON.parse(result.stdout) };
}

async function waitForExit(pid: number, timeoutMs = 60_000): Promise<void> {
  const running = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until(`pid ${pid} to exit`, () => !running(), { timeoutMs, intervalMs: 100 });
}

/** Waits until the daemon's log shows `line` (it logs every change it makes). */
function logShows(logFile: string, line: string): Promise<void> {
  return until(`"${line}" in ${logFile}`, () => existsSync(logFile) && readFileSync(logFile, "utf8").includes(line));
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("bucketfs as a service", () => {
  let bucket: string;

  beforeAll(async () => {
    bucket = await freshBucket("service");
  });
  afterAll(async () => {
    for (const dir of started) if (mounted(dir)) await bucketfs(["unmount", "--lazy", dir]);
  });

  describe("mount.bucketfs, invoked the way mount(8) invokes it", () => {
    it("mounts with an fstab option string and returns once mounted", async () => {
      const dir = tempDir("fstab");
      const cache = tempDir("cache");
      // Credentials come from the env file, as at boot; not from the command line or fstab.
      const envFile = join(cache, "bucketfs.env");
      writeFileSync(
        envFile,
        `AWS_ACCESS_KEY_ID=${s3Server().accessKeyId}\nAWS_SECRET_ACCESS_KEY=${s3Server().secretAccessKey}\n`,
        { mode: 0o600 },
      );
      const options = `rw,_netdev,nofail,noauto,user,x-systemd.automount,x-systemd.mount-timeout=30,endpoint=${s3Server().endpoint},cache-dir=${cache},part-size=5M,log-file=${cache}/log`;
      const childEnv = { ...env(), AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", BUCKETFS_ENV_FILE: envFile };
      const r = shResult(
        `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${envAssignments(childEnv)} ${HELPER} s3://${bucket} ${dir} -n -o ${options}`,
      );
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      started.push(dir);
      expect(mounted(dir)).toBe("fuse.bucketfs");
      writeFileSync(join(dir, "from-fstab.txt"), "hello from fstab\n");
      expect((await objectBytes(bucket, "from-fstab.txt")).toString()).toBe("hello from fstab\n");
      expect((await bucketfs(["unmount", dir])).code).toBe(0);
      expect(mounted(dir)).toBeUndefined();
    });

    it("follows mount(8)'s exit codes: -f fakes, bad usage is 1, a failed mount is 32", async () => {
      const dir = tempDir("fstab");
      const fake = shResult(`${HELPER} s3://${bucket} ${dir} -f -o endpoint=${s3Server().endpoint}`);
      expect(fake.code).toBe(0);
      expect(mounted(dir)).toBeUndefined();
      expect(shResult(`${HELPER} s3://${bucket}`).code).toBe(1);
      const failed = shResult(
        `${envAssignments(env())} ${HELPER} s3://no-such-bucket-h7 ${dir} -o endpoint=${s3Server().endpoint},cache-dir=${tempDir("cache")}`,
      );
      expect(failed.code).toBe(32);
      expect(failed.stderr).toMatch(/the bucket does not exist/);
      expect(mounted(dir)).toBeUndefined();
    });
  });

  describe("daemon lifecycle", () => {
    it("is mounted when `bucketfs mount` returns 0, writes its pid file, and unmount exits 0", async () => {
      const pidFile = join(tempDir("pid"), "mount.pid");
      const m = await mountNew(bucket, ["--pid-file", pidFile]);
      expect(mounted(m.dir)).toBe("fuse.bucketfs");
      expect(Number(readFileSync(pidFile, "utf8"))).toBe(m.pid);
      const { code, entries } = await statusJson(m.dir);
      expect(code).toBe(0);
      expect(entries[0]).toMatchObject({ health: "healthy", source: `s3://${bucket}`, pid: m.pid });
      const busy = await bucketfs(["mount", `s3://${bucket}`, m.dir, "--endpoint", s3Server().endpoint]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(/is busy/);
      expect((await bucketfs(["unmount", m.dir])).code).toBe(0);
      expect(mounted(m.dir)).toBeUndefined();
      expect(existsSync(pidFile)).toBe(false);
      await waitForExit(m.pid, 5_000);
    });

    it("in the foreground (containers) is healthy in status and exits 0 after SIGTERM", async () => {
      const dir = tempDir("mnt");
      const child = spawn(
        process.execPath,
        [BIN, "mount", `s3://${bucket}`, dir, "-f", "--endpoint", s3Server().endpoint, "--cache-dir", tempDir("cache")],
        { env: env(), stdio: ["ignore", "ignore", "pipe"] },
      );
      const exited = new Promise<number | null>((r) => child.once("exit", r));
      started.push(dir);
      await until(`the foreground mount at ${dir}`, () => mounted(dir) !== undefined, { intervalMs: 100 });
      const { code, entries } = await statusJson(dir);
      expect(code).toBe(0);
      expect(entries[0]).toMatchObject({ health: "healthy", pid: child.pid });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(mounted(dir)).toBeUndefined();
    });

    it("fails with exit 1 and the reason on the terminal when the bucket is missing", async () => {
      const dir = tempDir("mnt");
      const r = await bucketfs([
        "mount",
        "s3://no-such-bucket-h7",
        dir,
        "--endpoint",
        s3Server().endpoint,
        "--cache-dir",
        tempDir("cache"),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the bucket does not exist/);
      expect(mounted(dir)).toBeUndefined();
    });

    it("on SIGTERM uploads a file still open for writing, then unmounts and exits", async () => {
      const m = await mountNew(bucket);
      const data = Buffer.alloc(3_000_000, 0);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 13) % 251;
      const source = join(tempDir("src"), "data.bin");
      writeFileSync(source, data);
      const holder = holdOpenForWrite(join(m.dir, "open.bin"), source);
      try {
        await waitForLine(holder, "written");
        const { entries } = await statusJson(m.dir);
        expect(entries[0].status).toMatchObject({
          dirtyBytes: data.length,
          uploads: [{ path: "/open.bin", state: "pending", sizeBytes: data.length }],
        });
        process.kill(m.pid, "SIGTERM");
        await waitForExit(m.pid);
      } finally {
        holder.kill("SIGKILL");
      }
      expect(await objectSha256(bucket, "open.bin")).toBe(sha256(data));
      const log = readFileSync(m.log, "utf8");
      expect(log).toMatch(/"msg":"unmounted"/);
      expect(log).not.toMatch(/could not be uploaded/);
      expect(mounted(m.dir)).toBeUndefined();
    });
  });

  describe("unmount when uploads fail", () => {
    it("exits 1 naming the file that could not be uploaded, and keeps its data", async () => {
      const doomed = await freshBucket("doomed");
      const m = await mountNew(doomed);
      const source = join(tempDir("src"), "data.bin");
      writeFileSync(source, Buffer.alloc(100_000, 9));
      const holder = holdOpenForWrite(join(m.dir, "stranded.bin"), source);
      try {
        await waitForLine(holder, "written");
        // The bucket is still empty (nothing uploaded yet), so it can be deleted under the mount.
        await sdkClient().send(new DeleteBucketCommand({ Bucket: doomed }));
        const unmount = await bucketfs(["unmount", m.dir]);
        expect(unmount.code).toBe(1);
        expect(unmount.stderr).toMatch(/1 file\(s\) could not be uploaded: \/stranded\.bin/);
      } finally {
        holder.kill("SIGKILL");
      }
      expect(mounted(m.dir)).toBeUndefined();
      const staged = shResult(`find ${m.cache} -type f -size 100000c`).stdout.trim();
      expect(staged).not.toBe("");
      expect((await bucketfs(["list"])).stdout).not.toContain(m.dir);
    });
  });

  describe("a daemon killed with -9", () => {
    it("is reported dead by status and list, and unmount clears the stale mountpoint", async () => {
      const m = await mountNew(bucket);
      process.kill(m.pid, "SIGKILL");
      await waitForExit(m.pid);
      expect(shResult(`ls ${m.dir}`).stderr).toMatch(/Transport endpoint is not connected/);
      const status = await bucketfs(["status", m.dir]);
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(/DEAD/);
      expect(status.stdout).toContain(`run bucketfs unmount ${m.dir}`);
      const list = await bucketfs(["list"]);
      expect(list.stdout).toMatch(new RegExp(`${m.dir}\\tpid ${m.pid}\\tDEAD`));
      const unmount = await bucketfs(["unmount", m.dir]);
      expect(unmount.code).toBe(0);
      expect(mounted(m.dir)).toBeUndefined();
      expect(shResult(`ls ${m.dir}`).code).toBe(0);
      expect((await bucketfs(["list"])).stdout).not.toContain(m.dir);
      // The directory is usable again.
      const again = await bucketfs([
        "mount",
        `s3://${bucket}`,
        m.dir,
        "--endpoint",
        s3Server().endpoint,
        "--cache-dir",
        m.cache,
      ]);
      expect(again.code).toBe(0);
      expect((await bucketfs(["unmount", m.dir])).code).toBe(0);
    });
  });

  describe("a hung daemon", () => {
    it("is reported unresponsive by status without blocking the caller", async () => {
      const m = await mountNew(bucket);
      process.kill(m.pid, "SIGSTOP");
      try {
        const startedAt = Date.now();
        const status = await bucketfs(["status", m.dir]);
        expect(status.code).toBe(1);
        expect(status.stdout).toMatch(/UNRESPONSIVE/);
        expect(Date.now() - startedAt).toBeLessThan(15_000);
      } finally {
        process.kill(m.pid, "SIGCONT");
      }
      expect((await bucketfs(["status", m.dir])).code).toBe(0);
      expect((await bucketfs(["unmount", m.dir])).code).toBe(0);
    });
  });

  describe("observability", () => {
    it("serves Prometheus metrics that reflect known traffic", async () => {
      const m = await mountNew(bucket, ["--metrics-addr", "127.0.0.1:0"]);
      const remote = Buffer.alloc(2_000_000, 7);
      await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "metrics/remote.bin", Body: remote }));
      writeFileSync(join(m.dir, "written.bin"), Buffer.alloc(1_000_000, 3));
      expect(readFileSync(join(m.dir, "metrics/remote.bin")).length).toBe(remote.length);
      const { entries } = await statusJson(m.dir);
      const address = entries[0].status?.metricsAddress as string;
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      const text = await (await fetch(`http://${address}/metrics`)).text();
      const value = (pattern: string): number => Number(new RegExp(`^${pattern} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
      expect(value('bucketfs_store_bytes_total\\{direction="out"\\}')).toBeGreaterThanOrEqual(1_000_000);
      expect(value('bucketfs_store_bytes_total\\{direction="in"\\}')).toBeGreaterThanOrEqual(2_000_000);
      expect(value('bucketfs_store_requests_total\\{op="put",status="ok"\\}')).toBeGreaterThanOrEqual(1);
      expect(value('bucketfs_fuse_operations_total\\{op="write",errno="0"\\}')).toBeGreaterThanOrEqual(1);
      // READs reach JavaScript (op="read") or, on the native binding, are answered by the addon.
      const orZero = (n: number): number => (Number.isNaN(n) ? 0 : n);
      expect(
        orZero(value('bucketfs_fuse_operations_total\\{op="read",errno="0"\\}')) +
          orZero(value("bucketfs_fuse_native_reads_total")),
      ).toBeGreaterThanOrEqual(1);
      expect(value('bucketfs_fuse_operation_duration_seconds_count\\{op="write"\\}')).toBeGreaterThanOrEqual(1);
      expect(value("bucketfs_dirty_bytes")).toBe(0);
      expect(value("bucketfs_failed_uploads")).toBe(0);
      expect(text).toMatch(/bucketfs_store_request_duration_seconds_bucket\{le="\+Inf",op="get"\} \d+/);
      expect((await bucketfs(["unmount", m.dir])).code).toBe(0);
    });

    it("never writes the secret key to the daemon log, even at debug level; SIGUSR2 toggles debug", async () => {
      const secret = s3Server().secretAccessKey;
      const m = await mountNew(bucket, ["--log-level", "info"]);
      process.kill(m.pid, "SIGUSR2");
      await logShows(m.log, "log level is now debug");
      writeFileSync(join(m.dir, "logged.txt"), "x");
      shResult(`cat ${m.dir}/missing-file; ls ${m.dir}`);
      process.kill(m.pid, "SIGUSR2");
      await logShows(m.log, "log level is now info");
      expect((await bucketfs(["unmount", m.dir])).code).toBe(0);
      const log = readFileSync(m.log, "utf8");
      expect(log).toMatch(/log level is now debug/);
      expect(log).toMatch(/"level":20/); // debug lines were written while toggled
      expect(log).toMatch(/log level is now info/);
      expect(log).not.toContain(secret);
      expect(secret.length).toBeGreaterThan(8);
    });
  });
});

function envAssignments(vars: NodeJS.ProcessEnv): string {
  const keep = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "BUCKETFS_RUNTIME_DIR",
    "BUCKETFS_ENV_FILE",
    "NODE_NO_WARNINGS",
    "HOME",
  ];
  return keep
    .filter((k) => vars[k] !== undefined)
    .map((k) => `${k}='${vars[k]}'`)
    .join(" ");
}

/** A process that writes `source` into `path` and keeps the file open (never closes it). */
function holdOpenForWrite(path: string, source: string): ChildProcess {
  const script = `import os,sys,time\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT|os.O_TRUNC,0o644)\nos.write(fd,open(sys.argv[2],'rb').read())\nprint('written',flush=True)\ntime.sleep(600)\n`;
  mkdirSync(tempDir("holder"), { recursive: true });
  return spawn("python3", ["-c", script, path, source], { stdio: ["ignore", "pipe", "inherit"] });
}

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`holder exited (${code}) before writing`)));
  });
}
