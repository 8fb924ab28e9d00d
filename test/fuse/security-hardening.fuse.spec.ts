/**
 * Issue 15 through real mounts: runtime-directory squatting (finding 2), names that cannot be
 * file names (finding 8: IDC index names, and bytes that are not UTF-8), and the modes of
 * everything the daemon writes (hygiene: umask 077, SQLite files 0600).
 */
import { chmodSync, chownSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  makeIdcFixtures,
  uploadIdcFixtures,
  uuidFor,
  writeIdcIndexParquet,
  type IdcFixtures,
  type IndexRow,
} from "../../scripts/make-idc-fixtures.js";
import { bucketfs, rmdirQuietly, shResult, tempDir, TestMount } from "../helpers/mount.js";
import { bucketfsEnv, freshBucket, s3Server, sdkClient } from "../helpers/s3.js";

const made: string[] = [];
function dir(label: string): string {
  const d = tempDir(label);
  made.push(d);
  return d;
}
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function mounted(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === path);
}

let fixtures: IdcFixtures;
beforeAll(async () => {
  // IDC mounts check that IDC's buckets answer: the fixture buckets on the loopback server.
  fixtures = makeIdcFixtures(join(dir("idc-fx"), "fx"));
  await uploadIdcFixtures(fixtures, sdkClient());
});

describe("a runtime directory someone else made first", () => {
  it("makes `bucketfs mount` fail with what to do, and nothing is put in it", async () => {
    const bucket = await freshBucket("squat");
    const squatted = dir("squat");
    chmodSync(squatted, 0o700);
    chownSync(squatted, 65534, 65534);
    const mnt = tempDir("mnt");
    const cacheDir = dir("squat-cache");
    const env = { ...bucketfsEnv(), BUCKETFS_RUNTIME_DIR: squatted };
    try {
      const result = await bucketfs(
        ["mount", `s3://${bucket}`, mnt, "--endpoint", s3Server().endpoint, "--cache-dir", cacheDir],
        env,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `runtime directory ${squatted} is owned by uid 65534, not by you (uid 0): someone else may have created it to intercept bucketfs's control sockets and mount records. ` +
          "Remove it (as its owner or root), or set XDG_RUNTIME_DIR or BUCKETFS_RUNTIME_DIR to a private directory, then try again",
      );
      expect(readdirSync(squatted)).toEqual([]);
      expect(mounted(mnt)).toBe(false);
    } finally {
      if (mounted(mnt)) {
        chownSync(squatted, 0, 0);
        await bucketfs(["unmount", mnt], env);
      }
      rmdirQuietly(mnt);
    }
  });
});

