/**
 * The IDC namespace without a kernel: a synthetic zstd idc_index parquet (real column names and
 * types) loaded into SQLite, the tree at every level, filters, attributes, byte-exact reads of
 * real DICOM files from per-bucket MemoryStores, EROFS, and the on-disk series listing cache.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync } from "hyparquet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  downloadIndex,
  IdcIndexError,
  IdcSchemaError,
  IdcStore,
  openIdc,
  resolveIndex,
  SeriesListings,
  type IdcMount,
} from "../../src/idc/index.js";
import { loadIndex } from "../../src/idc/index-loader.js";
import { StoreError } from "../../src/store/errors.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { FsError } from "../../src/vfs/errors.js";
import { makeIdcFixtures, writeIdcIndexParquet, type IdcFixtures } from "../../scripts/make-idc-fixtures.js";

let dir: string;
let fixtures: IdcFixtures;
const stores = new Map<string, MemoryStore>();
let listCalls = 0;

function storeFor(bucket: string): ObjectStore {
  const store = stores.get(bucket);
  if (!store) throw new Error(`no fixture bucket ${bucket}`);
  return store;
}

function idcStore(): IdcStore {
  return new IdcStore(storeFor, "memory");
}

async function mountWith(filter = {}, cacheDir = join(dir, "cache")): Promise<IdcMount> {
  return openIdc({ cacheDir, indexFile: fixtures.parquet, filter, store: idcStore(), uid: 1000, gid: 1000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bucketfs-idc-unit-"));
  fixtures = makeIdcFixtures(join(dir, "fx"));
  for (const s of fixtures.series) {
    if (!stores.has(s.bucket)) {
      const store = new MemoryStore({ bucket: s.bucket });
      const list = store.list.bind(store);
      store.list = (req) => {
        listCalls++;
        return list(req);
      };
      stores.set(s.bucket, store);
    }
    for (const inst of s.instances) await stores.get(s.bucket)!.put({ key: inst.key, body: inst.bytes });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the idc_index parquet", () => {
  it("is zstd-compressed and records idc_index_data_version", async () => {
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(fixtures.parquet));
    const codecs = new Set(meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)));
    expect([...codecs]).toEqual(["ZSTD"]);
    expect(meta.key_value_metadata?.find((kv) => kv.key === "idc_index_data_version")?.value).toBe("24.2.2");
    expect(meta.schema.length - 1).toBe(31);
  });

  it("loads into SQLite with one row per series", async () => {
    const result = await loadIndex(fixtures.parquet, join(dir, "load.sqlite"));
    expect(result).toEqual({ rows: fixtures.series.length, dataVersion: "24.2.2" });
  });

  it("fails with a message naming the missing columns", async () => {
    const bad = join(dir, "bad.parquet");
    writeIdcIndexParquet(
      bad,
      fixtures.series.map((s) => s.row),
      { omit: ["PatientID", "crdc_series_uuid", "series_aws_url"] },
    );
    const err = await loadIndex(bad, join(dir, "bad.sqlite")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdcSchemaError);
    expect((err as Error).message).toMatch(/missing column\(s\) PatientID, crdc_series_uuid \(or series_aws_url\)/);
  });

  it("derives crdc_series_uuid from series_aws_url in older indexes", async () => {
    const old = join(dir, "old.parquet");
    writeIdcIndexParquet(
      old,
      fixtures.series.map((s) => s.row),
      { omit: ["crdc_series_uuid"] },
    );
    const mount = await openIdc({
      cacheDir: join(dir, "cache-old"),
      indexFile: old,
      filter: {},
      store: idcStore(),
      uid: 0,
      gid: 0,
    });
    const s = fixtures.series[0];
    expect(mount.tree.seriesAt(s.dir.split("/"))?.crdc_series_uuid).toBe(s.row.crdc_series_uuid);
    mount.close();
  });
});

describe("the IDC tree", () => {
  let mount: IdcMount;
  beforeAll(async () => {
    mount = await mountWith();
  });
  afterAll(() => mount.close());

  const names = async (path: string): Promise<string[]> =>
    (await mount.fs.readdir(path)).map((e) => e.name).filter((n) => n !== "." && n !== "..");

  it("lists collections, patients, studies, series and instance files", async () => {
    expect(await names("/")).toEqual(["test_ct", "test_sm", "test_two"]);
    expect(await names("/test_ct")).toEqual(["CT-001", "CT-002"]);
    const ct = fixtures.series[0];
    const [collection, patient, study, series] = ct.dir.split("/");
    expect(await names(`/${collection}/${patient}`)).toEqual([study]);
    expect(await names(`/${collection}/${patient}/${study}`)).toEqual(
      [series, fixtures.series[1].dir.split("/")[3]].sort(),
    );
    expect(await names(`/${ct.dir}`)).toEqual(ct.instances.map((i) => `${i.uuid}.dcm`).sort());
  });

  it("gives files their object size and directories the index's size", async () => {
    const sm = fixtures.series[3];
    const file = await mount.fs.getattr(`/${sm.dir}/${sm.instances[0].uuid}.dcm`);
    expect(file).toMatchObject({ kind: "file", size: sm.instances[0].bytes.length, mode: 0o100444 });
    const series = await mount.fs.getattr(`/${sm.dir}`);
    expect(series.kind).toBe("dir");
    expect(series.size).toBe(sm.instances.reduce((s, i) => s + i.bytes.length, 0));
  });

  it("answers ENOENT for what the index does not have", async () => {
    for (const path of [
      "/nope",
      "/test_ct/NOPE",
      `/${fixtures.series[0].dir}/x.dcm`,
      "/test_ct/CT-001/1.2/CT_1.2",
      "/a/b/c/d/e/f",
    ]) {
      await expect(mount.fs.getattr(path)).rejects.toMatchObject({ code: "ENOENT" });
    }
  });

  it("reads instance files byte for byte, sequentially and at random offsets", async () => {
    const inst = fixtures.series[3].instances[0];
    const fh = await mount.fs.open(`/${fixtures.series[3].dir}/${inst.uuid}.dcm`, 0);
    const parts: Buffer[] = [];
    for (let off = 0; off < inst.bytes.length; off += 131072) parts.push(await mount.fs.read(fh, off, 131072));
    expect(Buffer.concat(parts).equals(inst.bytes)).toBe(true);
    expect((await mount.fs.read(fh, 1_000_003, 4096)).equals(inst.bytes.subarray(1_000_003, 1_004_099))).toBe(true);
    await mount.fs.release(fh);
  });

  it("refuses every change with EROFS", async () => {
    const file = `/${fixtures.series[0].dir}/${fixtures.series[0].instances[0].uuid}.dcm`;
    await expect(mount.fs.open(file, 1)).rejects.toMatchObject({ code: "EROFS" });
    await expect(mount.fs.create("/test_ct/new", 0o644)).rejects.toMatchObject({ code: "EROFS" });
    await expect(mount.fs.tree.mkdir("/test_ct/x", 0o755)).rejects.toMatchObject({ code: "EROFS" });
    await expect(mount.fs.tree.unlink(file)).rejects.toMatchObject({ code: "EROFS" });
    await expect(mount.fs.tree.rename(file, "/x")).rejects.toMatchObject({ code: "EROFS" });
    await expect(mount.fs.truncate(file, 0)).rejects.toBeInstanceOf(FsError);
  });

  it("shows index metadata as user.idc.* attributes at every level", async () => {
    const sm = fixtures.series[3];
    const xattrs = mount.fs.xattrs;
    if (!xattrs) throw new Error("the IDC namespace provides extended attributes");
    const attrs = await xattrs.listxattr(`/${sm.dir}`);
    expect(attrs).toEqual(
      expect.arrayContaining([
        "user.idc.Modality",
        "user.idc.SeriesDescription",
        "user.idc.license_short_name",
        "user.idc.source_DOI",
        "user.idc.series_size_MB",
        "user.idc.instanceCount",
        "user.idc.StudyDate",
      ]),
    );
    expect(attrs).not.toContain("user.idc.BodyPartExamined"); // NULL for SM: left out
    expect((await xattrs.getxattr(`/${sm.dir}`, "user.idc.license_short_name")).toString()).toBe("CC BY-NC 4.0");
    expect((await xattrs.getxattr("/test_ct", "user.idc.patients")).toString()).toBe("2");
    expect((await xattrs.getxattr("/test_ct/CT-001", "user.idc.Modality")).toString()).toBe("CT,MR");
    expect((await xattrs.getxattr(`/${sm.dir}/${sm.instances[1].uuid}.dcm`, "user.idc.url")).toString()).toBe(
      `s3://idc-open-data-cr/${sm.instances[1].key}`,
    );
    await expect(xattrs.getxattr("/test_ct", "user.idc.nothing")).rejects.toMatchObject({ code: "ENODATA" });
  });
});

describe("filters and caches", () => {
  it("--collections and --modality mount part of the tree", async () => {
    const mount = await mountWith({ collections: ["test_ct", "test_sm"], modalities: ["MR", "SM"] });
    const names = async (path: string): Promise<string[]> =>
      (await mount.fs.readdir(path)).map((e) => e.name).filter((n) => !n.startsWith("."));
    expect(await names("/")).toEqual(["test_ct", "test_sm"]);
    expect(await names("/test_ct")).toEqual(["CT-001"]);
    await expect(mount.fs.getattr(`/${fixtures.series[0].dir}`)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await mount.fs.getattr(`/${fixtures.series[1].dir}`)).kind).toBe("dir");
    mount.close();
  });

  it("keeps series listings on disk: a new process does not list the bucket again", async () => {
    const cacheDir = join(dir, "cache-listing");
    const first = await mountWith({}, cacheDir);
    const before = listCalls;
    await first.fs.readdir(`/${fixtures.series[2].dir}`);
    expect(listCalls).toBe(before + 1);
    first.close();
    const broken = new SeriesListings(
      join(cacheDir, "idc", "series-listings.sqlite"),
      new IdcStore(() => {
        throw new StoreError("Unreachable", "offline");
      }, "offline"),
    );
    const listed = await broken.list(fixtures.series[2].bucket, String(fixtures.series[2].row.crdc_series_uuid));
    expect(listed.map((e) => e.name)).toEqual(fixtures.series[2].instances.map((i) => `${i.uuid}.dcm`).sort());
    broken.close();
  });

  it("loads a local --idc-index once and reuses its SQLite file", async () => {
    const cacheDir = join(dir, "cache-reuse");
    const a = await resolveIndex({ cacheDir, indexFile: fixtures.parquet });
    const mtime = statSync(a.dbPath).mtimeMs;
    const b = await resolveIndex({ cacheDir, indexFile: fixtures.parquet });
    expect(b.dbPath).toBe(a.dbPath);
    expect(statSync(b.dbPath).mtimeMs).toBe(mtime);
  });
});

describe("IdcStore, the read-only preset over IDC's buckets", () => {
  it("routes <bucket>/<key> to the bucket's store and offers no change at all", async () => {
    const store = idcStore();
    const s = fixtures.series[4];
    const page = await store.list({ prefix: `${s.bucket}/${String(s.row.crdc_series_uuid)}/` });
    expect(page.objects.map((o) => o.key)).toEqual([`${s.bucket}/${s.instances[0].key}`]);
    expect(
      (await store.get({ key: `${s.bucket}/${s.instances[0].key}`, range: { start: 128, end: 132 } })).toString(),
    ).toBe("DICM");
    expect(store.capabilities.readOnly).toBe(true);
    // A ReadableStore: there is no mutating method to call (nothing to refuse, no stubs).
    expect(
      ["put", "copy", "delete", "createMultipart", "uploadPart", "completeMultipart"].filter((m) => m in store),
    ).toEqual([]);
  });
});

describe("downloading the published index", () => {
  let server: Server;
  let base: string;
  let corrupt = false;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const match = /^\/(current|24\.2\.2)\/release_artifacts\/(idc_index\.parquet(?:\.sha256)?)$/.exec(req.url ?? "");
      if (!match) {
        res.writeHead(404).end();
        return;
      }
      const body = readFileSync(join(dir, "fx", match[2]));
      if (corrupt && !match[2].endsWith(".sha256")) body[body.length - 100] ^= 0xff;
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => server.close());

  it("downloads current, verifies the checksum, stores it under its version, then starts offline", async () => {
    const cacheDir = join(dir, "cache-dl");
    const got = await resolveIndex({ cacheDir, baseUrl: base });
    expect(got.version).toBe("24.2.2");
    expect(got.dbPath).toBe(join(cacheDir, "idc", "index", "24.2.2", "idc_index.sqlite"));
    const offline = await resolveIndex({ cacheDir, baseUrl: "http://127.0.0.1:9" });
    expect(offline.dbPath).toBe(got.dbPath);
  });

  it("rejects a download whose sha256 does not match, and explains a missing version", async () => {
    corrupt = true;
    const err = await downloadIndex({ cacheDir: join(dir, "cache-bad"), baseUrl: base }).catch((e: unknown) => e);
    corrupt = false;
    expect(err).toBeInstanceOf(IdcIndexError);
    expect((err as Error).message).toMatch(/checksum mismatch/);
    await expect(downloadIndex({ cacheDir: join(dir, "cache-bad"), baseUrl: base, version: "99.0.0" })).rejects.toThrow(
      /HTTP 404 \(no such IDC index version/,
    );
  });
});
