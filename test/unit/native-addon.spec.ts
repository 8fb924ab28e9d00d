/**
 * The libfuse3 addon's pieces that work without a mount: its CRC-32 (PCLMULQDQ folding) against
 * zlib's, and the argument checks of bind/unbind/fill that keep bad input out of C. Mount-level
 * behaviour is tested through real mounts in test/fuse/native-binding.fuse.spec.ts.
 */
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodePath, loadNativeAddon, nativeMountOptions, type NativeAddon } from "../../src/fuse/native-addon.js";

const loaded = loadNativeAddon();
if (loaded instanceof Error)
  throw new Error(`the native addon must be built for these tests (scripts/install-deps.sh): ${loaded.message}`);
const addon: NativeAddon & { crc32(data: Buffer, seed?: number): number } = loaded as NativeAddon & {
  crc32(data: Buffer, seed?: number): number;
};

describe("native CRC-32", () => {
  it("equals zlib's for every length up to 4 KiB, at unaligned offsets, and when chained", () => {
    const data = randomBytes(8192);
    for (let offset = 0; offset < 3; offset++) {
      for (let length = 0; length <= 4096; length++) {
        const slice = data.subarray(offset, offset + length);
        if (addon.crc32(slice) !== crc32(slice)) throw new Error(`mismatch at offset ${offset}, length ${length}`);
      }
    }
    const big = randomBytes(3 * 1024 * 1024 + 5);
    expect(addon.crc32(big)).toBe(crc32(big));
    expect(addon.crc32(big.subarray(1000), addon.crc32(big.subarray(0, 1000)))).toBe(crc32(big));
  });
});

describe("native addon argument checks", () => {
  const none = new Uint32Array(0);
  it("bind refuses a chunk size, index or array mismatch it cannot serve", () => {
    expect(() => addon.bind(901, "/x/y.", 50, 100, 1 << 20, none, none, new Uint8Array(0))).toThrow(
      "chunk size, size or header length out of range",
    );
    expect(() =>
      addon.bind(902, "/x/y.", 50, 4096, 8192, Uint32Array.of(2), Uint32Array.of(0), Uint8Array.of(1)),
    ).toThrow("chunk index out of range");
    expect(() => addon.bind(903, "/x/y.", 50, 4096, 8192, Uint32Array.of(0), none, Uint8Array.of(1))).toThrow(
      "typed arrays of one length",
    );
    expect(addon.unbind(901)).toBeUndefined();
  });

  it("unbind reports served and bad chunks of a bound handle, once", () => {
    addon.bind(
      904,
      "/nonexistent/chunk.",
      50,
      4096,
      3 * 4096,
      Uint32Array.of(0, 2),
      Uint32Array.of(1, 2),
      Uint8Array.of(1, 0),
    );
    const result = addon.unbind(904);
    expect(result && [...result.served]).toEqual([]);
    expect(result && [...result.bad]).toEqual([]);
    expect(addon.unbind(904)).toBeUndefined();
  });

  it("fill refuses chunks that do not tile the range", () => {
    const header = Buffer.alloc(48);
    const chunk = (offset: number, length: number) => ({
      tmp: "/nonexistent/t",
      path: "/nonexistent/p.0",
      header,
      offset,
      length,
    });
    const callback = () => undefined;
    expect(() =>
      addon.fill("http://127.0.0.1:1/b/k", [], 0, 100, [chunk(0, 50), chunk(60, 40)], { timeoutSeconds: 1 }, callback),
    ).toThrow("bad url, headers, range or chunk list");
    expect(() =>
      addon.fill(
        "http://127.0.0.1:1/b/k",
        [],
        0,
        100,
        [{ ...chunk(0, 100), header: Buffer.alloc(8) }],
        { timeoutSeconds: 1 },
        callback,
      ),
    ).toThrow("bad url, headers, range or chunk list");
  });
});

describe("paths and options", () => {
  it("a path that is not UTF-8 is refused, one that is survives (U+FFFD included)", () => {
    expect(decodePath(Buffer.from([0x2f, 0xff]))).toBeUndefined();
    expect(decodePath(Buffer.from([0x2f, 0xfe]))).toBeUndefined();
    expect(decodePath(Buffer.from("/é/\uFFFD", "utf8"))).toBe("/é/\uFFFD");
  });

  it("libfuse 3 drops the options it removed and asks for 1 MiB reads", () => {
    expect(
      nativeMountOptions(
        ["fsname=s3://b", "big_writes", "max_write=131072", "max_read=131072", "nonempty", "auto_cache"],
        1 << 20,
      ),
    ).toEqual(["fsname=s3://b", "auto_cache", "max_read=1048576"]);
  });
});
