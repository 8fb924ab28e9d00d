/**
 * A random-access file whose bytes are stored encrypted (AES-256-GCM), with the subset of
 * FileHandle that staging uses: read/write at a position, truncate, close. Staging files take
 * writes at any offset, so the plaintext is cut into fixed blocks, each sealed on its own:
 *
 *   block i lives at i * (BLOCK + SEAL_OVERHEAD) and holds nonce ‖ ciphertext ‖ tag.
 *
 * Every block but the last is full; the last (the *final* block) holds `length % BLOCK` bytes,
 * possibly none, so the logical length follows from the physical size and the file is
 * self-describing (crash recovery needs only the key).
 *
 * Each block's AAD binds it to its place:
 *   - the file's identity: its name (staging files are named by a random UUID and never renamed);
 *   - its index;
 *   - for the final block, the file's logical length (and a mark that it is the final one).
 * So a block moved in from another staging file, a whole file put in another's place, or a file
 * cut at a block boundary (its new last block was sealed as a full one) fails authentication
 * instead of reading back as someone else's data or as a short file that recovery would pad with
 * zeros. A reopened file authenticates its final block at once; a file that fails is *damaged*:
 * every read and write rejects with the EncryptionError.
 *
 * Not detected: a block of this same file replaced by an older version of itself (same index,
 * and for the final block the same length). Catching that needs a MAC over all blocks that
 * survives a crash consistently with them, e.g. recorded in the upload journal at each fsync.
 *
 * Holes are written as sealed zeros: every stored block authenticates. Operations run one at a
 * time per file, since a partial-block write is a read-modify-write.
 */
