/**
 * Issue 15, findings 1 and 8 (IDC side): every name that comes from an IDC index and becomes a
 * path — the release version recorded in the parquet, `--idc-version`, `current.json`, and the
 * collection, patient, study, series and instance names that become directory entries — must be
 * a plain file name. A hostile or broken mirror must not be able to make bucketfs delete or
 * replace a directory outside the index root, nor put a bogus entry into a listing.
 *
 * The mirror is a stub HTTP server on 127.0.0.1 serving a parquet (and its matching `.sha256`,
 * which proves transfer, not origin).
 */
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadIndex, IdcIndexError, IdcStore, openIdc, resolveIndex } from "../../src/idc/index.js";
import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { uuidFor, writeIdcIndexParquet, type IndexRow } from "../../scripts/make-idc-fixtures.js";

let base: string;
let server: Server;
let url: string;
/** Files the stub serves, by URL path. */
const served = new Map<string, Buffer>();
const requests: string[] = [];

function row(
  collection: string,
  patient: string,
  study: string,
  modality: string,
  series: string,
  bucket = "idc-open-data",
): IndexRow {
  return {
    collection_id: collection,
    PatientID: patient,
    StudyInstanceUID: study,
    SeriesInstanceUID: series,
    Modality: modality,
    aws_bucket: bucket,
    crdc_series_uuid: uuidFor(`${collection}|${patient}|${study}|${series}`),
    series_size_MB: 1,
    instanceCount: 1,
  };
}

/** Publishes `rows` under `/<release>/release_artifacts/`, recording `recorded` as the parquet's own version. */
function publish(release: string, recorded: string | undefined, rows: IndexRow[]): void {
  const dir = mkdtempSync(join(base, "pub-"));
  const parquet = join(dir, "idc_index.parquet");
  writeIdcIndexParquet(parquet, rows, { version: recorded });
  served.set(`/${release}/release_artifacts/idc_index.parquet`, readFileSync(parquet));
  served.set(`/${release}/release_artifacts/idc_index.parquet.sha256`, readFileSync(`${parquet}.sha256`));
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "bucketfs-sec-idc-"));
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = served.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: Error) => err,
  );
}

describe("index versions that become directories", () => {
  it("refuses a release whose recorded version climbs out of the index root, and deletes nothing", async () => {
    const cacheDir = join(base, "cache-climb");
    // <cacheDir>/idc/index/../../../victim is <base>/victim.
    const victim = join(base, "victim");
    mkdirSync(victim);
    writeFileSync(join(victim, "thesis.tex"), "years of work");
    publish("current", "../../../victim", [row("c", "p", "1.2", "CT", "1.2.3")]);
    const err = await failure(downloadIndex({ cacheDir, baseUrl: url }));
    expect([err.name, err.message]).toEqual([
      "IdcIndexError",
      `${url}/current/release_artifacts/idc_index.parquet records index version "../../../victim", which is not a plain version name (letters, digits, ".", "_", "-"); refusing to use it as a directory`,
    ]);
    expect(readdirSync(victim)).toEqual(["thesis.tex"]);
    expect(readFileSync(join(victim, "thesis.tex"), "utf8")).toBe("years of work");
    // The download's work directory is gone too: nothing is left under the index root.
    expect(readdirSync(join(cacheDir, "idc", "index"))).toEqual([]);
  });

  it("refuses --idc-version values that are not plain names, before sending any request", async () => {
    const cacheDir = join(base, "cache-flag");
    for (const version of ["../x", "a/b", "..", ".", "", "x\0y", "-rf"]) {
      const before = requests.length;
      const err = await failure(resolveIndex({ cacheDir, baseUrl: url, version }));
      expect(err).toBeInstanceOf(IdcIndexError);
      expect(err.message).toBe(
        `--idc-version ${JSON.stringify(version)} is not an IDC index version: expected a release such as 24.2.2, or "current"`,
      );
      expect(requests.length, version).toBe(before);
    }
  });

  it("does not follow a current.json that names a directory outside the index root", async () => {
    const cacheDir = join(base, "cache-current");
    publish("current", "24.2.2", [row("c", "p", "1.2", "CT", "1.2.3")]);
    const good = await resolveIndex({ cacheDir: join(base, "cache-seed"), baseUrl: url });
    // A usable index database outside the root, and a current.json pointing at it.
    const outside = join(base, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "idc_index.sqlite"), readFileSync(good.dbPath));
    mkdirSync(join(cacheDir, "idc", "index"), { recursive: true });
    writeFileSync(join(cacheDir, "idc", "index", "current.json"), JSON.stringify({ version: "../../../outside" }));
    const resolved = await resolveIndex({ cacheDir, baseUrl: url });
    expect(resolved.version).toBe("24.2.2");
    expect(resolved.dbPath).toBe(join(cacheDir, "idc", "index", "24.2.2", "idc_index.sqlite"));
  });
});

