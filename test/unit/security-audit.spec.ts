/**
 * Issue 15, finding 3: the audit log says who did it (the caller the FUSE binding passes: uid and
 * pid), records every presigned URL minted (xattr `user.bucketfs.url` and `bucketfs sign`), and an
 * audit write that fails after the operation succeeded leaves the operation a success (reported
 * to the failure hook and counted instead).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mountConfig } from "../helpers/config.js";
import { parseSource } from "../../src/config/source.js";
import { silentLogger } from "../../src/log/logger.js";
import { AuditedFilesystem, AuditLog } from "../../src/security/audit.js";
import { openMountSecurity } from "../../src/security/index.js";
import { S3UrlSigner } from "../../src/security/sign.js";
import { URL_XATTR, withUrlXattr } from "../../src/security/url-xattr.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { runAs, type Caller } from "../../src/vfs/caller.js";
import { createFilesystem } from "../../src/vfs/index.js";
import { testTempDir } from "../helpers/temp-dirs.js";

function tmp(label: string): string {
  return testTempDir(`bucketfs-sec-audit-${label}-`);
}

const alice: Caller = { uid: 4242, gid: 4343, pid: 31337, umask: 0o022 };
/** What the kernel sends with RELEASE: no credentials (the closer may be long gone). */
const kernel: Caller = { uid: 0, gid: 0, pid: 0, umask: 0 };

