/**
 * Encryption at rest, the audit log, URL signing limits and the HTTPS agent options.
 * The encrypted staging file is checked against a plain Buffer model with fast-check: random
 * writes at offsets, truncates and reads must match exactly, and the file on disk must never
 * contain the plaintext.
 */
import { readFileSync, writeFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataCipher, EncryptionError, loadCipher, parseKey } from "../../src/security/cipher.js";
import { EncryptedFile, ENCRYPTED_BLOCK } from "../../src/security/encrypted-file.js";
import { chunkCodec } from "../../src/security/at-rest.js";
import { AuditLog, AuditedFilesystem } from "../../src/security/audit.js";
import { checkExpiry, S3UrlSigner, SignError } from "../../src/security/sign.js";
import { proxyFor, httpsAgentFor, CaBundleError } from "../../src/store/https-agent.js";
import { ChunkCache } from "../../src/cache/chunk-cache.js";
import { createFilesystem } from "../../src/vfs/index.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { withUrlXattr, URL_XATTR } from "../../src/security/url-xattr.js";
import { createLogger } from "../../src/log/logger.js";
import { testTempDir } from "../helpers/temp-dirs.js";

/** Removed after the test, pass or fail (temp-dirs.ts). */
const tmp = (label: string): string => testTempDir(`bucketfs-sec-${label}-`);
const cipher = DataCipher.fromKey(randomBytes(32));

describe("DataCipher", () => {
  it("round-trips and rejects altered data, wrong AAD and a wrong key", () => {
    const sealed = cipher.seal(Buffer.from("patient 42"), Buffer.from("a"));
    expect(cipher.open(sealed, Buffer.from("a")).toString()).toBe("patient 42");
    expect(sealed.includes(Buffer.from("patient"))).toBe(false);
    const flipped = Buffer.from(sealed);
    flipped[14] ^= 1;
    expect(() => cipher.open(flipped, Buffer.from("a"))).toThrow(EncryptionError);
    expect(() => cipher.open(sealed, Buffer.from("b"))).toThrow(EncryptionError);
    expect(() => DataCipher.fromKey(randomBytes(32)).open(sealed, Buffer.from("a"))).toThrow(EncryptionError);
  });

  it("reads keys as hex, base64 or 32 raw bytes, from a file or the environment", () => {
    const key = randomBytes(32);
    expect(parseKey(Buffer.from(key.toString("hex") + "\n"))).toEqual(key);
    expect(parseKey(Buffer.from(key.toString("base64")))).toEqual(key);
    expect(parseKey(key)).toEqual(key);
    expect(() => parseKey(Buffer.from("short"))).toThrow(EncryptionError);
    const file = join(tmp("key"), "key");
    writeFileSync(file, key.toString("hex"), { mode: 0o600 }); // a key file others can read is refused
    const fromFile = loadCipher({ keyFile: file });
    const fromEnv = loadCipher({ envKey: key.toString("hex") });
    expect(fromEnv.open(fromFile.seal(Buffer.from("x"), Buffer.alloc(0)), Buffer.alloc(0)).toString()).toBe("x");
    expect(() => loadCipher({})).toThrow(/needs a key/);
    expect(() => loadCipher({ keyFile: "/nonexistent/key" })).toThrow(/cannot read/);
  });
});

type FileOp =
  | { kind: "write"; offset: number; data: Uint8Array }
  | { kind: "truncate"; size: number }
  | { kind: "read"; offset: number; length: number };

const MAX = 3 * ENCRYPTED_BLOCK + 100;
const fileOp: fc.Arbitrary<FileOp> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    offset: fc.nat(MAX),
    data: fc.uint8Array({ minLength: 1, maxLength: ENCRYPTED_BLOCK + 10 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), size: fc.nat(MAX) }),
  fc.record({ kind: fc.constant("read" as const), offset: fc.nat(MAX), length: fc.nat(ENCRYPTED_BLOCK * 2) }),
);