describe("IDC names that cannot be file names", () => {
  const lines: string[] = [];
  const log = pino(
    { level: "warn" },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    }),
  );
  const goodStudy = "1.2.3";
  const goodSeries = "CT_1.2.3.4";
  let instanceBucketKey = "";

  async function mounted(): Promise<Awaited<ReturnType<typeof openIdc>>> {
    const rows = [
      row("good", "ok", goodStudy, "CT", "1.2.3.4"),
      row("..", "p", "1.2", "CT", "9.1"),
      row(".", "p", "1.2", "CT", "9.2"),
      row("a/b", "p", "1.2", "CT", "9.3"),
      row("nul\0x", "p", "1.2", "CT", "9.4"),
      row("", "p", "1.2", "CT", "9.5"),
      row("L".repeat(256), "p", "1.2", "CT", "9.6"),
      row("good", "p/q", "1.2", "CT", "9.7"),
      row("good", "..", "1.2", "CT", "9.8"),
      row("good", "ok", ".", "CT", "9.9"),
      row("good", "ok", "..", "CT", "9.10"),
      row("good", "ok", goodStudy, "CT", "1/2"),
      row("good", "ok", goodStudy, "a/b", "9.11"),
    ];
    const parquet = join(mkdtempSync(join(base, "names-")), "idc_index.parquet");
    writeIdcIndexParquet(parquet, rows, { version: "24.2.2" });
    const memory = new MemoryStore({ bucket: "idc-open-data" });
    const uuid = rows[0].crdc_series_uuid as string;
    instanceBucketKey = `${uuid}/i1.dcm`;
    for (const name of ["i1.dcm", "nul\0.dcm", `${"d".repeat(252)}x.dcm`, "sub/nested.dcm"])
      await memory.put({ key: `${uuid}/${name}`, body: Buffer.from("DICM") });
    // An empty segment: `<uuid>//x.dcm` lists as the name "/x.dcm".
    await memory.put({ key: `${uuid}//x.dcm`, body: Buffer.from("DICM") });
    const store = new IdcStore(() => memory, "memory");
    return openIdc({
      cacheDir: join(base, "cache-names"),
      indexFile: parquet,
      filter: {},
      store,
      uid: 1000,
      gid: 1000,
      log,
    });
  }

  it("lists only the names that are file names, at every level, and logs each hidden one once", async () => {
    const idc = await mounted();
    try {
      const names = async (path: string): Promise<string[]> => (await idc.fs.readdir(path)).map((e) => e.name).sort();
      for (let round = 0; round < 2; round++) {
        expect(await names("/")).toEqual([".", "..", "good"]);
        expect(await names("/good")).toEqual([".", "..", "ok"]);
        expect(await names("/good/ok")).toEqual([".", "..", goodStudy]);
        expect(await names(`/good/ok/${goodStudy}`)).toEqual([".", "..", goodSeries]);
        expect(await names(`/good/ok/${goodStudy}/${goodSeries}`)).toEqual([".", "..", "i1.dcm"]);
      }
      expect((await idc.fs.getattr(`/good/ok/${goodStudy}/${goodSeries}/i1.dcm`)).size).toBe(4);
      // Hidden names cannot be reached either.
      for (const path of ["/a", "/a/b", "/good/p", "/good/p/q"])
        await expect(idc.fs.getattr(path), path).rejects.toMatchObject({ code: "ENOENT" });
      const hidden = lines.map((l) => JSON.parse(l) as { msg: string; name: string; reason: string });
      expect(hidden.every((h) => h.msg === "IDC entry hidden: its name cannot be shown as a file name")).toBe(true);
      expect(hidden.map((h) => h.name).sort()).toEqual(
        [
          "",
          ".",
          "..",
          "..",
          ".",
          "..",
          "/x.dcm",
          "CT_1/2",
          "L".repeat(256),
          "a/b",
          "a/b_9.11",
          `${"d".repeat(252)}x.dcm`,
          "nul\0.dcm",
          "nul\0x",
          "p/q",
          "sub/nested.dcm",
        ].sort(),
      );
      expect(instanceBucketKey).not.toBe("");
    } finally {
      idc.close();
    }
  });
});
