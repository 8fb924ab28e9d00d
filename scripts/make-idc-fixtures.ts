/**
 * IDC test fixtures: a synthetic `idc_index` parquet with IDC's real column names and types,
 * zstd-compressed like idc-index-data's (pandas `to_parquet(compression="zstd")`), with the
 * `idc_index_data_version` provenance key and a `.sha256` sidecar; and real DICOM Part 10 files
 * (CT, MR, and a multi-frame tiled slide-microscopy level) laid out as in IDC's buckets:
 * `<bucket>/<crdc_series_uuid>/<crdc_instance_uuid>.dcm`, optionally uploaded (public-read)
 * to an S3 server.
 *
 *   npx tsx scripts/make-idc-fixtures.ts OUT_DIR [--upload]     (--upload uses S3_ENDPOINT, AWS_* env)
 *
 * Parquet writing: hyparquet-writer (dev dependency); zstd pages via the `zstd` program (Debian
 * package zstd), since Node 20's zlib has no zstd and hyparquet-compressors only decompresses.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CreateBucketCommand, PutBucketAclCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { parquetWriteFile } from "hyparquet-writer";
import { IDC_INDEX_COLUMNS, VERSION_METADATA_KEY } from "../src/idc/columns.js";
import { dicomFile, SOP_CLASS } from "./idc-fixtures/dicom.js";

export type IndexRow = Record<string, string | number | null>;

/** Deterministic UUID from a name, so re-running the generator yields the same keys. */
export function uuidFor(name: string): string {
  const h = createHash("sha256").update(name).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function zstdCompress(input: Uint8Array): Uint8Array {
  const out = spawnSync("zstd", ["-q", "-3", "-c"], { input, maxBuffer: 1 << 30 });
  if (out.status !== 0) throw new Error(`zstd failed: ${out.stderr?.toString()} (apt-get install zstd)`);
  return new Uint8Array(out.stdout);
}

/** Writes rows (missing cells = NULL) as an idc_index parquet, plus `<path>.sha256`. Returns the sha256. */
export function writeIdcIndexParquet(
  path: string,
  rows: IndexRow[],
  options: { version?: string; rowGroupSize?: number; omit?: string[] } = {},
): string {
  const omit = new Set(options.omit ?? []);
  const columnData = IDC_INDEX_COLUMNS.filter(([name]) => !omit.has(name)).map(([name, type]) => ({
    name,
    type,
    nullable: true,
    data: rows.map((r) => {
      const v = r[name];
      if (v === null || v === undefined) return null;
      return type === "INT64" ? BigInt(v) : v;
    }),
  }));
  mkdirSync(dirname(path), { recursive: true });
  parquetWriteFile({
    filename: path,
    columnData,
    codec: "ZSTD",
    compressors: { ZSTD: zstdCompress },
    rowGroupSize: options.rowGroupSize ?? 100_000,
    kvMetadata: options.version ? [{ key: VERSION_METADATA_KEY, value: options.version }] : [],
  });
  const sha = createHash("sha256").update(readFileSync(path)).digest("hex");
  writeFileSync(`${path}.sha256`, `${sha}  ${path.split("/").pop()}\n`);
  return sha;
}

export interface FixtureInstance {
  uuid: string;
  key: string;
  bytes: Buffer;
}

export interface FixtureSeries {
  row: IndexRow;
  /** Path inside the mount: collection/patient/study/Modality_SeriesUID */
  dir: string;
  bucket: string;
  instances: FixtureInstance[];
}

interface SeriesPlan {
  collection: string;
  bucket: string;
  patient: string;
  study: number;
  modality: "CT" | "MR" | "SM";
  instances: number;
  license: string;
}

const PLANS: SeriesPlan[] = [
  {
    collection: "test_ct",
    bucket: "idc-open-data",
    patient: "CT-001",
    study: 1,
    modality: "CT",
    instances: 3,
    license: "CC BY 4.0",
  },
  {
    collection: "test_ct",
    bucket: "idc-open-data",
    patient: "CT-001",
    study: 1,
    modality: "MR",
    instances: 2,
    license: "CC BY 4.0",
  },
  {
    collection: "test_ct",
    bucket: "idc-open-data",
    patient: "CT-002",
    study: 2,
    modality: "CT",
    instances: 2,
    license: "CC BY 4.0",
  },
  {
    collection: "test_sm",
    bucket: "idc-open-data-cr",
    patient: "SM-001",
    study: 3,
    modality: "SM",
    instances: 2,
    license: "CC BY-NC 4.0",
  },
  {
    collection: "test_two",
    bucket: "idc-open-data-two",
    patient: "HN-001",
    study: 4,
    modality: "CT",
    instances: 1,
    license: "CC BY 3.0",
  },
];

function uid(...parts: number[]): string {
  return `1.2.826.0.1.3680043.10.1500.${parts.join(".")}`;
}

function buildSeries(plan: SeriesPlan, index: number): FixtureSeries {
  const seriesUid = uid(2, index + 1);
  const studyUid = uid(1, plan.study);
  const seriesUuid = uuidFor(`series-${seriesUid}`);
  const instances: FixtureInstance[] = [];
  for (let i = 0; i < plan.instances; i++) {
    const sm = plan.modality === "SM";
    // SM: instance 0 is a tiled level (16 tiles of 256×256 RGB, ~3 MB), instance 1 a thumbnail.
    const frames = sm && i === 0 ? 16 : 1;
    const size = sm ? 256 : 64;
    const bytes = dicomFile({
      sopClassUid: SOP_CLASS[plan.modality],
      sopInstanceUid: uid(3, index + 1, i + 1),
      studyInstanceUid: studyUid,
      seriesInstanceUid: seriesUid,
      patientId: plan.patient,
      modality: plan.modality,
      studyDate: "20200102",
      seriesDescription: `${plan.modality} series ${index + 1}`,
      instanceNumber: i + 1,
      rows: size,
      columns: size,
      frames,
      samplesPerPixel: sm ? 3 : 1,
      seed: index * 100 + i + 1,
    });
    const uuid = uuidFor(`instance-${seriesUid}-${i}`);
    instances.push({ uuid, key: `${seriesUuid}/${uuid}.dcm`, bytes });
  }
  const sizeMb = instances.reduce((s, x) => s + x.bytes.length, 0) / 1e6;
  const row: IndexRow = {
    collection_id: plan.collection,
    analysis_result_id: null,
    PatientID: plan.patient,
    SeriesInstanceUID: seriesUid,
    StudyInstanceUID: studyUid,
    source_DOI: `10.0000/${plan.collection}`,
    PatientAge: "058Y",
    PatientSex: "F",
    StudyDate: "2020-01-02",
    StudyDescription: `study ${plan.study}`,
    BodyPartExamined: plan.modality === "SM" ? null : "CHEST",
    Modality: plan.modality,
    SOPClassUID: SOP_CLASS[plan.modality],
    sop_class_name: `${plan.modality} Image Storage`,
    TransferSyntaxUID: "1.2.840.10008.1.2.1",
    transfer_syntax_name: "Explicit VR Little Endian",
    PhotometricInterpretation: plan.modality === "SM" ? "RGB" : "MONOCHROME2",
    PixelRepresentation: "0",
    Manufacturer: "bucketfs",
    ManufacturerModelName: "fixture",
    SeriesDate: "2020-01-02",
    SeriesDescription: `${plan.modality} series ${index + 1}`,
    SeriesNumber: String(index + 1),
    instanceCount: plan.instances,
    license_short_name: plan.license,
    series_init_idc_version: 20,
    series_revised_idc_version: 24,
    aws_bucket: plan.bucket,
    crdc_series_uuid: seriesUuid,
    series_aws_url: `s3://${plan.bucket}/${seriesUuid}/*`,
    series_size_MB: sizeMb,
  };
  const dir = `${plan.collection}/${plan.patient}/${studyUid}/${plan.modality}_${seriesUid}`;
  return { row, dir, bucket: plan.bucket, instances };
}

export interface IdcFixtures {
  parquet: string;
  sha256: string;
  version: string;
  series: FixtureSeries[];
}

/** Writes the parquet and the DICOM files under outDir (data/<bucket>/<key>). */
export function makeIdcFixtures(outDir: string, version = "24.2.2"): IdcFixtures {
  const series = PLANS.map(buildSeries);
  const parquet = join(outDir, "idc_index.parquet");
  const sha256 = writeIdcIndexParquet(
    parquet,
    series.map((s) => s.row),
    { version },
  );
  for (const s of series) {
    for (const inst of s.instances) {
      const file = join(outDir, "data", s.bucket, inst.key);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, inst.bytes);
    }
  }
  return { parquet, sha256, version, series };
}

