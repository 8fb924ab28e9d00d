/**
 * Issue 15, finding 3, through real mounts: the audit log names the caller (uid and pid from the
 * native FUSE binding) even with --allow-other, records every presigned URL minted
 * (`user.bucketfs.url` and `bucketfs sign`), and a failing audit write does not fail the
 * operation it describes.
 *
 * A close is recorded when the daemon has handled RELEASE, which the kernel sends after close(2)
 * returned: records of closes are read after `bucketfs unmount`, which waits for all of them.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketfs, shResult, tempDir, TestMount } from "../helpers/mount.js";

/** Mounts that need the caller: the native binding, or fail (fuse-native passes no caller). */
const NATIVE = ["--fuse-binding", "native"];
import { freshBucket, sdkClient } from "../helpers/s3.js";

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

interface Line {
  operation: string;
  path: string;
  uid: number | null;
  pid: number | null;
  ok: boolean;
  via?: string;
  expiresSeconds?: number;
}

describe("the audit log of a mount with --allow-other", () => {
  let bucket: string;
  let mount: TestMount;
  let auditFile: string;
  const records = (): Line[] =>
    readFileSync(auditFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    bucket = await freshBucket("auditwho");
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "remote.txt", Body: "lab results" }));
    const dir = tempDir("audit");
    made.push(dir);
    auditFile = join(dir, "audit.jsonl");
    mount = await TestMount.start(`s3://${bucket}`, ["--allow-other", "--audit-log", auditFile, ...NATIVE]);
  });
  afterAll(async () => {
    if (mount && !mount.stopped) await mount.stop();
  });

  let readerPid = 0;
  it("names the uid and pid of another user who opened a file", () => {
    // The shell prints its pid, then becomes cat: the pid that opens the file.
    const r = shResult(
      `setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo $$; exec cat "$0"' ${mount.path("remote.txt")}`,
    );
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const [pid, content] = r.stdout.split("\n");
    expect(content).toBe("lab results");
    readerPid = Number(pid);
    // The open is recorded before its reply: it is there once cat has its file.
    const opens = records().filter((l) => l.path === "/remote.txt" && l.operation === "open");
    expect(opens.map(({ uid, pid: p, ok }) => ({ uid, pid: p, ok }))).toEqual([
      { uid: 65534, pid: readerPid, ok: true },
    ]);
  });

  it("records the presigned URLs minted by getfattr user.bucketfs.url and `bucketfs sign`, not the URLs", async () => {
    const r = shResult(
      `sh -c 'echo $$; exec getfattr --only-values -n user.bucketfs.url "$0"' ${mount.path("remote.txt")}`,
    );
    expect(r.code).toBe(0);
    const pid = Number(r.stdout.split("\n")[0]);
    expect(r.stdout).toContain("X-Amz-Signature=");
    const signed = await bucketfs(["sign", mount.path("remote.txt"), "--expires", "15m"]);
    expect([signed.code, signed.stderr]).toEqual([0, ""]);
    const signs = records().filter((l) => l.operation === "sign");
    // getfattr asks twice: the value's size, then the value; each GETXATTR mints a URL.
    const byGetfattr = { path: "/remote.txt", uid: 0, pid, ok: true, via: "xattr", expiresSeconds: 3600 };
    expect(
      signs.map(({ path, uid, pid: p, ok, via, expiresSeconds }) => ({ path, uid, pid: p, ok, via, expiresSeconds })),
    ).toEqual([
      byGetfattr,
      byGetfattr,
      { path: "/remote.txt", uid: null, pid: null, ok: true, via: "bucketfs sign", expiresSeconds: 900 },
    ]);
    expect(readFileSync(auditFile, "utf8")).not.toContain("X-Amz-Signature");
  });

  it("records a close with the uid and pid of the opener (the kernel's RELEASE carries none)", async () => {
    await mount.stop();
    const closes = records().filter((l) => l.path === "/remote.txt" && l.operation === "close");
    expect(closes.map(({ uid, pid, ok }) => ({ uid, pid, ok }))).toEqual([{ uid: 65534, pid: readerPid, ok: true }]);
  });
});

describe("an audit log that cannot be written", () => {
  it("does not fail the operations; the daemon log reports each failed write", async () => {
    const bucket = await freshBucket("auditfull");
    const logDir = tempDir("auditfull-log");
    made.push(logDir);
    const logFile = join(logDir, "daemon.log");
    // /dev/full: every write fails with ENOSPC.
    const mount = await TestMount.start(`s3://${bucket}`, [
      "--audit-log",
      "/dev/full",
      "--log-file",
      logFile,
      ...NATIVE,
    ]);
    let r;
    try {
      r = shResult(
        `mkdir ${mount.path("kept")} && printf data > ${mount.path("kept/f")} && cat ${mount.path("kept/f")}`,
      );
    } finally {
      // Unmounting waits for every RELEASE, so every record has been attempted once it returns.
      await mount.stop();
    }
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "data", ""]);
    const failures = readFileSync(logFile, "utf8")
      .split("\n")
      .filter((l) => l.includes("audit log write failed"))
      .map((l) => JSON.parse(l) as { operation: string; err?: { code?: string } });
    expect(failures.map((f) => `${f.operation} ${f.err?.code}`).sort()).toEqual([
      "close ENOSPC",
      "close ENOSPC",
      "create ENOSPC",
      "mkdir ENOSPC",
      "open ENOSPC",
    ]);
  });
});
