/**
 * Typed wrapper over the fuse-native addon (libfuse 2, high-level path API, multi-threaded loop),
 * the fallback binding; and `createSession`, which picks it or the libfuse3 addon (native-binding.ts).
 *
 * Invariants of the addon that callers rely on:
 * - every op runs on the Node event loop; a FUSE thread blocks until its callback is called, so
 *   every callback must be called exactly once;
 * - file handles are uint32 and 0 means "none", so handle numbers start at 1;
 * - the read buffer is libfuse's memory: copy into it before calling back, never keep it;
 * - fuse-native's own per-op timeout (15 s) is disabled: uploads on close can take longer, and
 *   the store's own timeouts and retries bound every request.
 * - fuse-native builds its -o string from a fixed list; bucketfs overrides `_fuseOptions` to pass
 *   its own, complete list (big_writes, max_read, user options, …);
 * - open and create answer the handle and a page-cache code (keep / drop / bypass), which the
 *   patched build (native/patch-fuse-native.cjs) turns into keep_cache / direct_io; upstream's
 *   JavaScript passes on only the handle, so `_op_open` / `_op_create` are overridden here.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import Fuse from "fuse-native";
import { loadNativeAddon, type NativeAddon, type NativeStats, type ReadAccelerator } from "./native-addon.js";
import { NativeFuseSession } from "./native-binding.js";

const run = promisify(execFile);

export type FuseOps = Record<string, (...args: never[]) => void>;

class ConfigurableFuse extends Fuse {
  constructor(
    mountpoint: string,
    ops: FuseOps,
    private readonly optionList: string[],
  ) {
    super(mountpoint, ops as unknown as Record<string, (...args: unknown[]) => void>, { timeout: false });
  }

  override _fuseOptions(): string {
    return this.optionList.length > 0 ? `-o${this.optionList.join(",")}` : "";
  }

  _op_open(signal: Signal, path: string, flags: number): void {
    this.ops.open(path, flags, (err: number, fh: number, cache?: number) => signal(err, fh, cache));
  }

  _op_create(signal: Signal, path: string, mode: number): void {
    this.ops.create(path, mode, (err: number, fh: number, cache?: number) => signal(err, fh, cache));
  }
}

type Signal = (err: number, ...values: unknown[]) => void;

/** What the daemon needs of either binding. */
export interface MountSession {
  readonly binding: "native" | "fuse-native";
  mount(): Promise<void>;
  /** Reads served without JavaScript (native binding only). */
  nativeStats?(): NativeStats;
}

export class FuseSession implements MountSession {
  readonly binding = "fuse-native";
  private readonly fuse: ConfigurableFuse;

  constructor(
    readonly mountpoint: string,
    ops: FuseOps,
    options: string[],
  ) {
    this.fuse = new ConfigurableFuse(mountpoint, ops, options);
  }

  mount(): Promise<void> {
    return new Promise((resolve, reject) => this.fuse.mount((err) => (err ? reject(err) : resolve())));
  }
}

/** The binding a mount will use, decided before the read path is built (it shapes it). */
export type ResolvedBinding = { kind: "native"; addon: NativeAddon } | { kind: "fuse-native" };

/** "auto" takes the libfuse3 addon when it loads, else fuse-native; `native` fails clearly without it. */
export function resolveBinding(choice: string, warn?: (message: string) => void): ResolvedBinding {
  if (choice !== "auto" && choice !== "native" && choice !== "fuse-native") {
    throw new Error(`--fuse-binding must be auto, native or fuse-native (got "${choice}")`);
  }
  if (choice === "fuse-native") return { kind: "fuse-native" };
  const addon = loadNativeAddon();
  if (!(addon instanceof Error)) return { kind: "native", addon };
  const reason = addon.message.split("\n")[0];
  if (choice === "native")
    throw new Error(
      `the native FUSE binding is not built (${reason}); run scripts/install-deps.sh, or use --fuse-binding fuse-native`,
    );
  warn?.(`native FUSE binding unavailable, using fuse-native: ${reason}`);
  return { kind: "fuse-native" };
}

export function createSession(
  mountpoint: string,
  ops: FuseOps,
  options: string[],
  binding: ResolvedBinding,
  extras: { accelerator?: ReadAccelerator; observe?: (op: string, durationMs: number, errno: number) => void } = {},
): MountSession {
  if (binding.kind === "fuse-native") return new FuseSession(mountpoint, ops, options);
  const session = new NativeFuseSession(mountpoint, ops, options, binding.addon, extras);
  return { binding: "native", mount: () => session.mount(), nativeStats: () => session.stats() };
}

/** Unmounts a FUSE mountpoint: fusermount3 works for the mount's owner, umount for root. */
export async function unmountPath(mountpoint: string, lazy = false): Promise<void> {
  const attempts: [string, string[]][] = [
    ["fusermount3", ["-u", ...(lazy ? ["-z"] : []), mountpoint]],
    ["fusermount", ["-u", ...(lazy ? ["-z"] : []), mountpoint]],
    ["umount", [...(lazy ? ["-l"] : []), mountpoint]],
  ];
  let lastError: unknown;
  for (const [command, args] of attempts) {
    try {
      await run(command, args);
      return;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