describe("EncryptedFile (staging)", () => {
  it("behaves like a plain file under random writes, truncates and reads", async () => {
    const dir = tmp("enc");
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fileOp, { maxLength: 12 }), async (ops) => {
        const path = join(dir, `f${n++}`);
        const file = await EncryptedFile.open(path, "w+", 0o600, cipher);
        let model = Buffer.alloc(0);
        for (const op of ops) {
          if (op.kind === "write") {
            const end = op.offset + op.data.length;
            if (end > model.length) model = Buffer.concat([model, Buffer.alloc(end - model.length)]);
            Buffer.from(op.data).copy(model, op.offset);
            await file.write(Buffer.from(op.data), 0, op.data.length, op.offset);
          } else if (op.kind === "truncate") {
            model =
              op.size <= model.length
                ? model.subarray(0, op.size)
                : Buffer.concat([model, Buffer.alloc(op.size - model.length)]);
            await file.truncate(op.size);
          } else {
            const out = Buffer.alloc(op.length);
            const { bytesRead } = await file.read(out, 0, op.length, op.offset);
            expect(out.subarray(0, bytesRead).equals(model.subarray(op.offset, op.offset + op.length))).toBe(true);
          }
          expect(file.logicalSize).toBe(model.length);
        }
        await file.close();
        // Reopened from disk alone (crash recovery): same size and bytes.
        const again = await EncryptedFile.open(path, "r+", 0o600, cipher);
        expect(again.logicalSize).toBe(model.length);
        const all = Buffer.alloc(model.length);
        await again.read(all, 0, model.length, 0);
        expect(all.equals(model)).toBe(true);
        await again.close();
      }),
      { numRuns: 40 },
    );
  });

  it("stores no plaintext and is 0600", async () => {
    const path = join(tmp("enc2"), "f");
    const file = await EncryptedFile.open(path, "w+", 0o600, cipher);
    const secret = Buffer.from("SSN 123-45-6789 ".repeat(10_000));
    await file.write(secret, 0, secret.length, 0);
    await file.close();
    const disk = readFileSync(path);
    expect(disk.includes(Buffer.from("SSN 123-45-6789"))).toBe(false);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const wrongKey = await EncryptedFile.open(path, "r+", 0o600, DataCipher.fromKey(randomBytes(32)));
    await expect(wrongKey.read(Buffer.alloc(10), 0, 10, 0)).rejects.toThrow(EncryptionError);
    await wrongKey.close();
  });
});

describe("encrypted chunk cache", () => {
  it("stores chunks sealed, serves them back, and drops chunks sealed under another key", async () => {
    const dir = tmp("cache");
    const id = { source: "s3://b", key: "scan.dcm", etag: '"e1"', index: 0 };
    const data = Buffer.from("PIXELDATA-".repeat(5000));
    const cache = ChunkCache.open(dir, { capacityBytes: 64 * 1024 * 1024, codec: chunkCodec(cipher) });
    expect(await cache.put(id, 0, data)).toBe(true);
    expect(await cache.get(id)).toEqual(data);
    cache.close();
    const files = readdirSync(join(dir, "chunks"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBe(1);
    const disk = readFileSync(join(files[0].parentPath, files[0].name));
    expect(disk.includes(Buffer.from("PIXELDATA"))).toBe(false);
    expect(disk.includes(Buffer.from("scan.dcm"))).toBe(false);
    const other = ChunkCache.open(dir, {
      capacityBytes: 64 * 1024 * 1024,
      codec: chunkCodec(DataCipher.fromKey(randomBytes(32))),
    });
    expect(await other.get(id)).toBeUndefined();
    other.close();
  });
});

describe("staging with --encrypt-cache through the filesystem core", () => {
  it("uploads the exact bytes while the staging file holds only ciphertext", async () => {
    const store = new MemoryStore({ bucket: "b" });
    const stagingDir = tmp("stg");
    const { stagingOpener } = await import("../../src/security/at-rest.js");
    const fs = createFilesystem({
      store,
      prefix: "",
      stagingDir,
      log: createLogger({ level: "silent" }),
      stagingOpener: stagingOpener(cipher),
      upload: { partSize: 5 * 1024 * 1024, concurrency: 2 },
    });
    const data = Buffer.from("MRN-0042;".repeat(1_500_000));
    const fh = await fs.create("/rec.csv", 0o644);
    for (let off = 0; off < data.length; off += 131072) await fs.write(fh, data.subarray(off, off + 131072), off);
    const staged = readdirSync(stagingDir).filter((n) => n.endsWith(".data"));
    expect(staged.length).toBe(1);
    expect(readFileSync(join(stagingDir, staged[0])).includes(Buffer.from("MRN-0042"))).toBe(false);
    expect((await fs.read(fh, 1000, 18)).toString()).toBe(data.subarray(1000, 1018).toString());
    await fs.flush(fh);
    await fs.release(fh);
    // Buffer.equals: vitest's deep toEqual on megabytes takes minutes.
    expect((await store.get({ key: "rec.csv" })).equals(data)).toBe(true);
  });
});

describe("audit log", () => {
  it("writes one JSON line per operation with bytes totalled at close", async () => {
    const file = join(tmp("audit"), "audit.jsonl");
    const audit = new AuditLog(file, 1234);
    const inner = createFilesystem({
      store: new MemoryStore({ bucket: "b" }),
      prefix: "",
      stagingDir: tmp("stg2"),
      log: createLogger({ level: "silent" }),
    });
    const fs = new AuditedFilesystem(inner, audit);
    const fh = await fs.create("/a.txt", 0o644);
    await fs.write(fh, Buffer.from("hello"), 0);
    await fs.release(fh);
    await fs.tree.rename("/a.txt", "/b.txt");
    await expect(fs.tree.unlink("/missing")).rejects.toThrow();
    audit.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.operation)).toEqual(["create", "close", "rename", "unlink"]);
    expect(lines[1]).toMatchObject({ path: "/a.txt", bytes: 5, bytesWritten: 5, uid: 1234, pid: null, ok: true });
    expect(lines[2]).toMatchObject({ path: "/a.txt", to: "/b.txt" });
    expect(lines[3]).toMatchObject({ ok: false, error: "ENOENT" });
    for (const l of lines) expect(typeof l.time).toBe("string");
  });
});

