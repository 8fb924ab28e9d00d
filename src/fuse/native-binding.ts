/**
 * The libfuse3 binding (native/, our own N-API addon): 1 MiB requests, a multi-threaded loop,
 * the caller's uid/gid/pid, raw path bytes, and reads of cached chunks answered on the FUSE
 * worker thread without entering JavaScript.
 *
 * This file turns the addon's calls into the same op table the fuse-native binding drives
 * (src/fuse/adapter.ts), so the adapter serves both. Paths arrive as bytes; a name that is not
 * valid UTF-8 is refused with EILSEQ, because the object key it would map to is UTF-8 and two
 * different byte strings must never alias one key.
 */
import { constants } from "node:os";
import { runAs, type Caller } from "../vfs/caller.js";
import { TIME_OMIT } from "../vfs/tree-operations.js";
import type { FuseOps } from "./binding.js";
import {
  decodePath,
  nativeMountOptions,
  raiseReadAhead,
  type NativeAddon,
  type NativeStats,
  type ReadAccelerator,
} from "./native-addon.js";

const EILSEQ = constants.errno.EILSEQ ?? 84;
const EINVAL = constants.errno.EINVAL;

/** Operation codes; the order matches `enum bfs_op` in native/src/bucketfs_fuse.h. */
const OP_NAMES = [
  "getattr",
  "readdir",
  "open",
  "create",
  "read",
  "write",
  "flush",
  "release",
  "fsync",
  "truncate",
  "unlink",
  "rmdir",
  "mkdir",
  "mknod",
  "rename",
  "symlink",
  "link",
  "readlink",
  "chmod",
  "chown",
  "utimens",
  "statfs",
  "getxattr",
  "listxattr",
  "fallocate",
] as const;
type OpName = (typeof OP_NAMES)[number];

export type { Caller };

type Reply = (code: number, ...values: unknown[]) => void;

export class NativeFuseSession {
  private readonly boundPaths = new Map<number, string>();
  private exitListeners: ((code: number) => void)[] = [];
  private readAheadRaised = false;

  constructor(
    readonly mountpoint: string,
    private readonly ops: FuseOps,
    private readonly options: string[],
    private readonly addon: NativeAddon,
    private readonly hooks: {
      accelerator?: ReadAccelerator;
      /** READs answered by filling the cache (op "read-fill"), beside the adapter's own counts. */
      observe?: (op: string, durationMs: number, errno: number) => void;
    } = {},
  ) {}

  mount(): Promise<void> {
    const handler = (...args: unknown[]): void => this.dispatch(args);
    // Reads served natively report their progress at a handle's notify point: read-ahead goes on.
    this.addon.onProgress((fh, offset) => {
      if (this.boundPaths.has(fh)) this.addon.notifyAt(fh, this.hooks.accelerator?.readAheadPoint(fh, offset) ?? -1);
    });
    // Read-ahead that lands is handed to the open files reading it, so their READs stay native.
    this.hooks.accelerator?.onFilled((version, start, end) => {
      for (const [fh, path] of this.boundPaths)
        if (this.hooks.accelerator?.reads(fh, version)) this.bind(fh, path, { start, end });
    });
    const xattrs = typeof this.ops.getxattr === "function";
    this.addon.mount(
      this.mountpoint,
      nativeMountOptions(this.options, this.addon.maxIo),
      { maxThreads: FUSE_THREADS, xattrs },
      handler,
      (code) => {
        for (const listener of this.exitListeners) listener(code);
      },
    );
    return Promise.resolve();
  }

  /** Called when the FUSE loop ends (unmounted from outside, or closed). */
  onExit(listener: (code: number) => void): void {
    this.exitListeners.push(listener);
  }

  stats(): NativeStats {
    return this.addon.stats();
  }

  close(): void {
    this.addon.close();
  }

