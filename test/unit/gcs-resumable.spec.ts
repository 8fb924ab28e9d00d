/**
 * ResumableSessions against a fake session endpoint (an in-memory model of GCS's resumable
 * protocol): parts in any order, 256 KiB chunking with carry-over, and recovery from a chunk
 * that was cut off after the server had committed part of it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RESUMABLE_CHUNK, ResumableSessions } from "../../src/store/gcs/gcs-resumable.js";
import { ramp } from "../helpers/ramp.js";

/** GCS's rules: non-final chunks are 256 KiB multiples and must start at the committed size. */
function fakeSession(options: { cutAfterChunk?: number } = {}) {
  let stored = Buffer.alloc(0);
  let finished = false;
  let puts = 0;
  const fetchImpl = (async (_uri: string | URL | Request, init?: RequestInit) => {
    const range = new Headers(init?.headers).get("content-range")!;
    const body = init?.body ? Buffer.from(init.body as Uint8Array) : Buffer.alloc(0);
    const status = () =>
      new Response(null, { status: 308, headers: stored.length ? { range: `bytes=0-${stored.length - 1}` } : {} });
    if (range === "bytes */*") return finished ? Response.json({ generation: "7" }) : status();
    const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(range)!;
    if (m[1] !== undefined) {
      expect(Number(m[1])).toBe(stored.length);
      if (m[3] === "*") expect(body.length % RESUMABLE_CHUNK).toBe(0);
      puts++;
      if (puts === options.cutAfterChunk) {
        stored = Buffer.concat([stored, body.subarray(0, RESUMABLE_CHUNK)]); // committed part of it, then the connection dropped
        throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } });
      }
      stored = Buffer.concat([stored, body]);
    }
    if (m[3] !== "*" && stored.length === Number(m[3])) {
      finished = true;
      return Response.json({ generation: "7" });
    }
    return status();
  }) as typeof fetch;
  return { fetchImpl, bytes: () => stored };
}

async function upload(sessions: ResumableSessions, parts: Buffer[], order: number[]): Promise<string> {
  sessions.open("u");
  await Promise.all(order.map((n) => sessions.sendPart("u", n, parts[n - 1], "k")));
  return (await sessions.complete("u", parts.length, "k")).generation;
}

describe("ResumableSessions", () => {
  it("streams parts of any sizes, given in any order, as one object", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 * RESUMABLE_CHUNK }), { minLength: 1, maxLength: 6 }).chain((sizes) =>
          fc.tuple(
            fc.constant(sizes),
            fc.shuffledSubarray(
              sizes.map((_, i) => i + 1),
              { minLength: sizes.length },
            ),
          ),
        ),
        async ([sizes, order]) => {
          const whole = ramp(sizes.reduce((a, b) => a + b, 0));
          let at = 0;
          const parts = sizes.map((n) => whole.subarray(at, (at += n)));
          const server = fakeSession();
          expect(await upload(new ResumableSessions(server.fetchImpl), parts, order)).toBe("7");
          expect(Buffer.compare(server.bytes(), whole)).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("resumes from the committed offset after a chunk is cut off mid-way", async () => {
    const whole = ramp(4 * RESUMABLE_CHUNK + 123);
    const parts = [
      whole.subarray(0, 2 * RESUMABLE_CHUNK),
      whole.subarray(2 * RESUMABLE_CHUNK, 4 * RESUMABLE_CHUNK),
      whole.subarray(4 * RESUMABLE_CHUNK),
    ];
    const server = fakeSession({ cutAfterChunk: 2 });
    expect(await upload(new ResumableSessions(server.fetchImpl), parts, [1, 2, 3])).toBe("7");
    expect(Buffer.compare(server.bytes(), whole)).toBe(0);
  });
});