function memoryFs(store = new MemoryStore({ bucket: "b" }), prefix = ""): ReturnType<typeof createFilesystem> {
  return createFilesystem({ store, prefix, stagingDir: tmp("stg"), log: silentLogger(), uid: 1000, gid: 1000 });
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const signer = new S3UrlSigner(
  {
    bucket: "bkt",
    endpoint: "http://127.0.0.1:9",
    region: "us-east-1",
    pathStyle: true,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" },
  },
  86400,
);

describe("audit records", () => {
  it("carry the uid and pid of the caller; a close carries those of the opener", async () => {
    const file = join(tmp("who"), "audit.jsonl");
    const audit = new AuditLog(file, 1000);
    const fs = new AuditedFilesystem(memoryFs(), audit);
    await runAs(alice, () => fs.tree.mkdir("/d", 0o755));
    const fh = await runAs(alice, () => fs.create("/d/f", 0o644));
    await runAs(alice, () => fs.write(fh, Buffer.from("hello"), 0));
    await runAs(kernel, () => fs.release(fh));
    // Without a caller (the fuse-native fallback binding): the configured uid, pid unknown.
    await fs.tree.unlink("/d/f");
    audit.close();
    expect(lines(file).map(({ operation, uid, pid, ok }) => ({ operation, uid, pid, ok }))).toEqual([
      { operation: "mkdir", uid: 4242, pid: 31337, ok: true },
      { operation: "create", uid: 4242, pid: 31337, ok: true },
      { operation: "close", uid: 4242, pid: 31337, ok: true },
      { operation: "unlink", uid: 1000, pid: null, ok: true },
    ]);
  });

  it("include every presigned URL minted through user.bucketfs.url, without the URL itself", async () => {
    const file = join(tmp("xattr"), "audit.jsonl");
    const audit = new AuditLog(file, 1000);
    const store = new MemoryStore({ bucket: "bkt" });
    await store.put({ key: "p/x.txt", body: Buffer.from("x") });
    const fs = new AuditedFilesystem(withUrlXattr(memoryFs(store, "p/"), signer, "p/"), audit);
    const url = (await runAs(alice, () => fs.xattrs!.getxattr("/x.txt", URL_XATTR))).toString();
    expect(url).toContain("X-Amz-Signature=");
    await runAs(alice, () => fs.tree.mkdir("/d", 0o755));
    await expect(runAs(alice, () => fs.xattrs!.getxattr("/d", URL_XATTR))).rejects.toMatchObject({ code: "ENODATA" });
    // Other attributes mint nothing and are not recorded.
    await expect(runAs(alice, () => fs.xattrs!.getxattr("/x.txt", "user.other"))).rejects.toMatchObject({
      code: "ENODATA",
    });
    audit.close();
    expect(readFileSync(file, "utf8")).not.toContain("X-Amz-Signature");
    expect(
      lines(file).map(({ operation, path, uid, pid, ok, error, expiresSeconds, via }) => ({
        operation,
        path,
        uid,
        pid,
        ok,
        error,
        expiresSeconds,
        via,
      })),
    ).toEqual([
      {
        operation: "sign",
        path: "/x.txt",
        uid: 4242,
        pid: 31337,
        ok: true,
        error: undefined,
        expiresSeconds: 3600,
        via: "xattr",
      },
      {
        operation: "mkdir",
        path: "/d",
        uid: 4242,
        pid: 31337,
        ok: true,
        error: undefined,
        expiresSeconds: undefined,
        via: undefined,
      },
      {
        operation: "sign",
        path: "/d",
        uid: 4242,
        pid: 31337,
        ok: false,
        error: "ENODATA",
        expiresSeconds: 3600,
        via: "xattr",
      },
    ]);
  });

  it("include every presigned URL minted for `bucketfs sign` (the control socket)", async () => {
    const file = join(tmp("sign"), "audit.jsonl");
    const config = mountConfig({ auditLog: file, endpoint: "http://127.0.0.1:9" });
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG";
    const umask = process.umask();
    try {
      const security = openMountSecurity(parseSource("s3://bkt/p"), config);
      const url = await security.signPath("/x.txt", 900);
      expect(url).toContain("/bkt/p/x.txt?");
      await expect(security.signPath("/x.txt", 30 * 86400)).rejects.toThrow(/exceeds the maximum/);
      security.close();
    } finally {
      process.umask(umask);
      for (const [name, value] of [
        ["AWS_ACCESS_KEY_ID", saved.id],
        ["AWS_SECRET_ACCESS_KEY", saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(readFileSync(file, "utf8")).not.toContain("X-Amz-Signature");
    expect(
      lines(file).map(({ operation, path, uid, pid, ok, error, expiresSeconds, via }) => ({
        operation,
        path,
        uid,
        pid,
        ok,
        error,
        expiresSeconds,
        via,
      })),
    ).toEqual([
      {
        operation: "sign",
        path: "/x.txt",
        uid: null,
        pid: null,
        ok: true,
        error: undefined,
        expiresSeconds: 900,
        via: "bucketfs sign",
      },
      {
        operation: "sign",
        path: "/x.txt",
        uid: null,
        pid: null,
        ok: false,
        error: "SignError",
        expiresSeconds: 2592000,
        via: "bucketfs sign",
      },
    ]);
  });
});

describe("an audit write that fails", () => {
  it("does not turn a successful operation into an error; it is reported and counted", async () => {
    const reported: NodeJS.ErrnoException[] = [];
    // /dev/full accepts the open and fails every write with ENOSPC.
    const audit = new AuditLog("/dev/full", 1000, (err) => reported.push(err as NodeJS.ErrnoException));
    const inner = memoryFs();
    const fs = new AuditedFilesystem(inner, audit);
    await fs.tree.mkdir("/kept", 0o755);
    expect((await inner.getattr("/kept")).kind).toBe("dir");
    // A failed operation still fails with its own error, not the audit's.
    await expect(fs.tree.unlink("/missing")).rejects.toMatchObject({ code: "ENOENT" });
    const fh = await fs.create("/f", 0o644);
    await fs.write(fh, Buffer.from("data"), 0);
    await fs.release(fh);
    audit.close();
    expect(audit.failures).toBe(4);
    expect(reported.map((e) => e.code)).toEqual(["ENOSPC", "ENOSPC", "ENOSPC", "ENOSPC"]);
    expect((await inner.getattr("/f")).size).toBe(4);
  });
});