/** Creates IDC-named buckets (public-read) and uploads every instance (public-read). */
export async function uploadIdcFixtures(fixtures: IdcFixtures, client: S3Client): Promise<void> {
  const buckets = [...new Set(fixtures.series.map((s) => s.bucket))];
  for (const bucket of buckets) {
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: { name?: string }) => {
      if (err.name !== "BucketAlreadyOwnedByYou" && err.name !== "BucketAlreadyExists") throw err;
    });
    await client.send(new PutBucketAclCommand({ Bucket: bucket, ACL: "public-read" }));
  }
  for (const s of fixtures.series) {
    for (const inst of s.instances) {
      await client.send(
        new PutObjectCommand({
          Bucket: s.bucket,
          Key: inst.key,
          Body: inst.bytes,
          ACL: "public-read",
          ContentType: "application/dicom",
        }),
      );
    }
  }
}

export function clientFromEnv(env = process.env): S3Client {
  return new S3Client({
    endpoint: env.S3_ENDPOINT,
    region: env.AWS_REGION ?? "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

if (process.argv[1]?.endsWith("make-idc-fixtures.ts")) {
  const [outDir, flag] = process.argv.slice(2);
  if (!outDir) {
    console.error("usage: npx tsx scripts/make-idc-fixtures.ts OUT_DIR [--upload]");
    process.exit(2);
  }
  const fixtures = makeIdcFixtures(outDir);
  if (flag === "--upload") await uploadIdcFixtures(fixtures, clientFromEnv());
  console.log(
    `wrote ${fixtures.parquet} (sha256 ${fixtures.sha256}) and ${fixtures.series.length} series${flag === "--upload" ? ", uploaded" : ""}`,
  );
}
