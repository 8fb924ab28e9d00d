/**
 * Resources: what a Mount holds open is closed last-opened first, a failing close does not stop
 * the others, and a close that runs long is named in the log while it runs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Resources } from "../../src/mount/resources.js";

function recordingLogger() {
  const lines: { level: "warn" | "error"; fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn: (fields: Record<string, unknown>, msg: string) => void lines.push({ level: "warn", fields, msg }),
    error: (fields: Record<string, unknown>, msg: string) => void lines.push({ level: "error", fields, msg }),
  };
}

describe("Resources", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("closes last opened first, logs a failing close and still closes the rest", async () => {
    const log = recordingLogger();
    const resources = new Resources(log as never);
    const order: string[] = [];
    resources.add("first", 1, () => void order.push("first"));
    resources.add("second", 2, () => {
      throw new Error("disk gone");
    });
    resources.add("third", 3, async () => void order.push("third"));
    expect(await resources.closeAll()).toEqual(["third", "first"]);
    expect(order).toEqual(["third", "first"]);
    expect(log.lines).toEqual([
      {
        level: "error",
        fields: { err: new Error("disk gone"), resource: "second" },
        msg: "closing a mount resource failed",
      },
    ]);
    expect(await resources.closeAll()).toEqual([]);
  });

  it("names a close that runs past the threshold, every threshold, until it ends", async () => {
    const log = recordingLogger();
    const resources = new Resources(log as never, 1_000);
    let finish!: () => void;
    resources.add("read cache", 0, () => new Promise<void>((resolve) => (finish = resolve)));
    const closing = resources.closeAll();
    await vi.advanceTimersByTimeAsync(999);
    expect(log.lines).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_001);
    expect(log.lines.map((l) => [l.level, l.msg, l.fields.resource, l.fields.waitedMs])).toEqual([
      ["warn", "still closing", "read cache", 1_000],
      ["warn", "still closing", "read cache", 2_000],
    ]);
    finish();
    expect(await closing).toEqual(["read cache"]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(log.lines).toHaveLength(2);
  });
});
