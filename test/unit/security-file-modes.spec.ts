/**
 * Issue 15, hygiene: what the daemon writes holds user data or names of user data, so it is
 * created private (files 0600, directories 0700) whatever the umask it inherited — the SQLite
 * files of the chunk-cache index, the upload journal and the IDC index included, with their
 * -wal and -shm companions — and the daemon runs with umask 077 so a later `chmod` of a directory
 * cannot expose anything in it.
 */
import { createServer, type Server } from "node:http";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CacheIndex } from "../../src/cache/cache-index.js";
import { mountConfig } from "../helpers/config.js";
import { parseSource } from "../../src/config/source.js";
import { downloadIndex, IdcStore, openIdc } from "../../src/idc/index.js";
import { openMountSecurity } from "../../src/security/index.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { UploadJournal } from "../../src/write/journal.js";
import { uuidFor, writeIdcIndexParquet } from "../../scripts/make-idc-fixtures.js";
import { testTempDir } from "../helpers/temp-dirs.js";

function tmp(label: string): string {
  return testTempDir(`bucketfs-sec-modes-${label}-`);
}

let saved = 0;
beforeEach(() => {
  saved = process.umask(0o022);
});
afterEach(() => {
  process.umask(saved);
});

/** Mode bits of every file and directory under `root` (root itself excluded), by relative path. */
function modes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    out[path.slice(root.length + 1)] = (statSync(path).mode & 0o777).toString(8).padStart(4, "0");
  }
  return out;
}

function parquetIn(dir: string): string {
  const parquet = join(dir, "idc_index.parquet");
  writeIdcIndexParquet(
    parquet,
    [
      {
        collection_id: "c",
        PatientID: "p",
        StudyInstanceUID: "1.2",
        SeriesInstanceUID: "1.2.3",
        Modality: "CT",
        aws_bucket: "idc-open-data",
        crdc_series_uuid: uuidFor("s"),
        series_size_MB: 1,
        instanceCount: 1,
      },
    ],
    { version: "24.2.2" },
  );
  return parquet;
}

describe("files created under umask 022", () => {
  it("the chunk-cache index and the upload journal are 0600, with their -wal and -shm", () => {
    const root = tmp("sqlite");
    const cacheDir = join(root, "read-cache");
    mkdirSync(cacheDir, { mode: 0o700 });
    const index = new CacheIndex(join(cacheDir, "index.sqlite"));
    index.apply({
      upserts: [
        {
          id: "x.0",
          source: "s",
          key: "k",
          etag: "e",
          index: 0,
          offset: 0,
          length: 1,
          charged: 4096,
          crc: 1,
          atime: 1,
        },
      ],
      deletes: [],
      touches: new Map(),
    });
    const journal = new UploadJournal(join(root, "journal", "j.sqlite"));
    journal.record({ stagingFile: "/s/1.data", path: "/f", key: "f", size: 1, conflictCheck: true, metadata: {} });
    expect(modes(root)).toEqual({
      "read-cache": "0700",
      "read-cache/index.sqlite": "0600",
      "read-cache/index.sqlite-wal": "0600",
      "read-cache/index.sqlite-shm": "0600",
      journal: "0700",
      "journal/j.sqlite": "0600",
      "journal/j.sqlite-wal": "0600",
      "journal/j.sqlite-shm": "0600",
    });
    index.close();
    journal.close();
  });

  it("an index or journal an older version left 0644 is made 0600 when opened", () => {
    const root = tmp("old");
    const first = new CacheIndex(join(root, "index.sqlite"));
    first.close();
    const journal = new UploadJournal(join(root, "j.sqlite"));
    journal.close();
    chmodSync(join(root, "index.sqlite"), 0o644);
    chmodSync(join(root, "j.sqlite"), 0o644);
    new CacheIndex(join(root, "index.sqlite")).close();
    new UploadJournal(join(root, "j.sqlite")).close();
    expect(modes(root)).toEqual({ "index.sqlite": "0600", "j.sqlite": "0600" });
  });

  it("the IDC index (downloaded or local) and the series listings are 0600 in 0700 directories", async () => {
    const root = tmp("idc");
    const parquet = parquetIn(join(root, "src"));
    const body = readFileSync(parquet);
    const sha = readFileSync(`${parquet}.sha256`);
    const server: Server = createServer((req, res) => {
      const file =
        req.url === "/current/release_artifacts/idc_index.parquet"
          ? body
          : req.url === "/current/release_artifacts/idc_index.parquet.sha256"
            ? sha
            : undefined;
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": file.length }).end(file);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const cacheDir = join(root, "cache");
      await downloadIndex({ cacheDir, baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
      const mount = await openIdc({
        cacheDir,
        indexFile: parquet,
        filter: {},
        store: new IdcStore(() => new MemoryStore({ bucket: "idc-open-data" }), "m"),
        uid: 0,
        gid: 0,
      });
      mount.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
    const found = modes(join(root, "cache"));
    const local = Object.keys(found).find((p) => /^idc\/index\/local-[0-9a-f]+$/.test(p))!;
    expect(found).toEqual({
      idc: "0700",
      "idc/index": "0700",
      "idc/index/24.2.2": "0700",
      "idc/index/24.2.2/idc_index.parquet": "0600",
      "idc/index/24.2.2/idc_index.parquet.sha256": "0600",
      "idc/index/24.2.2/idc_index.sqlite": "0600",
      "idc/index/current.json": "0600",
      [local]: "0700",
      [`${local}/idc_index.sqlite`]: "0600",
      "idc/series-listings.sqlite": "0600",
    });
  });
});

describe("the daemon's umask", () => {
  it("is 077 once the mount's security layer is open", () => {
    const config = mountConfig({ cacheDir: tmp("umask") });
    const security = openMountSecurity(parseSource("s3://bkt"), config);
    expect(process.umask().toString(8)).toBe("77");
    security.close();
    const file = join(tmp("after"), "f");
    writeFileSync(file, "x");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(file)).toBe(true);
  });
});
