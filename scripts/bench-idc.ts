/**
 * IDC benchmark: a synthetic idc_index of N series (default 1,000,000: 200 collections × 1,000
 * patients × 5 series), mounted with `bucketfs mount idc --idc-index` over the loopback S3 server.
 *
 *   set -a; eval "$(bash scripts/s3-server.sh start 7510 /tmp/h5-s3)"; set +a
 *   npx tsc -p . && npx tsx scripts/bench-idc.ts [--series 1000000] [--runs 3]
 *
 * Prints: first-mount index load time and SQLite size; later mount start time; warm `ls -l` of
 * the root and of a 1,000-patient collection; daemon RSS; and reading a 50 MB instance cold
 * through the mount vs. a raw SDK ranged GET of the same object (median of --runs, each run on
 * a different, never-read object).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { clientFromEnv, uploadIdcFixtures, uuidFor, writeIdcIndexParquet, type IndexRow } from "./make-idc-fixtures.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SERIES = arg("series", 1_000_000);
const RUNS = arg("runs", 3);
const PATIENTS = 1_000;
const PER_PATIENT = 5;
const INSTANCE_BYTES = 50 * 1024 * 1024;
const BIN = join(import.meta.dirname, "../bin/bucketfs.js");
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function syntheticRows(benchSeriesUuid: string): IndexRow[] {
  const rows: IndexRow[] = [];
  for (let i = 0; i < SERIES; i++) {
    const collection = `c${String(Math.floor(i / (PATIENTS * PER_PATIENT))).padStart(3, "0")}`;
    const patient = `P-${String(Math.floor(i / PER_PATIENT) % PATIENTS).padStart(4, "0")}`;
    const study = `1.2.826.0.1.3680043.10.1500.1.${Math.floor(i / PER_PATIENT)}`;
    const uid = `1.2.826.0.1.3680043.10.1500.2.${i}`;
    const first = i === 0;
    rows.push({
      collection_id: collection,
      analysis_result_id: null,
      PatientID: patient,
      SeriesInstanceUID: uid,
      StudyInstanceUID: study,
      source_DOI: `10.0000/${collection}`,
      PatientAge: "058Y",
      PatientSex: i % 2 ? "F" : "M",
      StudyDate: "2020-01-02",
      StudyDescription: "CHEST CT",
      BodyPartExamined: "CHEST",
      Modality: first ? "SM" : ["CT", "MR", "PT", "SEG"][i % 4],
      SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
      sop_class_name: "CT Image Storage",
      TransferSyntaxUID: "1.2.840.10008.1.2.1",
      transfer_syntax_name: "Explicit VR Little Endian",
      PhotometricInterpretation: "MONOCHROME2",
      PixelRepresentation: "0",
      Manufacturer: "SIEMENS",
      ManufacturerModelName: "Sensation 16",
      SeriesDate: "2020-01-02",
      SeriesDescription: `series ${i % 7}`,
      SeriesNumber: String(i % PER_PATIENT),
      instanceCount: first ? RUNS : 100 + (i % 300),
      license_short_name: "CC BY 4.0",
      series_init_idc_version: 1 + (i % 24),
      series_revised_idc_version: 24,
      aws_bucket: "idc-open-data",
      crdc_series_uuid: first ? benchSeriesUuid : uuidFor(`bench-${i}`),
      series_aws_url: `s3://idc-open-data/${first ? benchSeriesUuid : uuidFor(`bench-${i}`)}/*`,
      series_size_MB: first ? (RUNS * INSTANCE_BYTES) / 1e6 : 50 + (i % 400),
    });
  }
  return rows;
}

function bucketfs(args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function mount(mnt: string, cacheDir: string, parquet: string): { ms: number; pid: number } {
  const t0 = process.hrtime.bigint();
  const out = bucketfs([
    "mount",
    "idc",
    mnt,
    "--endpoint",
    process.env.S3_ENDPOINT!,
    "--idc-index",
    parquet,
    "--cache-dir",
    cacheDir,
  ]);
  return { ms: ms(t0), pid: Number(/daemon pid (\d+)/.exec(out)?.[1]) };
}

function timeLs(dir: string, flags = ["-l"]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("ls", [...flags, dir], { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`ls ${dir}: ${r.stderr}`);
  return ms(t0);
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1]) / 1024;
}

async function main(): Promise<void> {
  if (!process.env.S3_ENDPOINT) throw new Error("set S3_ENDPOINT (scripts/s3-server.sh start …)");
  const work = mkdtempSync(join(tmpdir(), "bucketfs-bench-idc-"));
  const mnt = join(work, "mnt");
  const cacheDir = join(work, "cache");
  mkdirSync(mnt);
  const benchUuid = uuidFor("bench-50mb-series");
  const client = clientFromEnv();

  let t0 = process.hrtime.bigint();
  const parquet = join(work, "idc_index.parquet");
  writeIdcIndexParquet(parquet, syntheticRows(benchUuid), { version: "24.2.2", rowGroupSize: 250_000 });
  console.log(
    `synthetic index: ${SERIES} series, parquet ${(statSync(parquet).size / 1e6).toFixed(1)} MB (written in ${(ms(t0) / 1000).toFixed(1)} s)`,
  );

  // The 50 MB instances (one per run, so each cold read is really cold).
  await uploadIdcFixtures({ parquet, sha256: "", version: "", series: [] }, client);
  const keys: string[] = [];
  for (let r = 0; r < RUNS; r++) {
    const key = `${benchUuid}/${uuidFor(`bench-50mb-${r}`)}.dcm`;
    const body = Buffer.alloc(INSTANCE_BYTES, r + 1);
    await client.send(new PutObjectCommand({ Bucket: "idc-open-data", Key: key, Body: body, ACL: "public-read" }));
    keys.push(key);
  }

  // The first load runs through `bucketfs idc index info` (the same loader the mount runs): a
  // 1M-series load can exceed the mount's 60 s readiness timeout on a loaded machine.
  t0 = process.hrtime.bigint();
  bucketfs(["idc", "index", "info", "--idc-index", parquet, "--cache-dir", cacheDir]);
  const loadMs = ms(t0);
  const dbSize = statSync(
    execFileSync("bash", ["-c", `ls ${cacheDir}/idc/index/local-*/idc_index.sqlite`], { encoding: "utf8" }).trim(),
  ).size;
  console.log(
    `first load of the index (parquet → SQLite): ${(loadMs / 1000).toFixed(2)} s, SQLite ${(dbSize / 1e6).toFixed(0)} MB`,
  );

  // Baseline in the same run: how long a plain s3:// mount of the same server takes to start.
  const s3Starts: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    bucketfs([
      "mount",
      "s3://idc-open-data",
      mnt,
      "--endpoint",
      process.env.S3_ENDPOINT!,
      "--cache-dir",
      cacheDir,
      "--no-sign-request",
    ]);
    s3Starts.push(ms(t));
    bucketfs(["unmount", mnt]);
  }

  const starts: number[] = [];
  let pid = 0;
  for (let r = 0; r < RUNS; r++) {
    const m = mount(mnt, cacheDir, parquet);
    starts.push(m.ms);
    pid = m.pid;
    if (r < RUNS - 1) bucketfs(["unmount", mnt]);
  }
  console.log(
    `later mount start: median ${median(starts).toFixed(0)} ms (runs ${starts.map((x) => x.toFixed(0)).join(", ")}; target ≤ 1000); plain s3:// mount start in the same run: median ${median(s3Starts).toFixed(0)} ms`,
  );

  const collection = join(mnt, "c001");
  timeLs(mnt);
  timeLs(collection);
  const rootWarm = Array.from({ length: 5 }, () => timeLs(mnt));
  const collWarm = Array.from({ length: 5 }, () => timeLs(collection));
  const entries = spawnSync("ls", [collection], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).length;
  const plainRoot = Array.from({ length: 5 }, () => timeLs(mnt, []));
  const plainColl = Array.from({ length: 5 }, () => timeLs(collection, []));
  console.log(
    `warm ls /: median ${median(plainRoot).toFixed(1)} ms; warm ls /c001: median ${median(plainColl).toFixed(1)} ms (target ≤ 50)`,
  );
  console.log(
    `warm ls -l /: median ${median(rootWarm).toFixed(1)} ms; warm ls -l /c001 (${entries} patients): median ${median(collWarm).toFixed(1)} ms (target ≤ 50)`,
  );

  const seriesDir = join(mnt, "c000/P-0000/1.2.826.0.1.3680043.10.1500.1.0/SM_1.2.826.0.1.3680043.10.1500.2.0");
  const mountReads: number[] = [];
  const sdkReads: number[] = [];
  for (const key of keys) {
    t0 = process.hrtime.bigint();
    execFileSync("bash", ["-c", `cat ${seriesDir}/${key.split("/")[1]} > /dev/null`]);
    mountReads.push(ms(t0));
    t0 = process.hrtime.bigint();
    const out = await client.send(
      new GetObjectCommand({ Bucket: "idc-open-data", Key: key, Range: `bytes=0-${INSTANCE_BYTES - 1}` }),
    );
    await out.Body!.transformToByteArray();
    sdkReads.push(ms(t0));
  }
  const mbps = (t: number): number => INSTANCE_BYTES / 1048576 / (t / 1000);
  const ratio = median(sdkReads) / median(mountReads);
  console.log(
    `50 MiB instance cold: mount ${mbps(median(mountReads)).toFixed(0)} MiB/s (median ${median(mountReads).toFixed(0)} ms), SDK ranged GET ${mbps(median(sdkReads)).toFixed(0)} MiB/s (median ${median(sdkReads).toFixed(0)} ms): ratio ${ratio.toFixed(2)}× (target ≥ 0.8)`,
  );
  console.log(`daemon RSS after the listings and reads: ${rssMb(pid).toFixed(0)} MB (target ≤ 300)`);

  bucketfs(["unmount", mnt]);
  rmSync(work, { recursive: true, force: true });
}

await main();