import { open, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { DataCipher, EncryptionError, SEAL_OVERHEAD } from "./cipher.js";

export const ENCRYPTED_BLOCK = 64 * 1024;
const STORED_BLOCK = ENCRYPTED_BLOCK + SEAL_OVERHEAD;
const AAD_MAGIC = Buffer.from("bucketfs staging block v2\0");

/** The logical length of a file of `physical` bytes, or undefined when no valid file has that size. */
export function logicalSize(physical: number): number | undefined {
  const full = Math.floor(physical / STORED_BLOCK);
  const rest = physical % STORED_BLOCK;
  return rest < SEAL_OVERHEAD ? undefined : full * ENCRYPTED_BLOCK + (rest - SEAL_OVERHEAD);
}

export class EncryptedFile {
  private size: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** Why this file cannot be trusted (set when a reopened file fails its check). */
  private damaged: EncryptionError | undefined;
  private readonly identity: Buffer;

  private constructor(
    private readonly fh: FileHandle,
    private readonly cipher: DataCipher,
    path: string,
    size: number,
  ) {
    this.size = size;
    this.identity = Buffer.from(`${basename(path)}\0`);
  }

  /**
   * Opens `path`: "w+" creates an empty file (its empty final block is written at once), "r+"
   * reopens one and authenticates its length (a file that fails is damaged, not an open error:
   * recovery then reports that file and goes on with the others).
   */
  static async open(path: string, flags: string, mode: number, cipher: DataCipher): Promise<EncryptedFile> {
    const fh = await open(path, flags, mode);
    try {
      const { size: physical } = await fh.stat();
      if (physical === 0 && flags.startsWith("w")) {
        const file = new EncryptedFile(fh, cipher, path, 0);
        await file.writeBlock(0, Buffer.alloc(0), 0);
        return file;
      }
      const size = logicalSize(physical);
      const file = new EncryptedFile(fh, cipher, path, size ?? 0);
      if (size === undefined)
        file.damaged = new EncryptionError(
          `${path}: ${physical} bytes is no encrypted staging file's size (cut short?)`,
        );
      else
        await file.readBlock(Math.floor(size / ENCRYPTED_BLOCK)).catch((err: unknown) => {
          file.damaged =
            err instanceof EncryptionError
              ? err
              : new EncryptionError(`${path}: ${(err as Error).message}`, { cause: err });
        });
      return file;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get logicalSize(): number {
    return this.size;
  }

  read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number; buffer: Buffer }> {
    return this.serial(async () => {
      const end = Math.min(position + length, this.size);
      let done = 0;
      for (let pos = position; pos < end;) {
        const block = Math.floor(pos / ENCRYPTED_BLOCK);
        const plain = await this.readBlock(block);
        const from = pos - block * ENCRYPTED_BLOCK;
        const n = Math.min(plain.length - from, end - pos);
        plain.copy(buffer, offset + done, from, from + n);
        done += n;
        pos += n;
      }
      return { bytesRead: done, buffer };
    });
  }

  write(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number; buffer: Buffer }> {
    return this.serial(async () => {
      if (position > this.size) await this.growTo(position);
      await this.writeAt(buffer.subarray(offset, offset + length), position);
      return { bytesWritten: length, buffer };
    });
  }

  truncate(length = 0): Promise<void> {
    return this.serial(async () => {
      if (length > this.size) return this.growTo(length);
      if (length === this.size) return;
      const block = Math.floor(length / ENCRYPTED_BLOCK);
      const keep = length - block * ENCRYPTED_BLOCK;
      const lastPlain = keep > 0 ? (await this.readBlock(block)).subarray(0, keep) : Buffer.alloc(0);
      await this.fh.truncate(block * STORED_BLOCK);
      await this.writeBlock(block, lastPlain, length);
      this.size = length;
    });
  }

  datasync(): Promise<void> {
    return this.serial(() => this.fh.datasync());
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const guarded = (): Promise<T> => (this.damaged ? Promise.reject(this.damaged) : op());
    const result = this.queue.then(guarded, guarded);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The AAD of `block` in a file of `length` bytes: identity, index, and for the final block the length. */
  private aad(block: number, length: number): Buffer {
    const final = block === Math.floor(length / ENCRYPTED_BLOCK);
    const place = Buffer.alloc(17);
    place.writeBigUInt64BE(BigInt(block), 0);
    place.writeUInt8(final ? 1 : 0, 8);
    place.writeBigUInt64BE(BigInt(final ? length : 0), 9);
    return Buffer.concat([AAD_MAGIC, this.identity, place]);
  }

  /** Block `block` of the file as it is now (this.size); empty past the final block. */
  private async readBlock(block: number): Promise<Buffer> {
    const finalBlock = Math.floor(this.size / ENCRYPTED_BLOCK);
    if (block > finalBlock) return Buffer.alloc(0);
    const plainLength = block < finalBlock ? ENCRYPTED_BLOCK : this.size % ENCRYPTED_BLOCK;
    const sealed = Buffer.alloc(plainLength + SEAL_OVERHEAD);
    const { bytesRead } = await this.fh.read(sealed, 0, sealed.length, block * STORED_BLOCK);
    return this.cipher.open(sealed.subarray(0, bytesRead), this.aad(block, this.size));
  }

  /** Seals `plain` as block `block` of a file that will be `length` bytes long. */
  private async writeBlock(block: number, plain: Buffer, length: number): Promise<void> {
    const sealed = this.cipher.seal(plain, this.aad(block, length));
    let done = 0;
    while (done < sealed.length) {
      const { bytesWritten } = await this.fh.write(sealed, done, sealed.length - done, block * STORED_BLOCK + done);
      done += bytesWritten;
    }
  }

  /**
   * Writes `data` at `position` (≤ size). Blocks are read under the old length and written under
   * the new one; when the file grows, the old final block is among those written (the write
   * covers its end), and a new empty final block is added when the new length ends on a boundary.
   */
  private async writeAt(data: Buffer, position: number): Promise<void> {
    if (data.length === 0) return;
    const newSize = Math.max(this.size, position + data.length);
    const newFinal = Math.floor(newSize / ENCRYPTED_BLOCK);
    let done = 0;
    let lastWritten = -1;
    while (done < data.length) {
      const pos = position + done;
      const block = Math.floor(pos / ENCRYPTED_BLOCK);
      const from = pos - block * ENCRYPTED_BLOCK;
      const n = Math.min(ENCRYPTED_BLOCK - from, data.length - done);
      const blockLength = block < newFinal ? ENCRYPTED_BLOCK : newSize % ENCRYPTED_BLOCK;
      const plain = Buffer.alloc(blockLength);
      // What the block holds now, unless this write replaces all of it.
      if (from > 0 || n < Math.min(ENCRYPTED_BLOCK, this.size - block * ENCRYPTED_BLOCK))
        (await this.readBlock(block)).copy(plain);
      data.copy(plain, from, done, done + n);
      await this.writeBlock(block, plain, newSize);
      lastWritten = block;
      done += n;
    }
    if (newSize > this.size && newFinal > lastWritten) await this.writeBlock(newFinal, Buffer.alloc(0), newSize);
    this.size = newSize;
  }

  /** Extends the file with sealed zeros up to `length`, one block at a time. */
  private async growTo(length: number): Promise<void> {
    const zeros = Buffer.alloc(Math.min(ENCRYPTED_BLOCK, length - this.size));
    while (this.size < length) {
      const n = Math.min(zeros.length, length - this.size, ENCRYPTED_BLOCK - (this.size % ENCRYPTED_BLOCK));
      await this.writeAt(zeros.subarray(0, n), this.size);
    }
  }
}
