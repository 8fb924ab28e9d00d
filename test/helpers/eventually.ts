/**
 * Waiting for a condition without guessing how long it takes: polls `check` until it returns
 * something other than undefined, or fails after a deadline generous enough for a loaded 2-core
 * machine. Use it where a test waits for something the code under test does on its own time
 * (a TTL expiring, a daemon reaching a state), never a fixed sleep.
 */
export interface EventuallyOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** Between checks (default 25 ms). */
  intervalMs?: number;
}

export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves once `check` returns true (see eventually). */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: EventuallyOptions = {},
): Promise<void> {
  await eventually(what, async () => ((await check()) ? true : undefined), options);
}