describe("names that cannot be file names", () => {
  it("IDC: index names with /, ., .., NUL or no name at all neither break ls nor show up; each is logged once", async () => {
    const row = (collection: string, patient: string, study: string, series: string): IndexRow => ({
      collection_id: collection,
      PatientID: patient,
      StudyInstanceUID: study,
      SeriesInstanceUID: series,
      Modality: "CT",
      aws_bucket: "idc-open-data",
      crdc_series_uuid: uuidFor(`${collection}|${patient}|${series}`),
      series_size_MB: 1,
      instanceCount: 1,
    });
    const parquet = join(dir("idc-hostile"), "idc_index.parquet");
    writeIdcIndexParquet(
      parquet,
      [
        row("good", "ok", "1.2", "1.2.3"),
        row("a/b", "p", "1.2", "9.1"),
        row("..", "p", "1.2", "9.2"),
        row(".", "p", "1.2", "9.3"),
        row("nul\0x", "p", "1.2", "9.4"),
        row("", "p", "1.2", "9.5"),
        row("good", "x/y", "1.2", "9.6"),
        row("good", "ok", "..", "9.7"),
      ],
      { version: "24.2.2" },
    );
    const mount = await TestMount.start("idc", ["--idc-index", parquet]);
    try {
      const ls = (path: string): { code: number; out: string[]; stderr: string } => {
        const r = shResult(`ls -1a ${JSON.stringify(mount.path(path))}`);
        return { code: r.code, out: r.stdout.split("\n").filter(Boolean), stderr: r.stderr };
      };
      for (let round = 0; round < 2; round++) {
        expect(ls("")).toEqual({ code: 0, out: [".", "..", "good"], stderr: "" });
        expect(ls("good")).toEqual({ code: 0, out: [".", "..", "ok"], stderr: "" });
        expect(ls("good/ok")).toEqual({ code: 0, out: [".", "..", "1.2"], stderr: "" });
      }
      const find = shResult(`cd ${mount.dir} && find . -maxdepth 4 -type d | sort`);
      expect([find.code, find.stdout.split("\n").filter(Boolean)]).toEqual([
        0,
        [".", "./good", "./good/ok", "./good/ok/1.2", "./good/ok/1.2/CT_1.2.3"],
      ]);
      const hidden = mount
        .log()
        .split("\n")
        .filter((l) => l.includes("IDC entry hidden"))
        .map((l) => (JSON.parse(l) as { name: string }).name);
      expect(hidden.sort()).toEqual(["", ".", "..", "..", "a/b", "nul\0x", "x/y"].sort());
    } finally {
      await mount.stop();
    }
  });

  it("bytes that are not UTF-8 are refused with EILSEQ (never two names on one key)", async () => {
    const bucket = await freshBucket("nonutf8");
    // The native binding decodes paths itself; fuse-native hands them over already decoded (see src/vfs/paths.ts).
    const mount = await TestMount.start(`s3://${bucket}`, ["--fuse-binding", "native"]);
    try {
      for (const byte of ["\\xff", "\\xfe"]) {
        const r = shResult(`cd ${mount.dir} && printf x > $'${byte}'`);
        // bash names the file by its raw byte, which reads back as U+FFFD here.
        expect([r.code, r.stderr]).toEqual([
          1,
          "bash: line 1: \uFFFD: Invalid or incomplete multibyte or wide character\n",
        ]);
      }
      expect(readdirSync(mount.dir)).toEqual([]);
      const listed = await sdkClient().send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.KeyCount).toBe(0);
    } finally {
      await mount.stop();
    }
  });
});

describe("modes of what the daemon writes", () => {
  /** Every entry under root that is not 0700 (directories) or 0600 (files). */
  function loose(root: string): string[] {
    return readdirSync(root, { recursive: true, withFileTypes: true }).flatMap((e) => {
      const path = join(e.parentPath, e.name);
      const mode = statSync(path).mode & 0o777;
      return mode === (e.isDirectory() ? 0o700 : 0o600) ? [] : [`${path.slice(root.length + 1)} ${mode.toString(8)}`];
    });
  }

  it("an S3 mount: read cache, its SQLite index, the upload journal, staging and logs are all private", async () => {
    const bucket = await freshBucket("modes");
    await sdkClient().send(
      new PutObjectCommand({ Bucket: bucket, Key: "remote.bin", Body: Buffer.alloc(3 * 1024 * 1024, 7) }),
    );
    const mount = await TestMount.start(`s3://${bucket}`);
    try {
      expect(shResult(`cat ${mount.path("remote.bin")} | wc -c`).stdout.trim()).toBe(String(3 * 1024 * 1024));
      expect(shResult(`head -c 100000 /dev/urandom > ${mount.path("new.bin")}`).code).toBe(0);
      const files = readdirSync(mount.cacheDir, { recursive: true });
      expect(files).toEqual(expect.arrayContaining(["read-cache/index.sqlite", "read-cache/index.sqlite-wal"]));
      expect(files.some((f) => /^journal\/[0-9a-f]+\.sqlite$/.test(String(f)))).toBe(true);
      expect(loose(mount.cacheDir)).toEqual([]);
    } finally {
      await mount.stop();
    }
  });

  it("an IDC mount: the loaded index and the series listings are private", async () => {
    const mount = await TestMount.start("idc", ["--idc-index", fixtures.parquet]);
    try {
      const series = fixtures.series[0];
      expect(shResult(`ls ${mount.path(series.dir)} | wc -l`).stdout.trim()).toBe(String(series.instances.length));
      const files = readdirSync(join(mount.cacheDir, "idc"), { recursive: true }).map(String);
      expect(files).toEqual(expect.arrayContaining(["series-listings.sqlite"]));
      expect(files.some((f) => /^index\/local-[0-9a-f]+\/idc_index\.sqlite$/.test(f))).toBe(true);
      expect(loose(mount.cacheDir)).toEqual([]);
    } finally {
      await mount.stop();
    }
  });
});
