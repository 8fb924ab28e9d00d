/**
 * readdir's attribute HEADs through a native `head` (src/vfs/native-heads.ts): its answer is used
 * when it succeeds, and the store's own HEAD answers when it rejects (transport error, non-200).
 */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import type { ObjectInfo } from "../../src/store/object-store.js";
import { KnownAttributes } from "../../src/vfs/known-attributes.js";
import { BucketNamespace } from "../../src/vfs/bucket-namespace.js";
import { KeyMapper } from "../../src/vfs/paths.js";

describe("readdir with native HEADs", () => {
  it("uses the native answer, and the store's HEAD when the native one fails", async () => {
    const store = new MemoryStore({ minPartSize: 1024 });
    await store.put({ key: "d/native", body: Buffer.from("x"), metadata: { mode: String(0o100640) } });
    await store.put({ key: "d/fallback", body: Buffer.from("y"), metadata: { mode: String(0o100604) } });
    const asked: string[] = [];
    const nativeHead = async (key: string): Promise<ObjectInfo> => {
      asked.push(key);
      if (key === "d/fallback") throw new Error("native HEAD of d/fallback: status 503");
      const info = await store.head({ key });
      return { ...info, metadata: { mode: String(0o100600) } }; // differs from the store: proves which answered
    };
    const namespace = new BucketNamespace(
      store,
      new KeyMapper(""),
      { uid: 1, gid: 1, fileMode: 0o644, dirMode: 0o755, metadataTtlMs: 10_000, negativeTtlMs: 1_000 },
      silentLogger(),
      { statOf: () => undefined, entriesIn: () => [] },
      new KnownAttributes(":memory:"),
      nativeHead,
    );
    const entries = await namespace.list("/d");
    const modes = Object.fromEntries(entries.map((e) => [e.name, (e.stat.mode & 0o777).toString(8)]));
    expect(modes).toEqual({ native: "600", fallback: "604" });
    expect(asked.sort()).toEqual(["d/fallback", "d/native"]);
    namespace.close();
  });
});
