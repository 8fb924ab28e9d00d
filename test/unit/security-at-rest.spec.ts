/**
 * Issue 15, finding 4: `--encrypt-cache` must hide what it protects and notice tampering.
 *
 * - Staging blocks are bound to their file (its random staging name) and to the file's length:
 *   a block moved in from another file, a whole file put in another's place, or a file cut at a
 *   block boundary fails authentication instead of reading back as other data or as zeros.
 * - The key file must be the user's own and private; the key leaves the daemon's environment
 *   once read.
 * - The chunk-cache index keeps no object key, source, ETag or plaintext CRC in clear when it is
 *   given the index protector of `--encrypt-cache`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  openSync,
  closeSync,
  ftruncateSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { CacheIndex, type IndexRow } from "../../src/cache/cache-index.js";
import { mountConfig } from "../helpers/config.js";
import { parseSource } from "../../src/config/source.js";
import { indexProtector } from "../../src/security/at-rest.js";
import { DataCipher, EncryptionError, loadCipher, SEAL_OVERHEAD } from "../../src/security/cipher.js";
import { EncryptedFile, ENCRYPTED_BLOCK } from "../../src/security/encrypted-file.js";
import { openMountSecurity } from "../../src/security/index.js";
import { testTempDir } from "../helpers/temp-dirs.js";

const B = ENCRYPTED_BLOCK;
const STORED = B + SEAL_OVERHEAD;
const cipher = DataCipher.fromKey(randomBytes(32));
function tmp(label: string): string {
  return testTempDir(`bucketfs-sec-rest-${label}-`);
}

/** A staging file as staging.ts names them, holding `data`. */
async function staged(dir: string, data: Buffer): Promise<string> {
  const path = join(dir, `${randomBytes(16).toString("hex")}.data`);
  const file = await EncryptedFile.open(path, "w+", 0o600, cipher);
  await file.write(data, 0, data.length, 0);
  await file.close();
  return path;
}

/** Reads a whole staging file back the way recovery does (reopen, read its size). */
async function readBack(path: string): Promise<Buffer> {
  const file = await EncryptedFile.open(path, "r+", 0o600, cipher);
  try {
    const out = Buffer.alloc(file.logicalSize);
    const { bytesRead } = await file.read(out, 0, out.length, 0);
    return out.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

function copyRange(from: string, to: string, position: number, length: number): void {
  const buffer = Buffer.alloc(length);
  const src = openSync(from, "r");
  readSync(src, buffer, 0, length, position);
  closeSync(src);
  const dst = openSync(to, "r+");
  writeSync(dst, buffer, 0, length, position);
  closeSync(dst);
}

function cut(path: string, physical: number): void {
  const fd = openSync(path, "r+");
  ftruncateSync(fd, physical);
  closeSync(fd);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: Error) => err,
  );
}

describe("encrypted staging files", () => {
  it("read back exactly, for lengths around block boundaries", async () => {
    const dir = tmp("round");
    for (const length of [0, 1, B - 1, B, B + 1, 2 * B, 3 * B + 100]) {
      const data = randomBytes(length);
      expect((await readBack(await staged(dir, data))).equals(data), String(length)).toBe(true);
    }
  });

  it("refuse a block moved in from another staging file", async () => {
    const dir = tmp("swap");
    const a = await staged(dir, Buffer.alloc(3 * B + 100, "A"));
    const b = await staged(dir, Buffer.alloc(3 * B + 100, "B"));
    copyRange(a, b, STORED, STORED);
    const err = await rejection(readBack(b));
    expect(err).toBeInstanceOf(EncryptionError);
  });

  it("refuse a whole staging file put in another's place", async () => {
    const dir = tmp("replace");
    const a = await staged(dir, Buffer.alloc(B + 10, "A"));
    const b = await staged(dir, Buffer.alloc(B + 10, "B"));
    copyFileSync(a, b);
    expect(await rejection(readBack(b))).toBeInstanceOf(EncryptionError);
  });

  it("refuse a file cut at a block boundary instead of reading it short (recovery would upload zeros)", async () => {
    const dir = tmp("cut");
    for (const [length, keep] of [
      [3 * B + 100, 2 * STORED],
      [2 * B, STORED],
      [2 * B, 2 * STORED],
      [B + 1, STORED],
    ] as const) {
      const path = await staged(dir, randomBytes(length));
      cut(path, keep);
      const err = await rejection(readBack(path));
      expect(err, `${length} cut to ${keep}`).toBeInstanceOf(EncryptionError);
    }
  });
});

