/**
 * A random-access file whose bytes are stored encrypted (AES-256-GCM), with the subset of
 * FileHandle that staging uses: read/write at a position, truncate, close. Staging files take
 * writes at any offset, so the plaintext is cut into fixed blocks, each sealed on its own:
 *
 *   block i lives at i * (BLOCK + SEAL_OVERHEAD) and holds nonce ‖ ciphertext ‖ tag.
 *
 * Only the last block may be short, so the logical size follows from the physical size and the
 * file is self-describing (crash recovery needs only the key). Each block's AAD is its index, so
 * blocks cannot be reordered undetected. Holes are written as sealed zeros: every stored block
 * authenticates. Operations run one at a time per file, since a partial-block write is a
 * read-modify-write.
 */
import { open, type FileHandle } from "node:fs/promises";
import { DataCipher, SEAL_OVERHEAD } from "./cipher.js";

export const ENCRYPTED_BLOCK = 64 * 1024;
const STORED_BLOCK = ENCRYPTED_BLOCK + SEAL_OVERHEAD;

export function logicalSize(physical: number): number {
  const full = Math.floor(physical / STORED_BLOCK);
  const rest = physical % STORED_BLOCK;
  return full * ENCRYPTED_BLOCK + Math.max(0, rest - SEAL_OVERHEAD);
}

function aadOf(block: number): Buffer {
  const aad = Buffer.alloc(8);
  aad.writeBigUInt64BE(BigInt(block));
  return aad;
}

export class EncryptedFile {
  private size: number;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly fh: FileHandle, private readonly cipher: DataCipher, physicalSize: number) {
    this.size = logicalSize(physicalSize);
  }

  static async open(path: string, flags: string, mode: number, cipher: DataCipher): Promise<EncryptedFile> {
    const fh = await open(path, flags, mode);
    const { size } = await fh.stat();
    return new EncryptedFile(fh, cipher, size);
  }

  get logicalSize(): number {
    return this.size;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }> {
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

  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number; buffer: Buffer }> {
    return this.serial(async () => {
      if (position > this.size) await this.growTo(position);
      await this.writeAt(buffer.subarray(offset, offset + length), position);
      return { bytesWritten: length, buffer };
    });
  }

  truncate(length = 0): Promise<void> {
    return this.serial(async () => {
      if (length > this.size) return this.growTo(length);
      const block = Math.floor(length / ENCRYPTED_BLOCK);
      const keep = length - block * ENCRYPTED_BLOCK;
      const lastPlain = keep > 0 ? (await this.readBlock(block)).subarray(0, keep) : undefined;
      await this.fh.truncate(block * STORED_BLOCK);
      this.size = block * ENCRYPTED_BLOCK;
      if (lastPlain) await this.writeBlock(block, lastPlain);
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
    const result = this.queue.then(op, op);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async readBlock(block: number): Promise<Buffer> {
    const plainLength = Math.min(ENCRYPTED_BLOCK, this.size - block * ENCRYPTED_BLOCK);
    if (plainLength <= 0) return Buffer.alloc(0);
    const sealed = Buffer.alloc(plainLength + SEAL_OVERHEAD);
    const { bytesRead } = await this.fh.read(sealed, 0, sealed.length, block * STORED_BLOCK);
    return this.cipher.open(sealed.subarray(0, bytesRead), aadOf(block));
  }

  private async writeBlock(block: number, plain: Buffer): Promise<void> {
    const sealed = this.cipher.seal(plain, aadOf(block));
    let done = 0;
    while (done < sealed.length) {
      const { bytesWritten } = await this.fh.write(sealed, done, sealed.length - done, block * STORED_BLOCK + done);
      done += bytesWritten;
    }
    this.size = Math.max(this.size, block * ENCRYPTED_BLOCK + plain.length);
  }

  /** Writes `data` at `position` (≤ size), patching partial blocks. */
  private async writeAt(data: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const pos = position + done;
      const block = Math.floor(pos / ENCRYPTED_BLOCK);
      const from = pos - block * ENCRYPTED_BLOCK;
      const n = Math.min(ENCRYPTED_BLOCK - from, data.length - done);
      if (from === 0 && (n === ENCRYPTED_BLOCK || block * ENCRYPTED_BLOCK + n >= this.size)) {
        // The whole block, or everything of it there is: no read-modify-write.
        await this.writeBlock(block, data.subarray(done, done + n));
      } else {
        const old = await this.readBlock(block);
        const plain = Buffer.alloc(Math.max(old.length, from + n));
        old.copy(plain);
        data.copy(plain, from, done, done + n);
        await this.writeBlock(block, plain);
      }
      done += n;
    }
  }

  /** Extends the file with sealed zeros up to `length`. */
  private async growTo(length: number): Promise<void> {
    const zeros = Buffer.alloc(Math.min(ENCRYPTED_BLOCK, length - this.size));
    while (this.size < length) {
      const n = Math.min(zeros.length, length - this.size, ENCRYPTED_BLOCK - (this.size % ENCRYPTED_BLOCK));
      await this.writeAt(zeros.subarray(0, n), this.size);
    }
  }
}
