// Minimal typing of the parts of fuse-native bucketfs uses (the package ships no types).
declare module "fuse-native" {
  type Callback = (...args: unknown[]) => void;
  class Fuse {
    constructor(mountpoint: string, ops: Record<string, Callback>, options?: Record<string, unknown>);
    mnt: string;
    /** The op table given to the constructor. */
    ops: Record<string, Callback>;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    _fuseOptions(): string;
  }
  export = Fuse;
}