describe("signed URLs", () => {
  it("caps the expiry", () => {
    expect(checkExpiry(3600, 7 * 86400)).toBe(3600);
    expect(() => checkExpiry(8 * 86400, 30 * 86400)).toThrow(SignError);
    expect(() => checkExpiry(7200, 3600)).toThrow(/maximum/);
    expect(() => checkExpiry(0, 3600)).toThrow(SignError);
  });

  it("presigns a GET locally and serves it as user.bucketfs.url for stored files only", async () => {
    const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" };
    const signer = new S3UrlSigner(
      { bucket: "bkt", endpoint: "http://127.0.0.1:9", region: "us-east-1", pathStyle: true, credentials },
      86400,
    );
    const url = new URL(await signer.presignGet("dir/a b.txt", 900));
    expect(url.pathname).toBe("/bkt/dir/a%20b.txt");
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.toString()).not.toContain(credentials.secretAccessKey);
    const store = new MemoryStore({ bucket: "bkt" });
    await store.put({ key: "p/x.txt", body: Buffer.from("x") });
    const fs = withUrlXattr(
      createFilesystem({ store, prefix: "p/", stagingDir: tmp("stg3"), log: createLogger({ level: "silent" }) }),
      signer,
      "p/",
    );
    expect(await fs.xattrs!.listxattr("/x.txt")).toContain(URL_XATTR);
    expect((await fs.xattrs!.getxattr("/x.txt", URL_XATTR)).toString()).toContain("/bkt/p/x.txt?");
    await fs.tree.mkdir("/d", 0o755);
    await expect(fs.xattrs!.getxattr("/d", URL_XATTR)).rejects.toMatchObject({ code: "ENODATA" });
    expect(await fs.xattrs!.listxattr("/d")).not.toContain(URL_XATTR);
  });
});

describe("HTTPS agent", () => {
  it("honours HTTPS_PROXY and NO_PROXY", () => {
    const env = { HTTPS_PROXY: "http://proxy:3128", NO_PROXY: "localhost,.internal" };
    expect(proxyFor("s3.us-east-1.amazonaws.com", env)).toBe("http://proxy:3128");
    expect(proxyFor("minio.internal", env)).toBeUndefined();
    expect(proxyFor("localhost", env)).toBeUndefined();
    expect(proxyFor("x", {})).toBeUndefined();
    expect(httpsAgentFor({ host: "a", keepAlive: true, maxSockets: 4, env }).constructor.name).toBe("HttpsProxyAgent");
  });

  it("keeps TLS verification on and rejects an unreadable or non-PEM CA bundle", () => {
    const agent = httpsAgentFor({ host: "a", keepAlive: true, maxSockets: 4, env: {} });
    expect((agent.options as { rejectUnauthorized?: boolean }).rejectUnauthorized).toBe(true);
    expect(() =>
      httpsAgentFor({ host: "a", caBundle: "/nonexistent.pem", keepAlive: true, maxSockets: 4, env: {} }),
    ).toThrow(CaBundleError);
    const bad = join(tmp("ca"), "bad.pem");
    writeFileSync(bad, "not a cert");
    expect(() => httpsAgentFor({ host: "a", caBundle: bad, keepAlive: true, maxSockets: 4, env: {} })).toThrow(
      CaBundleError,
    );
  });
});
