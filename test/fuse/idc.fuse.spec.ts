/**
 * End to end: `bucketfs mount idc` over IDC-named buckets on the loopback S3 server (public-read,
 * read anonymously), with a synthetic zstd idc_index parquet, driven by the programs people use
 * on IDC data: ls, find, getfattr, dcmdump (dcmtk), pydicom, cp -r, and the bucketfs idc/prefetch
 * commands.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeIdcFixtures, uploadIdcFixtures, type IdcFixtures } from "../../scripts/make-idc-fixtures.js";
import { freshBucket, sdkClient } from "../helpers/s3.js";
import { bucketfs, sh, shResult, tempDir, TestMount } from "../helpers/mount.js";

describe("bucketfs mount idc", () => {
  let fixtures: IdcFixtures;
  let mount: TestMount;
  let local: string;
  const sm = (): IdcFixtures["series"][number] => fixtures.series[3];

  beforeAll(async () => {
    local = tempDir("idc");
    fixtures = makeIdcFixtures(join(local, "fx"));
    await uploadIdcFixtures(fixtures, sdkClient());
    mount = await TestMount.start("idc", ["--idc-index", fixtures.parquet]);
  });
  afterAll(async () => {
    await mount?.stop();
    await sh(`rm -rf ${local}`);
  });

  it("lists every level with ls, and find sees the whole tree", async () => {
    expect((await mount.sh("ls")).split("\n").filter(Boolean)).toEqual(["test_ct", "test_sm", "test_two"]);
    expect((await mount.sh("ls test_ct")).split("\n").filter(Boolean)).toEqual(["CT-001", "CT-002"]);
    const [c, p, s, series] = sm().dir.split("/");
    expect((await mount.sh(`ls ${c}/${p}`)).trim()).toBe(s);
    expect((await mount.sh(`ls ${c}/${p}/${s}`)).trim()).toBe(series);
    expect((await mount.sh(`ls ${sm().dir}`)).split("\n").filter(Boolean)).toEqual(
      sm()
        .instances.map((i) => `${i.uuid}.dcm`)
        .sort(),
    );
    const files = (await mount.sh("find . -type f | sort")).split("\n").filter(Boolean);
    const expected = fixtures.series.flatMap((x) => x.instances.map((i) => `./${x.dir}/${i.uuid}.dcm`)).sort();
    expect(files).toEqual(expected);
    expect((await mount.sh("find . -mindepth 4 -maxdepth 4 -type d | wc -l")).trim()).toBe(
      String(fixtures.series.length),
    );
    const size = (await mount.sh(`stat -c %s ${sm().dir}/${sm().instances[0].uuid}.dcm`)).trim();
    expect(Number(size)).toBe(sm().instances[0].bytes.length);
  });

  it("shows index metadata with getfattr -d on series, study, patient and collection directories", async () => {
    const series = await mount.sh(`getfattr -d ${sm().dir}`);
    expect(series).toContain('user.idc.Modality="SM"');
    expect(series).toContain('user.idc.license_short_name="CC BY-NC 4.0"');
    expect(series).toContain(`user.idc.instanceCount="2"`);
    expect(series).toContain(`user.idc.SeriesDescription="SM series 4"`);
    const study = await mount.sh(
      `getfattr -n user.idc.StudyDate --only-values ${sm().dir.split("/").slice(0, 3).join("/")}`,
    );
    expect(study).toBe("2020-01-02");
    expect(await mount.sh("getfattr -n user.idc.Modality --only-values test_ct/CT-001")).toBe("CT,MR");
    expect(await mount.sh("getfattr -n user.idc.patients --only-values test_ct")).toBe("2");
    expect(shResult(`cd ${mount.dir} && getfattr -n user.idc.nothing test_ct`).stderr).toMatch(/No such attribute/);
  });

  it("dcmdump and pydicom read DICOM files in place, including the multi-frame tiled level", async () => {
    const tiled = `${sm().dir}/${sm().instances[0].uuid}.dcm`;
    const dump = await mount.sh(`dcmdump ${tiled}`);
    expect(dump).toMatch(/\(0028,0008\) IS \[16\]/);
    expect(dump).toContain("TILED_FULL");
    const py = await mount.sh(
      `/usr/bin/python3 -c 'import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); print(d.SeriesInstanceUID, d.pixel_array.shape)' ${tiled}`,
    );
    expect(py.trim()).toBe(`${sm().row.SeriesInstanceUID} (16, 256, 256, 3)`);
    const ct = fixtures.series[0];
    const ctOut = await mount.sh(
      `/usr/bin/python3 -c 'import pydicom,glob,sys; print(sorted(pydicom.dcmread(f).Modality for f in glob.glob(sys.argv[1] + "/*.dcm")))' ${ct.dir}`,
    );
    expect(ctOut.trim()).toBe("['CT', 'CT', 'CT']");
  });

  it("copies a series byte for byte with cp -r", async () => {
    await sh(`cp -r ${mount.path(sm().dir)} ${local}/copy`);
    for (const inst of sm().instances)
      expect(readFileSync(`${local}/copy/${inst.uuid}.dcm`).equals(inst.bytes)).toBe(true);
  });

  it("refuses writes with EROFS", async () => {
    const file = `${fixtures.series[0].dir}/${fixtures.series[0].instances[0].uuid}.dcm`;
    for (const command of [
      `echo x > ${file}`,
      "touch test_ct/new",
      "mkdir test_ct/d",
      `rm ${file}`,
      `mv ${file} test_ct/`,
    ]) {
      const result = shResult(`cd ${mount.dir} && ${command}`);
      expect(result.code, command).not.toBe(0);
      expect(result.stderr, command).toMatch(/Read-only file system/);
    }
  });

  it("bucketfs idc collections, idc info and prefetch work against the same index", async () => {
    const args = ["--idc-index", fixtures.parquet, "--cache-dir", mount.cacheDir];
    const table = await bucketfs(["idc", "collections", ...args]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/test_ct\s+2\s+3/);
    const info = await bucketfs(["idc", "info", mount.path(sm().dir), ...args]);
    expect(info.stdout).toMatch(/crdc_series_uuid:\s+\S+/);
    const warm = await bucketfs(["prefetch", mount.path("test_sm"), "--cache-dir", mount.cacheDir]);
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).toMatch(/prefetched 3\.2 MiB/);
  });

  it("--collections and --modality mount only part of the tree", async () => {
    const part = await TestMount.start("idc", [
      "--idc-index",
      fixtures.parquet,
      "--collections",
      "test_ct,test_sm",
      "--modality",
      "MR,SM",
    ]);
    try {
      expect((await part.sh("ls")).split("\n").filter(Boolean)).toEqual(["test_ct", "test_sm"]);
      expect((await part.sh("find . -type f | wc -l")).trim()).toBe("4");
      expect(shResult(`ls ${part.path(fixtures.series[0].dir)}`).code).not.toBe(0);
    } finally {
      await part.stop();
    }
  });

  it("other mounts have no IDC attributes: only the signed-URL attribute of s3:// mounts", async () => {
    const bucket = await freshBucket("xattr");
    const plain = await TestMount.start(`s3://${bucket}`);
    try {
      await plain.sh("echo hi > f");
      const result = shResult(`cd ${plain.dir} && getfattr -d f`);
      expect(result.code).toBe(0);
      const names = result.stdout
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => l.split("=")[0]);
      expect(names).toEqual(["user.bucketfs.url"]);
    } finally {
      await plain.stop();
    }
  });
});
