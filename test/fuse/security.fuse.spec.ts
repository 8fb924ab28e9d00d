/**
 * Hostile and odd keys, file modes, mount options, credential hygiene, encryption at rest,
 * the audit log and signed URLs — through a real mount driven by real programs.
 *
 * The rule for keys (src/vfs/paths.ts): a key is shown unless a segment is empty (`a//b`),
 * `.` or `..`, contains NUL, or is longer than 255 bytes; control characters are legal names
 * and shown. When a key is both a file and a prefix (`a` and `a/b`), the directory wins. Each
 * hidden key is logged once. No key can make bucketfs touch a path outside the mount or the
 * cache directory.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { bucketfs, sh, shResult, tempDir, TestMount } from "../helpers/mount.js";
import { bucketfsEnv, freshBucket, s3Server, sdkClient } from "../helpers/s3.js";
import { objectBytes } from "../helpers/sdk.js";

const LONG = "L".repeat(300);
const HOSTILE_KEYS = [
  "../x",
  "a//b",
  "./",
  "./y",
  "ok/./z",
  "dir/../../escape",
  `${LONG}`,
  "nul\u0000name",
  "a",
  "a/b",
  "ctl\u0001name",
  "tab\tname",
  "new\nline",
];

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name));
}

describe("hostile and odd keys", () => {
  let bucket: string;
  let mount: TestMount;

  beforeAll(async () => {
    bucket = await freshBucket("hostile");
    const client = sdkClient();
    for (const key of HOSTILE_KEYS) {
      // Some servers refuse some of these names; whatever they accept is what a mount must survive.
      await client
        .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${JSON.stringify(key)}` }))
        .catch(() => undefined);
    }
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "legit.txt", Body: "fine" }));
    mount = await TestMount.start(`s3://${bucket}`);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("shows legal names, hides the rest, never escapes the mount or the cache dir, and logs each hidden key once", async () => {
    const listing = readdirSync(mount.dir).sort();
    expect(listing).toContain("legit.txt");
    expect(listing).toContain("ctl\u0001name");
    expect(listing).toContain("tab\tname");
    expect(listing).toContain("new\nline");
    expect(listing).not.toContain("..");
    expect(listing).not.toContain(LONG);
    // `a` is both a file and a prefix: the directory wins.
    expect(statSync(mount.path("a")).isDirectory()).toBe(true);
    expect(readFileSync(mount.path("a/b"), "utf8")).toBe('content of "a/b"');
    // Walk and read everything visible (fills the read cache), then look for escapes.
    const walked = (await sh(`find . -type f -print0 | xargs -0 cat | wc -c`, mount.dir)).trim();
    expect(Number(walked)).toBeGreaterThan(0);
    for (const outside of [
      join(dirname(mount.dir), "x"),
      join(dirname(mount.cacheDir), "x"),
      join(dirname(mount.dir), "escape"),
      join(dirname(mount.cacheDir), "escape"),
    ]) {
      expect(existsSync(outside), outside).toBe(false);
    }
    for (const file of allFiles(mount.cacheDir)) expect(file.startsWith(mount.cacheDir)).toBe(true);
    // A second listing does not log again.
    readdirSync(mount.dir);
    const logDir = join(mount.cacheDir, "logs");
    const log = readFileSync(join(logDir, readdirSync(logDir)[0]), "utf8");
    const hidden = log.split("\n").filter((l) => l.includes("object hidden"));
    const keys = hidden.map((l) => (JSON.parse(l) as { key: string }).key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.some((k) => k.startsWith("../") || k.startsWith(".."))).toBe(true);
    // The mount still works.
    expect(readFileSync(mount.path("legit.txt"), "utf8")).toBe("fine");
  });

  it("refuses names that cannot be keys when writing", () => {
    const r = shResult(`touch ${mount.path(`${"n".repeat(256)}`)}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/File name too long/);
  });
});

describe("modes, mount options and credential hygiene", () => {
  let bucket: string;
  let mount: TestMount;

  beforeAll(async () => {
    bucket = await freshBucket("secmodes");
    mount = await TestMount.start(`s3://${bucket}`);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("cache and staging directories are 0700, their files 0600", async () => {
    writeFileSync(mount.path("f.bin"), randomBytes(3 * 1024 * 1024));
    await sh(`cat ${mount.path("f.bin")} > /dev/null`);
    const entries = readdirSync(mount.cacheDir, { recursive: true, withFileTypes: true });
    let checked = 0;
    for (const e of entries) {
      const path = join(e.parentPath, e.name);
      const mode = statSync(path).mode & 0o777;
      if (e.name === "logs" || e.parentPath.endsWith("logs")) continue; // logs hold no user data
      if (e.isDirectory()) expect(mode, path).toBe(0o700);
      else if (/\.(data)$/.test(e.name) || e.parentPath.includes("chunks")) expect(mode, path).toBe(0o600);
      checked++;
    }
    expect(checked).toBeGreaterThan(2);
  });

  it("allow_other is off by default", () => {
    const line = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[1] === mount.dir)!;
    expect(line).toBeDefined();
    expect(line).not.toContain("allow_other");
  });

  it("--allow-other turns on default_permissions too", async () => {
    const other = await TestMount.start(`s3://${bucket}`, ["--allow-other"]);
    try {
      const line = readFileSync("/proc/mounts", "utf8")
        .split("\n")
        .find((l) => l.split(" ")[1] === other.dir)!;
      expect(line).toContain("allow_other");
      expect(line).toContain("default_permissions");
    } finally {
      await other.stop();
    }
  });

  it("the secret key is in no log, error message or process title", async () => {
    const secret = s3Server().secretAccessKey;
    const logDir = join(mount.cacheDir, "logs");
    for (const f of readdirSync(logDir)) expect(readFileSync(join(logDir, f), "utf8")).not.toContain(secret);
    const ps = shResult("ps -eo args");
    expect(ps.stdout).not.toContain(secret);
    const wrong = await bucketfs(
      ["mount", `s3://${bucket}`, tempDir("mnt"), "--endpoint", s3Server().endpoint, "--cache-dir", tempDir("c")],
      { ...bucketfsEnv(), AWS_SECRET_ACCESS_KEY: "wrong-secret-value-1234567890" },
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).not.toContain("wrong-secret-value-1234567890");
  });
});

describe("--encrypt-cache, --audit-log and signed URLs", () => {
  let bucket: string;
  let mount: TestMount;
  let auditFile: string;
  const marker = "PATIENT-NAME-DOE-JOHN";

  beforeAll(async () => {
    bucket = await freshBucket("secenc");
    await sdkClient().send(
      new PutObjectCommand({ Bucket: bucket, Key: "remote.txt", Body: `${marker} `.repeat(100_000) }),
    );
    auditFile = join(tempDir("audit"), "audit.jsonl");
    const env = { ...bucketfsEnv(), BUCKETFS_ENCRYPTION_KEY: randomBytes(32).toString("hex") };
    mount = await TestMount.start(`s3://${bucket}`, ["--encrypt-cache", "--audit-log", auditFile], env);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("keeps only ciphertext in the cache and staging directories, and the bucket gets the plaintext", async () => {
    const local = join(tempDir("src"), "w.txt");
    writeFileSync(local, `${marker}\n`.repeat(200_000));
    await sh(`cp ${local} ${mount.path("written.txt")}`);
    expect(await sh(`cat ${mount.path("remote.txt")} | head -c 21`)).toBe(marker);
    expect(await sh(`cmp ${local} ${mount.path("written.txt")} && echo same`)).toContain("same");
    expect((await objectBytes(bucket, "written.txt")).equals(readFileSync(local))).toBe(true);
    const dataFiles = allFiles(mount.cacheDir).filter((f) => !f.includes("/logs/") && statSync(f).isFile());
    const chunks = dataFiles.filter((f) => f.includes("chunks"));
    expect(chunks.length).toBeGreaterThan(0);
    for (const f of dataFiles) expect(readFileSync(f).includes(Buffer.from(marker)), f).toBe(false);
  });

  it("records operations in the audit log as JSON lines", async () => {
    await sh(`mkdir ${mount.path("dir")} && mv ${mount.path("written.txt")} ${mount.path("dir/moved.txt")}`);
    const lines = readFileSync(auditFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ops = lines.map((l) => l.operation);
    expect(ops).toEqual(expect.arrayContaining(["create", "close", "open", "mkdir", "rename"]));
    const close = lines.find(
      (l) => l.operation === "close" && l.path === "/written.txt" && (l.bytesWritten as number) > 0,
    )!;
    // The native binding passes the caller: the pid of the shell's child that wrote the file.
    expect(close).toMatchObject({ bytes: 22 * 200_000, uid: process.getuid!(), ok: true });
    expect(close.pid).toEqual(expect.any(Number));
    expect(close.pid).toBeGreaterThan(1);
    expect(close.pid).not.toBe(process.pid);
    expect(statSync(auditFile).mode & 0o777).toBe(0o600);
  });

  it("user.bucketfs.url and `bucketfs sign` give a working presigned URL within the maximum expiry", async () => {
    const url = (await sh(`getfattr --only-values -n user.bucketfs.url ${mount.path("remote.txt")}`)).trim();
    expect(url).toMatch(/X-Amz-Expires=3600/);
    expect(await sh(`curl -sf '${url}' | head -c 21`)).toBe(marker);
    const signed = await bucketfs(["sign", mount.path("remote.txt"), "--expires", "15m"]);
    expect(signed.stderr).toBe("");
    expect(signed.stdout).toMatch(/X-Amz-Expires=900/);
    expect(await sh(`curl -sf '${signed.stdout.trim()}' | head -c 21`)).toBe(marker);
    const direct = await bucketfs([
      "sign",
      `s3://${bucket}/remote.txt`,
      "--endpoint",
      s3Server().endpoint,
      "--expires",
      "1h",
    ]);
    expect(await sh(`curl -sf '${direct.stdout.trim()}' | head -c 21`)).toBe(marker);
    const tooLong = await bucketfs(["sign", mount.path("remote.txt"), "--expires", "8d"]);
    expect(tooLong.code).not.toBe(0);
    expect(tooLong.stderr).toMatch(/exceeds the maximum/);
    const onDir = shResult(`getfattr -n user.bucketfs.url ${mount.path("dir")}`);
    expect(onDir.code).not.toBe(0);
  });
});

describe("--encrypt-cache across a crash", () => {
  it("unsaved data stays encrypted in staging through kill -9 and is uploaded intact by the next mount with the key", async () => {
    const { FaultProxy } = await import("../helpers/fault-proxy.js");
    const { shTry } = await import("../helpers/mount.js");
    const bucket = await freshBucket("enccrash");
    const proxy = await new FaultProxy(new URL(s3Server().endpoint)).start();
    const cacheDir = tempDir("enc-crash-cache");
    const pidFile = join(tempDir("enc-crash-pid"), "pid");
    const env = { ...bucketfsEnv(), BUCKETFS_ENCRYPTION_KEY: randomBytes(32).toString("hex") };
    const data = Buffer.from("LAB-RESULT-HBA1C=7.1\n".repeat(50_000));
    const src = join(tempDir("enc-crash-src"), "r.txt");
    writeFileSync(src, data);
    try {
      const first = await TestMount.start(
        `s3://${bucket}`,
        ["--endpoint", proxy.endpoint, "--cache-dir", cacheDir, "--pid-file", pidFile, "--encrypt-cache"],
        env,
      );
      proxy.plan = { failMethods: ["PUT", "POST"], status: 503 };
      const cp = await shTry(`cp ${src} ${first.path("r.txt")}`);
      expect(cp.stderr).toMatch(/Input\/output error/);
      const staged = allFiles(join(cacheDir, "staging")).filter((f) => f.endsWith(".data"));
      expect(staged).toHaveLength(1);
      expect(readFileSync(staged[0]).includes(Buffer.from("LAB-RESULT"))).toBe(false);
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      await first.stop(); // detaches the dead mount and clears its record
      proxy.plan = {};
      const second = await TestMount.start(`s3://${bucket}`, ["--cache-dir", cacheDir, "--encrypt-cache"], env);
      try {
        // The second mount recovers the journaled upload in the background.
        const stored = await eventually(
          "r.txt to be recovered into the bucket",
          () => objectBytes(bucket, "r.txt").catch(() => undefined),
          { intervalMs: 250 },
        );
        expect(stored.equals(data)).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      await proxy.stop();
    }
  });
});
