/**
 * Picks the FUSE binding and opens a session on it: the libfuse3 addon (native-binding.ts), or
 * fuse-native (libfuse 2, fuse-native-session.ts) as the fallback, which is loaded only when a
 * mount uses it. Also `unmountPath`, shared by the daemon and `bucketfs unmount`.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { loadNativeAddon, type NativeAddon, type NativeStats, type ReadAccelerator } from "./native-addon.js";
import { NativeFuseSession } from "./native-binding.js";

const run = promisify(execFile);

export type FuseOps = Record<string, (...args: never[]) => void>;

/** What the daemon needs of either binding. */
export interface MountSession {
  readonly binding: "native" | "fuse-native";
  mount(): Promise<void>;
  /** Reads served without JavaScript (native binding only). */
  nativeStats?(): NativeStats;
}

/** The binding a mount will use, decided before the read path is built (it shapes it). */
export type ResolvedBinding =
  | { kind: "native"; addon: NativeAddon }
  | { kind: "fuse-native"; Session: typeof import("./fuse-native-session.js").FuseSession };

/** "auto" takes the libfuse3 addon when it loads, else fuse-native; `native` fails clearly without it. */
export async function resolveBinding(choice: string, warn?: (message: string) => void): Promise<ResolvedBinding> {
  if (choice !== "auto" && choice !== "native" && choice !== "fuse-native") {
    throw new Error(`--fuse-binding must be auto, native or fuse-native (got "${choice}")`);
  }
  if (choice === "fuse-native") return fuseNative();
  const addon = loadNativeAddon();
  if (!(addon instanceof Error)) return { kind: "native", addon };
  const reason = addon.message.split("\n")[0];
  if (choice === "native")
    throw new Error(
      `the native FUSE binding is not built (${reason}); run scripts/install-deps.sh, or use --fuse-binding fuse-native`,
    );
  warn?.(`native FUSE binding unavailable, using fuse-native: ${reason}`);
  return fuseNative();
}

async function fuseNative(): Promise<ResolvedBinding> {
  const { FuseSession } = await import("./fuse-native-session.js");
  return { kind: "fuse-native", Session: FuseSession };
}

export function createSession(
  mountpoint: string,
  ops: FuseOps,
  options: string[],
  binding: ResolvedBinding,
  extras: { accelerator?: ReadAccelerator; observe?: (op: string, durationMs: number, errno: number) => void } = {},
): MountSession {
  if (binding.kind === "fuse-native") return new binding.Session(mountpoint, ops, options);
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
