/**
 * Typed wrapper over the fuse-native addon (libfuse 2, high-level path API, multi-threaded loop),
 * the fallback binding. binding.ts imports this file only when a mount uses it, so a mount on the
 * libfuse3 addon (and `bucketfs unmount`) never loads libfuse 2.
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
import Fuse from "fuse-native";
import type { FuseOps, MountSession } from "./binding.js";

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
