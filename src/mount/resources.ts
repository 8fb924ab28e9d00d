/**
 * What a Mount holds open, closed in the reverse order of opening (what was opened last depends
 * on what was opened before it). Opening registers each resource as soon as it exists, so a mount
 * that fails half-way closes exactly what it had opened. A close that fails is logged and the
 * others still close. A close that takes long is named in the log while it runs, so an unmount
 * that seems stuck says where it waits.
 */
import type { Logger } from "../log/logger.js";

/** After this long, a close still running is reported (it is not abandoned: it may be flushing data). */
export const SLOW_CLOSE_MS = 10_000;

export class Resources {
  private readonly open: { name: string; close: () => void | Promise<void> }[] = [];

  constructor(
    readonly logger: Logger,
    private readonly slowCloseMs = SLOW_CLOSE_MS,
  ) {}

  /** Registers `value` (already open) and returns it. */
  add<T>(name: string, value: T, close: (value: T) => void | Promise<void>): T {
    this.open.push({ name, close: () => close(value) });
    return value;
  }

  /** Closes everything, last opened first; returns the names closed, in order. Idempotent. */
  async closeAll(): Promise<string[]> {
    const closed: string[] = [];
    for (let resource = this.open.pop(); resource; resource = this.open.pop()) {
      const started = Date.now();
      const slow = setInterval(
        () => this.logger.warn({ resource: resource!.name, waitedMs: Date.now() - started }, "still closing"),
        this.slowCloseMs,
      );
      slow.unref();
      try {
        await resource.close();
        closed.push(resource.name);
      } catch (err) {
        this.logger.error({ err, resource: resource.name }, "closing a mount resource failed");
      } finally {
        clearInterval(slow);
      }
    }
    return closed;
  }
}
