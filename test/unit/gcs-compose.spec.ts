/** The pure half of GCS multipart: upload ids that carry their metadata, and the compose tree. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isStoreError } from "../../src/store/errors.js";
import {
  composeTree,
  decodeUploadId,
  encodeUploadId,
  MAX_COMPOSE_SOURCES,
  newUploadToken,
  partKey,
  PARTS_PREFIX,
  type ComposeSource,
} from "../../src/store/gcs/gcs-compose.js";

describe("GCS upload ids", () => {
  it("round-trip the destination metadata, so completing needs no state (and survives a restart)", () => {
    const token = newUploadToken({ mode: "33188", mtime: "1700000000.5" }, "text/plain");
    expect(decodeUploadId(encodeUploadId(token), "k")).toEqual(token);
  });

  it("reject ids this store did not issue with NotFound, like S3's NoSuchUpload", () => {
    expect(() => decodeUploadId("not-base64-json", "k")).toThrow();
    try {
      decodeUploadId(Buffer.from(JSON.stringify({ id: "../escape" })).toString("base64url"), "k");
      expect.unreachable();
    } catch (err) {
      expect(isStoreError(err, "NotFound")).toBe(true);
    }
  });

  it("name parts under the hidden prefix, in part order", () => {
    const token = newUploadToken();
    const keys = [10, 2, 1].map((n) => partKey(token, n));
    expect(keys.every((k) => k.startsWith(PARTS_PREFIX))).toBe(true);
    expect([...keys].sort()).toEqual([partKey(token, 1), partKey(token, 2), partKey(token, 10)]);
  });
});

describe("composeTree", () => {
  it("joins any number of parts in order with at most 32 sources per compose", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), async (count) => {
        const contents = new Map<string, string[]>(); // object name -> the part names it holds, in order
        const parts: ComposeSource[] = Array.from({ length: count }, (_, i) => {
          contents.set(`p${i}`, [`p${i}`]);
          return { name: `p${i}`, generation: "1" };
        });
        const join = (sources: ComposeSource[], name: string): ComposeSource => {
          expect(sources.length).toBeGreaterThanOrEqual(1);
          expect(sources.length).toBeLessThanOrEqual(MAX_COMPOSE_SOURCES);
          contents.set(
            name,
            sources.flatMap((s) => contents.get(s.name)!),
          );
          return { name, generation: "2" };
        };
        const final = await composeTree(
          parts,
          async (s, round, index) => join(s, `c${round}-${index}`),
          async (s) => join(s, "final"),
        );
        expect(contents.get(final.name)).toEqual(parts.map((p) => p.name));
      }),
      { numRuns: 60 },
    );
  });
});