  private dispatch(args: unknown[]): void {
    // The kernel resets the readahead window when it processes INIT, which happens after mount
    // returns; the first request proves INIT is done.
    if (!this.readAheadRaised) this.readAheadRaised = raiseReadAhead(this.mountpoint) || true;
    const [op, slot, generation, uid, gid, pid, umask, rawPath, ...rest] = args as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      Buffer,
      ...unknown[],
    ];
    const name = OP_NAMES[op];
    const reply = (code: number, value?: unknown, value2?: unknown): void =>
      this.addon.reply(slot, generation, code, value, value2);
    const path = decodePath(rawPath);
    if (path === undefined || name === undefined) return reply(-(name === undefined ? EINVAL : EILSEQ));
    const run = (): void => this.call(name, path, rest, reply);
    // Every layer below can ask who this is (vfs/caller.ts): the audit log, owners of new files.
    runAs({ uid, gid, pid, umask }, run);
  }

  private call(
    name: OpName,
    path: string,
    a: unknown[],
    reply: (code: number, v?: unknown, v2?: unknown) => void,
  ): void {
    const ops = this.ops as Record<string, (...args: unknown[]) => void>;
    const plain: Reply = (code) => reply(code);
    switch (name) {
      case "getattr":
        return ops.getattr(path, (code: number, st?: FuseStatLike) => reply(code, st && statArray(st)));
      case "readdir":
        return ops.readdir(path, (code: number, names?: string[], stats?: FuseStatLike[]) =>
          reply(code, names, stats?.map(statArray)),
        );
      case "open":
        return this.open(path, a[0] as number, reply);
      case "create":
        this.invalidate(path);
        return ops.create(path, a[0], (code: number, fh?: number, cache?: number) => reply(code, fh, cache));
      case "read":
        return this.read(path, a, reply);
      case "write":
        return ops.write(path, a[0], a[1], a[2], a[3], plain);
      case "flush":
        return ops.flush(path, a[0], plain);
      case "release":
        return this.release(path, a[0] as number, plain);
      case "fsync":
        return ops.fsync(path, a[1], a[0], plain);
      case "truncate":
        this.invalidate(path);
        return (a[1] as number) >= 0 ? ops.ftruncate(path, a[1], a[0], plain) : ops.truncate(path, a[0], plain);
      case "unlink":
      case "rmdir":
        this.invalidate(path);
        return ops[name](path, plain);
      case "mkdir":
      case "chmod":
        return ops[name](path, a[0], plain);
      case "mknod":
        return ops.mknod(path, a[0], a[1], plain);
      case "rename":
        return this.rename(path, a[0] as Buffer, a[1] as number, reply);
      case "symlink":
      case "link": {
        const other = decodePath(a[0] as Buffer);
        return other === undefined ? reply(-EILSEQ) : ops[name](other, path, plain);
      }
      case "readlink":
        return ops.readlink(path, (code: number, target?: string) => reply(code, target));
      case "chown":
        return ops.chown(path, a[0], a[1], plain);
      case "utimens":
        return ops.utimens(path, omitted(a[0] as number), omitted(a[1] as number), plain);
      case "statfs":
        return ops.statfs(path, (code: number, s?: Record<string, number>) => reply(code, s && statfsArray(s)));
      case "getxattr":
        return ops.getxattr(path, a[0], 0, (code: number, value?: Buffer) => reply(code, value));
      case "listxattr":
        return ops.listxattr(path, (code: number, names?: string[]) => reply(code, names));
      case "fallocate":
        return ops.fallocate(path, a[0], a[1], a[2], a[3], plain);
    }
  }

  /**
   * A READ the addon could not serve from the cache. With a disk cache, JavaScript fills the
   * range (reading ahead as it goes), binds the chunks now present, and answers "retry from the
   * cache"; the bytes never come here. Otherwise (or when asked for bytes) it reads as always.
   */
  private read(path: string, a: unknown[], reply: (code: number, v?: unknown) => void): void {
    const [fh, buffer, size, offset, mustBytes] = a as [number, Buffer, number, number, boolean];
    const ops = this.ops as Record<string, (...args: unknown[]) => void>;
    const readBytes = (): void => ops.read(path, fh, buffer, size, offset, (code: number) => reply(code));
    const accelerator = this.hooks.accelerator;
    if (mustBytes || !accelerator) return readBytes();
    const started = performance.now();
    // Bound first (even with no chunk yet), so the transfers this READ starts are known to the
    // addon and the READs behind it wait for them natively instead of coming here.
    if (!this.boundPaths.has(fh)) this.bind(fh, path, { start: offset, end: offset }, true);
    accelerator.prepare(fh, offset, size).then((cached) => {
      if (!cached) return readBytes();
      this.bind(fh, path, { start: offset, end: offset + BIND_AHEAD });
      this.addon.notifyAt(fh, accelerator.readAheadPoint(fh, -1));
      this.hooks.observe?.("read-fill", performance.now() - started, 0);
      reply(0, true);
    }, readBytes);
  }

  /** A read-only open binds the handle to its cached chunks, so the addon can serve them. */
  private open(path: string, flags: number, reply: (code: number, v?: unknown, v2?: unknown) => void): void {
    const writing = (flags & 3) !== 0;
    if (writing) this.invalidate(path);
    (this.ops.open as (...args: unknown[]) => void)(path, flags, (code: number, fh?: number, cache?: number) => {
      if (code === 0 && fh !== undefined && !writing) this.bind(fh, path);
      reply(code, fh, cache);
    });
  }

  private bind(fh: number, path: string, bytes?: { start: number; end: number }, evenEmpty = false): void {
    const chunks = this.hooks.accelerator?.cachedChunks(fh, bytes);
    if (!chunks || (chunks.indexes.length === 0 && !evenEmpty)) return;
    this.addon.bind(
      fh,
      chunks.base,
      chunks.headerLength,
      chunks.chunkSize,
      chunks.size,
      chunks.indexes,
      chunks.crcs,
      chunks.verified,
    );
    this.boundPaths.set(fh, path);
  }

  private unbind(fh: number): void {
    if (!this.boundPaths.delete(fh)) return;
    const result = this.addon.unbind(fh);
    if (result) this.hooks.accelerator?.report(fh, result.served, result.bad);
  }

  private release(path: string, fh: number, reply: Reply): void {
    this.unbind(fh);
    (this.ops.release as (...args: unknown[]) => void)(path, fh, reply);
  }

  /**
   * A path about to change (written, truncated, renamed, removed) stops being served from the
   * cache: JavaScript then answers its reads, from the local changes where there are any.
   */
  private invalidate(path: string): void {
    for (const [fh, bound] of this.boundPaths) if (bound === path || bound.startsWith(`${path}/`)) this.unbind(fh);
  }

  /** RENAME_NOREPLACE is answered EEXIST when the target exists; RENAME_EXCHANGE is not supported. */
  private rename(from: string, rawTo: Buffer, flags: number, reply: (code: number) => void): void {
    const to = decodePath(rawTo);
    if (to === undefined) return reply(-EILSEQ);
    const ops = this.ops as Record<string, (...args: unknown[]) => void>;
    const NOREPLACE = 1;
    if (flags & ~NOREPLACE) return reply(-EINVAL);
    this.invalidate(from);
    this.invalidate(to);
    if (!(flags & NOREPLACE)) return ops.rename(from, to, reply);
    ops.getattr(to, (code: number) => (code === 0 ? reply(-constants.errno.EEXIST) : ops.rename(from, to, reply)));
  }
}

interface FuseStatLike {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  nlink: number;
  blksize: number;
  rdev?: number;
}

/** The addon's stat layout: [mode, uid, gid, size, atimeMs, mtimeMs, ctimeMs, nlink, blksize, rdev]. */
function statArray(s: FuseStatLike): number[] {
  return [s.mode, s.uid, s.gid, s.size, s.atime, s.mtime, s.ctime, s.nlink, s.blksize, s.rdev ?? 0];
}

function statfsArray(s: Record<string, number>): number[] {
  return [s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax];
}

/** The addon marks UTIME_OMIT as -1; the adapter's sentinel is any value ≥ TIME_OMIT. */
function omitted(ms: number): number {
  return ms < 0 ? TIME_OMIT : ms;
}

/** After a fill, chunks this far past the READ are bound too: the read-ahead the fill started. */
const BIND_AHEAD = 64 * 1024 * 1024;

/**
 * FUSE worker threads. Each READ holds a 1 MiB buffer while it is served, so threads are memory;
 * 10 keep the kernel's 16 MiB readahead busy (measured: 16 threads moved no more bytes and
 * peaked about 6 MiB higher).
 */
const FUSE_THREADS = 10;
