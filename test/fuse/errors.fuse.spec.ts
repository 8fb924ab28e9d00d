/**
 * Bad input gets a clear, actionable error and loses no data: wrong bucket, bad credentials,
 * unreachable endpoint, malformed source, missing or busy mountpoint, no /dev/fuse, and an
 * upload that fails (EIO on close, data kept, a later close retries).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { bucketfs, shTry, tempDir, TestMount } from "../helpers/mount.js";
import { bucketfsEnv, freshBucket, s3Server } from "../helpers/s3.js";
import { objectBytes } from "../helpers/sdk.js";

describe("clear errors for bad input", () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await freshBucket("errors");
  });

  const mountArgs = (source: string, dir: string, endpoint = s3Server().endpoint): string[] => [
    "mount",
    source,
    dir,
    "--endpoint",
    endpoint,
    "--cache-dir",
    tempDir("cache"),
  ];

  it("a bucket that does not exist", async () => {
    const r = await bucketfs(mountArgs("s3://no-such-bucket-here", tempDir("mnt")));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bucket does not exist/);
  });

  it("credentials the server rejects", async () => {
    const env = { ...bucketfsEnv(), AWS_SECRET_ACCESS_KEY: "definitely-wrong" };
    const r = await bucketfs(mountArgs(`s3://${bucket}`, tempDir("mnt")), env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected the credentials/);
    expect(r.stderr).not.toContain("definitely-wrong");
  });

  it("an endpoint nobody answers on", async () => {
    const r = await bucketfs(mountArgs(`s3://${bucket}`, tempDir("mnt"), "http://127.0.0.1:9"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it("a malformed source URL", async () => {
    const r = await bucketfs(mountArgs("bucket-without-scheme", tempDir("mnt")));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/malformed source "bucket-without-scheme": expected s3:\/\/bucket/);
  });

  it("options that do not check out: the option is named, and no daemon or log file is left", async () => {
    // `bucketfs mount` starts the daemon before it checks the options (startup): a bad option must stop it.
    const mnt = tempDir("mnt");
    const cache = tempDir("cache");
    const r = await bucketfs([
      ...mountArgs(`s3://${bucket}`, mnt).slice(0, -2),
      "--cache-dir",
      cache,
      "--cache-size",
      "lots",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid options: --cache-size: not a size/);
    const logs = join(cache, "logs");
    expect(existsSync(logs) ? readdirSync(logs) : []).toEqual([]);
    await eventually(
      "no daemon for the mountpoint",
      () => (spawnSync("pgrep", ["-f", "--", mnt]).status === 1 ? true : undefined),
      { timeoutMs: 10_000 },
    );
  });

  it("a mountpoint that does not exist, is not empty, or is busy", async () => {
    const missing = join(tempDir("parent"), "missing");
    expect((await bucketfs(mountArgs(`s3://${bucket}`, missing))).stderr).toMatch(
      /does not exist: create it with mkdir -p/,
    );
    const full = tempDir("full");
    writeFileSync(join(full, "x"), "x");
    expect((await bucketfs(mountArgs(`s3://${bucket}`, full))).stderr).toMatch(/is not empty/);
    const mount = await TestMount.start(`s3://${bucket}`);
    try {
      const r = await bucketfs(mountArgs(`s3://${bucket}`, mount.dir));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is busy/);
    } finally {
      await mount.stop();
    }
  });

  it("no usable /dev/fuse", async () => {
    const env = { ...bucketfsEnv(), BUCKETFS_FUSE_DEVICE: "/dev/no-fuse-here" };
    const r = await bucketfs(mountArgs(`s3://${bucket}`, tempDir("mnt")), env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/dev\/no-fuse-here is not usable \(ENOENT\): load the module/);
  });
});

describe("an upload that fails", () => {
  let proxy: FaultProxy;
  let bucket: string;
  let mount: TestMount;

  beforeAll(async () => {
    bucket = await freshBucket("upfail");
    proxy = await new FaultProxy(new URL(s3Server().endpoint)).start();
    mount = await TestMount.start(`s3://${bucket}`, ["--endpoint", proxy.endpoint]);
  });
  afterAll(async () => {
    proxy.plan = {};
    await mount?.stop();
    await proxy?.stop();
  });

  it("gives EIO on close, keeps the data in staging, names it in the log, and a later close uploads it", async () => {
    expect((await shTry(`mkdir ${mount.path("out")}`)).code).toBe(0);
    proxy.plan = { failMethods: ["PUT"], status: 503 };
    // cp, unlike a shell redirection, reports a failing close(2), as careful programs do.
    const local = tempDir("src");
    const write = await shTry(
      `printf 'results of a long job' > ${local}/r && cp ${local}/r ${mount.path("out/result.txt")}`,
    );
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Input\/output error/);
    const stagingRoot = join(mount.cacheDir, "staging");
    const staged = readdirSync(stagingRoot, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".data"));
    expect(staged).toHaveLength(1);
    expect(readFileSync(join(stagingRoot, staged[0]), "utf8")).toBe("results of a long job");
    const log = readFileSync(join(mount.cacheDir, "logs", readdirSync(join(mount.cacheDir, "logs"))[0]), "utf8");
    expect(log).toContain("upload failed");
    expect(log).toContain(staged[0].split("/").pop()!);
    expect((await shTry(`cat ${mount.path("out/result.txt")}`)).stdout).toBe("results of a long job");

    proxy.plan = {};
    expect((await shTry(`: >> ${mount.path("out/result.txt")}`)).code).toBe(0);
    expect((await objectBytes(bucket, "out/result.txt")).toString()).toBe("results of a long job");
    expect(
      readdirSync(stagingRoot, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".data")),
    ).toHaveLength(0);
  });
});