describe("the key", () => {
  it("is refused from a key file that others can read or that is not the user's", () => {
    const dir = tmp("keyfile");
    const key = join(dir, "key");
    writeFileSync(key, randomBytes(32).toString("hex"));
    chmodSync(key, 0o644);
    const loose = (() => {
      try {
        loadCipher({ keyFile: key });
        return undefined;
      } catch (err) {
        return err as Error;
      }
    })();
    expect(loose).toBeInstanceOf(EncryptionError);
    expect(loose?.message).toBe(
      `encryption key file ${key} is accessible to group or others (mode 0644): run chmod 600 ${key}`,
    );
    chmodSync(key, 0o600);
    chownSync(key, 65534, 65534);
    expect(() => loadCipher({ keyFile: key })).toThrow(
      `encryption key file ${key} is owned by uid 65534, not by you (uid ${process.getuid!()}): it must be your own file, mode 0600`,
    );
    chownSync(key, process.getuid!(), process.getgid!());
    for (const mode of [0o600, 0o400]) {
      chmodSync(key, mode);
      expect(loadCipher({ keyFile: key })).toBeInstanceOf(DataCipher);
    }
  });

  it("leaves the daemon's environment once read, so no child process or later reader sees it", () => {
    const dir = tmp("env");
    const hex = randomBytes(32).toString("hex");
    process.env.BUCKETFS_ENCRYPTION_KEY = hex;
    const umask = process.umask();
    try {
      const config = mountConfig({ encryptCache: true, cacheDir: dir });
      const security = openMountSecurity(parseSource("s3://bkt"), config);
      expect(security.atRest).toBeDefined();
      expect(process.env.BUCKETFS_ENCRYPTION_KEY).toBeUndefined();
      const child = spawnSync("sh", ["-c", "echo ${BUCKETFS_ENCRYPTION_KEY:-unset}"], { encoding: "utf8" });
      expect(child.stdout.trim()).toBe("unset");
      security.close();
    } finally {
      process.umask(umask);
      delete process.env.BUCKETFS_ENCRYPTION_KEY;
    }
  });
});

describe("the chunk-cache index under --encrypt-cache", () => {
  const secretKey = "patients/DOE-JOHN-1970/scan.dcm";
  const rows: IndexRow[] = [
    {
      id: "c1.0",
      source: "s3://phi-bucket",
      key: secretKey,
      etag: '"etag-0123456789"',
      index: 0,
      offset: 0,
      length: 1000,
      charged: 4096,
      crc: 0xdeadbeef,
      atime: 1,
    },
    {
      id: "c1.1",
      source: "s3://phi-bucket",
      key: secretKey,
      etag: '"etag-0123456789"',
      index: 1,
      offset: 1000,
      length: 500,
      charged: 4096,
      crc: 0x12345678,
      atime: 2,
    },
    {
      id: "c2.0",
      source: "s3://phi-bucket",
      key: "other.dcm",
      etag: '"e2"',
      index: 0,
      offset: 0,
      length: 10,
      charged: 4096,
      crc: 0x0badf00d,
      atime: 3,
    },
  ];

  function onDisk(path: string): Buffer {
    return Buffer.concat(["", "-wal"].filter((s) => existsSync(path + s)).map((s) => readFileSync(path + s)));
  }

  it("stores no key, source, ETag or plaintext CRC in clear, and gives the rows back", () => {
    const path = join(tmp("index"), "index.sqlite");
    const protector = indexProtector(cipher);
    const index = new CacheIndex(path, false, protector);
    index.apply({ upserts: rows, deletes: [], touches: new Map() });
    index.apply({ upserts: [], deletes: ["c2.0"], touches: new Map([["c1.1", 9]]) });
    expect(index.summary()).toEqual({ chunks: 2, bytes: 8192, objects: 1 });
    index.close();
    const disk = onDisk(path);
    for (const clear of [secretKey, "phi-bucket", "etag-0123456789"])
      expect(disk.includes(Buffer.from(clear)), clear).toBe(false);
    const raw = new Database(path, { readonly: true });
    const stored = raw.prepare("SELECT id, source, key, etag, crc FROM chunks").all() as {
      id: string;
      source: string;
      key: string;
      etag: string;
      crc: number;
    }[];
    raw.close();
    expect(stored.length).toBe(2);
    for (const r of stored) {
      expect([rows[0].id, rows[1].id]).not.toContain(r.id);
      expect([r.source, r.key, r.etag].some((v) => v.includes("phi") || v.includes("DOE") || v.includes("etag"))).toBe(
        false,
      );
      expect(r.crc).toBe(0);
    }
    const again = new CacheIndex(path, false, protector);
    expect(again.all()).toEqual([rows[0], { ...rows[1], atime: 9 }]);
    again.close();
    // Under another key the rows are unusable: dropped, never returned as garbage.
    const other = new CacheIndex(path, false, indexProtector(DataCipher.fromKey(randomBytes(32))));
    expect(other.all()).toEqual([]);
    other.close();
  });

  it("seals the clear rows an unencrypted run left, when opened with the protector", () => {
    const path = join(tmp("index-old"), "index.sqlite");
    const plain = new CacheIndex(path);
    plain.apply({ upserts: rows, deletes: [], touches: new Map() });
    plain.close();
    expect(onDisk(path).includes(Buffer.from(secretKey))).toBe(true);
    const sealed = new CacheIndex(path, false, indexProtector(cipher));
    expect(sealed.all()).toEqual(rows);
    sealed.close();
    // Not even in freed pages.
    expect(onDisk(path).includes(Buffer.from(secretKey))).toBe(false);
    expect(statSync(path).size).toBeGreaterThan(0);
  });
});
