/** Mount sources, sizes, and the option schema shared by flags, -o options and environment. */
import { describe, expect, it } from "vitest";
import { resolveMountOptions } from "../../src/config/load.js";
import { parseSource } from "../../src/config/source.js";
import { parseDuration, parseSize } from "../../src/config/units.js";

describe("mount source", () => {
  it("parses buckets and prefixes", () => {
    expect(parseSource("s3://my-bucket")).toMatchObject({ scheme: "s3", bucket: "my-bucket", prefix: "" });
    expect(parseSource("s3://my-bucket/a/b/")).toMatchObject({
      bucket: "my-bucket",
      prefix: "a/b/",
      url: "s3://my-bucket/a/b",
    });
  });

  it.each([
    ["my-bucket", /malformed source/],
    ["ftp://bucket", /unsupported source scheme/],
    ["s3://", /invalid bucket name/],
    ["s3://UPPER", /invalid bucket name/],
    ["s3://bkt/../x", /invalid prefix/],
    ["s3://bkt/a//b", /invalid prefix/],
  ])("rejects %s with a clear message", (text, message) => {
    expect(() => parseSource(text)).toThrow(message);
  });
});

describe("units", () => {
  it("parses sizes and durations", () => {
    expect(parseSize("8M")).toBe(8 * 1024 * 1024);
    expect(parseSize("10GiB")).toBe(10 * 1024 ** 3);
    expect(parseSize("512")).toBe(512);
    expect(parseDuration("10s")).toBe(10_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(() => parseSize("lots")).toThrow(/not a size/);
  });
});

describe("mount options", () => {
  it("applies defaults", () => {
    const { config, fuseOptions } = resolveMountOptions({}, [], {});
    expect(config).toMatchObject({
      region: "us-east-1",
      partSize: 8 * 1024 * 1024,
      uploadConcurrency: 4,
      metadataTtl: 10_000,
      readOnly: false,
    });
    expect(fuseOptions).toEqual([]);
  });

  it("takes fstab-style -o options, passes FUSE options through and ignores mount(8)-only ones", () => {
    const { config, fuseOptions } = resolveMountOptions(
      {},
      ["ro,endpoint=http://127.0.0.1:7480,part-size=16M,_netdev,nofail,x-systemd.automount", "nonempty"],
      {},
    );
    expect(config).toMatchObject({ readOnly: true, endpoint: "http://127.0.0.1:7480", partSize: 16 * 1024 * 1024 });
    expect(fuseOptions).toEqual(["nonempty"]);
  });

  it("ranks flags over -o over environment", () => {
    const env = { BUCKETFS_ENDPOINT: "http://env", AWS_REGION: "eu-west-1" };
    expect(resolveMountOptions({}, [], env).config).toMatchObject({ endpoint: "http://env", region: "eu-west-1" });
    expect(resolveMountOptions({}, ["endpoint=http://dash-o"], env).config.endpoint).toBe("http://dash-o");
    expect(resolveMountOptions({ endpoint: "http://flag" }, ["endpoint=http://dash-o"], env).config.endpoint).toBe(
      "http://flag",
    );
  });

  it("rejects bad values with the option's name", () => {
    expect(() => resolveMountOptions({ partSize: "huge" }, [], {})).toThrow(/--part-size: not a size/);
    expect(() => resolveMountOptions({}, ["upload-concurrency=-1"], {})).toThrow(/--upload-concurrency/);
  });
});
