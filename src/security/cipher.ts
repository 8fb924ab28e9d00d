/**
 * Encryption at rest for local copies of user data (`--encrypt-cache`): AES-256-GCM with a
 * 32-byte key from `--encryption-key-file` or `BUCKETFS_ENCRYPTION_KEY`. The key is never
 * written anywhere by bucketfs; without it the cache and staging files are opaque, so a stolen
 * disk reveals neither contents nor plaintext checksums. A key file must be the user's own and
 * not accessible to group or others (like ssh private keys); the environment variable is removed
 * from the daemon's environment once read (index.ts).
 *
 * Values the cache index must match on without showing them (object keys, ETags) are replaced
 * by `tag`: HMAC-SHA-256 under a subkey derived from the data key (HKDF), so the same value
 * always gives the same tag and nothing about it can be learnt or confirmed without the key.
 *
 * Sealed format of one unit (a chunk file, or one block of a staging file):
 *   [12-byte random nonce][ciphertext][16-byte GCM tag]
 * The caller passes associated data (AAD) that binds the unit to its place (chunk name, block
 * index), so units cannot be swapped or moved undetected.
 *
 * Random 96-bit nonces under one key are safe for well over 2^32 units (NIST SP 800-38D bound);
 * at 64 KiB per staging block that is 256 TiB written per key. Rotate the key (and drop the
 * cache) long before that.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Bytes a sealed unit takes beyond its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;
const KEY_BYTES = 32;

/** The key is missing, malformed or wrong, or a sealed unit was altered. */
export class EncryptionError extends Error {
  override readonly name = "EncryptionError";
}

export class DataCipher {
  private readonly tagKeys = new Map<string, Buffer>();

  private constructor(private readonly key: Buffer) {}

  static fromKey(key: Buffer): DataCipher {
    if (key.length !== KEY_BYTES)
      throw new EncryptionError(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
    return new DataCipher(Buffer.from(key));
  }

  /** Returns sealed bytes: nonce ‖ ciphertext ‖ tag. */
  seal(plain: Buffer | Buffer[], aad: Buffer): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
    cipher.setAAD(aad);
    const parts = Array.isArray(plain) ? plain : [plain];
    const body = parts.map((p) => cipher.update(p));
    const final = cipher.final();
    return Buffer.concat([nonce, ...body, final, cipher.getAuthTag()]);
  }

  /**
   * A keyed, deterministic stand-in for `value` (hex, 128 bits), for one `purpose`: equal values
   * give equal tags, and without the key a tag tells nothing about its value.
   */
  tag(purpose: string, value: string): string {
    let key = this.tagKeys.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync("sha256", this.key, Buffer.alloc(0), `bucketfs tag: ${purpose}`, 32));
      this.tagKeys.set(purpose, key);
    }
    return createHmac("sha256", key).update(value).digest("hex").slice(0, 32);
  }

  /** Returns the plaintext; throws EncryptionError if the unit was altered or the key is wrong. */
  open(sealed: Buffer, aad: Buffer): Buffer {
    if (sealed.length < SEAL_OVERHEAD) throw new EncryptionError("sealed data too short");
    const nonce = sealed.subarray(0, NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", this.key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (err) {
      throw new EncryptionError("authentication failed: wrong key or altered data", { cause: err });
    }
  }
}

/**
 * Decodes a key given as 64 hex digits, base64 of 32 bytes, or (from a file) 32 raw bytes.
 * Surrounding whitespace is ignored so `openssl rand -hex 32 > key` works.
 */
export function parseKey(material: Buffer): Buffer {
  if (material.length === KEY_BYTES) return material;
  const text = material.toString("utf8").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  const b64 = Buffer.from(text, "base64");
  if (b64.length === KEY_BYTES && /^[A-Za-z0-9+/=_-]+$/.test(text)) return b64;
  throw new EncryptionError("encryption key must be 32 bytes: 64 hex digits, base64, or a 32-byte raw file");
}

export interface KeySource {
  keyFile?: string;
  /** Value of BUCKETFS_ENCRYPTION_KEY. */
  envKey?: string;
}

/** Loads the key for `--encrypt-cache`; the file wins over the environment. */
export function loadCipher(source: KeySource): DataCipher {
  if (source.keyFile) return DataCipher.fromKey(parseKey(readKeyFile(source.keyFile)));
  if (source.envKey) return DataCipher.fromKey(parseKey(Buffer.from(source.envKey)));
  throw new EncryptionError("--encrypt-cache needs a key: --encryption-key-file FILE or BUCKETFS_ENCRYPTION_KEY");
}

/**
 * Reads a key file that is the user's own and accessible to nobody else (mode 0600 or 0400),
 * checked on the open descriptor, so what is checked is what is read.
 */
function readKeyFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    throw new EncryptionError(
      `cannot read encryption key file ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      { cause: err },
    );
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new EncryptionError(
        `encryption key file ${file} is owned by uid ${st.uid}, not by you (uid ${uid}): it must be your own file, mode 0600`,
      );
    }
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new EncryptionError(
        `encryption key file ${file} is accessible to group or others (mode ${mode.toString(8).padStart(4, "0")}): run chmod 600 ${file}`,
      );
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
