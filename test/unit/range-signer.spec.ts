/** The signed-URL cache the S3 and Azure range signers share (src/store/range-signer.ts). */
import { describe, expect, it, vi, afterEach } from "vitest";
import { cachingRangeSigner, SIGNED_URL_EXPIRY_MS } from "../../src/store/range-signer.js";
import { isNetworkErrorCode } from "../../src/store/errors.js";

afterEach(() => vi.useRealTimers());

describe("cachingRangeSigner", () => {
  it("signs a key once for every range while the URL is fresh, and again after a third of its validity", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const signed: Array<{ key: string; expiresAt: number }> = [];
    const sign = cachingRangeSigner(async (key, expiresOn) => {
      signed.push({ key, expiresAt: expiresOn.getTime() });
      return `https://s/${key}?n=${signed.length}`;
    });
    const a = await sign({ key: "k", range: { start: 0, end: 10 } });
    const b = await sign({ key: "k", range: { start: 10, end: 20 }, ifMatch: '"e1"' });
    expect(a).toEqual({ url: "https://s/k?n=1", headers: ["Range: bytes=0-9"] });
    expect(b).toEqual({ url: "https://s/k?n=1", headers: ["Range: bytes=10-19", 'If-Match: "e1"'] });
    expect(signed).toEqual([{ key: "k", expiresAt: 1_000_000 + SIGNED_URL_EXPIRY_MS }]);
    vi.setSystemTime(1_000_000 + SIGNED_URL_EXPIRY_MS / 3);
    expect((await sign({ key: "k", range: { start: 0, end: 1 } })).url).toBe("https://s/k?n=2");
  });

  it("refuses an ETag that would smuggle a header line", async () => {
    const sign = cachingRangeSigner(async (key) => `https://s/${key}`);
    await expect(sign({ key: "k", range: { start: 0, end: 1 }, ifMatch: '"x"\r\nX-Evil: 1' })).rejects.toThrow(
      "refusing an ETag with control characters",
    );
  });
});

describe("isNetworkErrorCode", () => {
  it("knows Node's no-answer codes and nothing else", () => {
    expect(["ECONNREFUSED", "ENOTFOUND", "ETIMEDOUT", "ERR_TLS_CERT_ALTNAME_INVALID"].map(isNetworkErrorCode)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect([undefined, 404, "NoSuchKey", "ENOENT"].map(isNetworkErrorCode)).toEqual([false, false, false, false]);
  });
});
