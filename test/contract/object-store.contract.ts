/**
 * The ObjectStore contract: one suite, run against every backend (memory on every run, the real
 * S3 server in the integration tier). A fake that drifts from the real service fails here.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { isStoreError } from "../../src/store/errors.js";
import { listAll, type ObjectStore } from "../../src/store/object-store.js";
import { ramp } from "../helpers/ramp.js";

export function describeObjectStoreContract(name: string, makeStore: () => Promise<ObjectStore>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let prefix: string;
    beforeAll(async () => {
      store = await makeStore();
      prefix = `contract-${Date.now()}-${Math.random().toString(36).slice(2, 8)}/`;
    });

    it("puts, heads and gets an object with its metadata", async () => {
      const body = ramp(1000);
      const { etag } = await store.put({
        key: `${prefix}a`,
        body,
        metadata: { mode: "33188", mtime: "1700000000" },
        contentType: "text/plain",
      });
      const info = await store.head({ key: `${prefix}a` });
      expect(info.size).toBe(1000);
      expect(info.etag).toBe(etag);
      expect(info.metadata).toMatchObject({ mode: "33188", mtime: "1700000000" });
      expect(info.contentType).toBe("text/plain");
      expect(Buffer.compare(await store.get({ key: `${prefix}a` }), body)).toBe(0);
    });

    it("serves byte ranges, clamped at the end of the object", async () => {
      await store.put({ key: `${prefix}r`, body: ramp(1000) });
      expect(await store.get({ key: `${prefix}r`, range: { start: 100, end: 200 } })).toEqual(
        ramp(1000).subarray(100, 200),
      );
      expect(await store.get({ key: `${prefix}r`, range: { start: 900, end: 5000 } })).toEqual(
        ramp(1000).subarray(900),
      );
    });

    it("rejects a missing key with NotFound on head and get; delete of a missing key succeeds", async () => {
      await expect(store.head({ key: `${prefix}missing` })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
      await expect(store.get({ key: `${prefix}missing` })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
      await expect(store.delete({ key: `${prefix}missing` })).resolves.toBeUndefined();
    });

    it("rejects a get pinned to an old ETag with PreconditionFailed", async () => {
      const first = await store.put({ key: `${prefix}p`, body: Buffer.from("one") });
      await store.put({ key: `${prefix}p`, body: Buffer.from("two!") });
      await expect(store.get({ key: `${prefix}p`, ifMatch: first.etag })).rejects.toSatisfy((e) =>
        isStoreError(e, "PreconditionFailed"),
      );
    });

    it("lists with a delimiter: objects and common prefixes, paginated, in key order", async () => {
      const dir = `${prefix}list/`;
      const names = ["a", "b/1", "b/2", "c", "d/", "e/x/y", "f"];
      for (const n of names) await store.put({ key: dir + n, body: Buffer.from(n) });
      const objects: string[] = [];
      const prefixes: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ prefix: dir, delimiter: "/", maxKeys: 2, token });
        expect(page.objects.length + page.prefixes.length).toBeLessThanOrEqual(2);
        objects.push(...page.objects.map((o) => o.key.slice(dir.length)));
        prefixes.push(...page.prefixes.map((p) => p.slice(dir.length)));
        token = page.nextToken;
        pages++;
      } while (token);
      expect(objects).toEqual(["a", "c", "f"]);
      expect(prefixes).toEqual(["b/", "d/", "e/"]);
      expect(pages).toBeGreaterThanOrEqual(3);
    });

    it("lists everything under a prefix without a delimiter", async () => {
      const dir = `${prefix}deep/`;
      for (let i = 0; i < 5; i++) await store.put({ key: `${dir}${i}/f`, body: Buffer.alloc(i) });
      const keys: string[] = [];
      for await (const o of listAll(store, dir)) keys.push(o.key.slice(dir.length));
      expect(keys).toEqual(["0/f", "1/f", "2/f", "3/f", "4/f"]);
    });

    it("copies an object server-side, keeping or replacing metadata", async () => {
      await store.put({ key: `${prefix}src`, body: ramp(300), metadata: { mode: "33188" } });
      await store.copy({ sourceKey: `${prefix}src`, key: `${prefix}kept` });
      expect((await store.head({ key: `${prefix}kept` })).metadata).toMatchObject({ mode: "33188" });
      await store.copy({ sourceKey: `${prefix}src`, key: `${prefix}src`, metadata: { mode: "33152" } });
      const replaced = await store.head({ key: `${prefix}src` });
      expect(replaced.metadata.mode).toBe("33152");
      expect(await store.get({ key: `${prefix}src` })).toEqual(ramp(300));
    });

    it("completes a multipart upload from uploaded and server-copied parts, in any order", async () => {
      const part = store.capabilities.minPartSize;
      const source = ramp(part * 2 + 10);
      await store.put({ key: `${prefix}mp-src`, body: source });
      const key = `${prefix}mp`;
      const { uploadId } = await store.createMultipart({ key, metadata: { mode: "33188" } });
      const tail = Buffer.from("tail-bytes");
      const p3 = await store.uploadPart({ key, uploadId, partNumber: 3, body: tail });
      const p1 = await store.uploadPart({ key, uploadId, partNumber: 1, body: source.subarray(0, part) });
      const p2 = await store.copyPart({
        key,
        uploadId,
        partNumber: 2,
        sourceKey: `${prefix}mp-src`,
        sourceRange: { start: part, end: 2 * part },
      });
      await store.completeMultipart({ key, uploadId, parts: [p1, p2, p3] });
      const expected = Buffer.concat([source.subarray(0, 2 * part), tail]);
      const info = await store.head({ key });
      expect(info.size).toBe(expected.length);
      expect(info.metadata.mode).toBe("33188");
      expect(Buffer.compare(await store.get({ key }), expected)).toBe(0);
    });

    it("keeps no reference to a part's body once uploadPart settles (callers reuse buffers)", async () => {
      const part = store.capabilities.minPartSize;
      const key = `${prefix}reused`;
      const { uploadId } = await store.createMultipart({ key });
      const buffer = Buffer.from(ramp(part + 1000, 4));
      // Part 2 first: a store that sends parts in order holds it back, and must copy it to do so.
      const p2 = await store.uploadPart({ key, uploadId, partNumber: 2, body: buffer.subarray(part) });
      const p1 = await store.uploadPart({ key, uploadId, partNumber: 1, body: buffer.subarray(0, part) });
      const expected = Buffer.from(buffer);
      buffer.fill(0);
      await store.completeMultipart({ key, uploadId, parts: [p1, p2] });
      expect(Buffer.compare(await store.get({ key }), expected)).toBe(0);
    });

    it("aborts a multipart upload: its parts are gone, so it can no longer be completed", async () => {
      const key = `${prefix}aborted`;
      const { uploadId } = await store.createMultipart({ key });
      const part = await store.uploadPart({ key, uploadId, partNumber: 1, body: Buffer.from("x") });
      await store.abortMultipart({ key, uploadId });
      // An abort that did nothing would let this complete (and bill the parts meanwhile). S3
      // answers NoSuchUpload, RGW pacific a 500: either way a StoreError, and no object.
      await expect(store.completeMultipart({ key, uploadId, parts: [part] })).rejects.toSatisfy((e) => isStoreError(e));
      await expect(store.head({ key })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
    });

    it("deletes objects", async () => {
      await store.put({ key: `${prefix}gone`, body: Buffer.from("x") });
      await store.delete({ key: `${prefix}gone` });
      await expect(store.head({ key: `${prefix}gone` })).rejects.toSatisfy((e) => isStoreError(e, "NotFound"));
    });

    it("keeps keys with spaces, plus signs, percent signs and unicode", async () => {
      const key = `${prefix}odd name+%&=ü😀.txt`;
      await store.put({ key, body: Buffer.from("odd") });
      await store.copy({ sourceKey: key, key: `${key}.copy` });
      expect((await store.get({ key: `${key}.copy` })).toString()).toBe("odd");
      const page = await store.list({ prefix: `${prefix}odd`, delimiter: "/" });
      expect(page.objects.map((o) => o.key)).toEqual([key, `${key}.copy`]);
    });

    it("passes checkAccess for an existing bucket", async () => {
      await expect(store.checkAccess()).resolves.toBeUndefined();
    });
  });
}
