/**
 * The native addon (native/, libfuse3 over N-API) as JavaScript sees it: its interface, how it
 * is loaded, and the mount-level helpers around it (libfuse3's options, path bytes, the kernel's
 * readahead for the mount). native-binding.ts drives a session over it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import type { CachedChunks } from "../cache/chunk-cache.js";
import type { NativeFill } from "../read/native-fill.js";
import type { NativeHead } from "../vfs/native-heads.js";

export interface NativeStats {
  /** READs answered from chunk files without JavaScript, and their bytes. */
  reads: number;
  bytes: number;
  verified: number;
  bad: number;
  fallbacks: number;
}

export interface NativeAddon {
  mount(
    mountpoint: string,
    options: string[],
    config: { maxThreads: number; xattrs: boolean },
    handler: (...args: unknown[]) => void,
    onExit: (code: number) => void,
  ): void;
  close(): void;
  reply(slot: number, generation: number, code: number, value?: unknown, value2?: unknown): void;
  bind(
    fh: number,
    base: string,
    headerLength: number,
    chunkSize: number,
    size: number,
    indexes: Uint32Array,
    crcs: Uint32Array,
    verified: Uint8Array,
  ): void;
  unbind(fh: number): { served: Uint32Array; bad: Uint32Array } | undefined;
  stats(): NativeStats;
  /** Ranged GETs written straight into chunk files (native/src/fetch.c). */
  fill: NativeFill;
  /** HEADs sent from native threads (native/src/head.c). */
  head: NativeHead;
  /** Registers the callback for READs that reached a handle's notify point (read-ahead). */
  onProgress(callback: (fh: number, offset: number) => void): void;
  notifyAt(fh: number, offset: number): void;
  readonly maxIo: number;
}

/** Lets reads of cached chunks bypass JavaScript; implemented over the chunk cache (src/read). */
export interface ReadAccelerator {
  /** The cached chunks of the object version open read-only under `fh` (those a byte range touches). */
  cachedChunks(fh: number, bytes?: { start: number; end: number }): CachedChunks | undefined;
  /** Puts a READ's range into the cache (and reads ahead); false: JavaScript answers it. */
  prepare(fh: number, offset: number, length: number): Promise<boolean>;
  /** Native READs reached `reached` (-1: none): extends read-ahead; where to report next (-1: nowhere). */
  readAheadPoint(fh: number, reached: number): number;
  /** Whether `fh` reads this version (to hand it chunks filled for the version). */
  reads(fh: number, version: { key: string; etag: string }): boolean;
  /** Byte ranges the native filler has just put into the cache (read-ahead landing). */
  onFilled(listener: (version: { key: string; etag: string }, start: number, end: number) => void): void;
  /** After close: chunks the addon served (LRU touch) and chunks whose check failed (drop). */
  report(fh: number, served: Uint32Array, bad: Uint32Array): void;
}

const ADDON_PATH = resolve(import.meta.dirname, "../../native/build/Release/bucketfs_fuse.node");

/** The addon, or the reason it cannot be used (not built, libfuse3 missing). */
export function loadNativeAddon(): NativeAddon | Error {
  try {
    return createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** fuse-native's option list, adjusted for libfuse3 (which rejects options it dropped). */
export function nativeMountOptions(options: string[], maxIo: number): string[] {
  const dropped = /^(big_writes|nonempty|max_write=.*|max_read=.*)$/;
  return [...options.filter((o) => !dropped.test(o)), `max_read=${maxIo}`];
}

/** UTF-8 path bytes as a string, or undefined when they are not valid UTF-8. */
export function decodePath(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  const text = raw.toString("utf8");
  // U+FFFD appears when decoding replaced bytes; a name may also contain it legitimately.
  if (text.includes("\uFFFD") && !Buffer.from(text, "utf8").equals(raw)) return undefined;
  return text;
}

/**
 * Sequential READs are as large as the kernel's readahead window (128 KiB by default), so 1 MiB
 * requests need a larger one. The bdi of a FUSE mount is `0:<minor>` of its device; only root
 * may write it. Read from /proc/self/mountinfo, never by stat-ing our own mount.
 */
export function raiseReadAhead(mountpoint: string, kib = READ_AHEAD_KIB): boolean {
  try {
    const line = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((l) => unescapeMount(l.split(" ")[4] ?? "") === mountpoint);
    const device = line?.split(" ")[2];
    if (!device?.startsWith("0:")) return false;
    writeFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, String(kib));
    return true;
  } catch {
    return false; // not root: the kernel's default readahead applies
  }
}

/** 16 MiB: sixteen 1 MiB READs in flight, enough to hide a ranged GET's first-byte latency. */
const READ_AHEAD_KIB = 16 * 1024;

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
