/**
 * bench-gcs.ts — large sequential write and read through a gs:// mount against the raw
 * @google-cloud/storage client, on the Cloud Storage emulator, all in the same run; plus the
 * upload-strategy comparison behind src/store/gcs/gcs-compose.ts:
 *   - resumable:  one streaming resumable upload with the raw client (bucket.upload)
 *   - composite:  parts as temporary objects in parallel + compose + cleanup (GcsStore with
 *                 uploadStrategy "composite", through the mount's Uploader: 8 MiB parts, 4 in flight)
 *   - session:    GcsStore's default, the same Uploader feeding one resumable session in order
 * Each figure is the median of BENCH_RUNS runs; ratios compare medians of the same run.
 *
 *   npx tsc -p . && npx tsx scripts/bench-gcs.ts
 * Env: BENCH_SIZE_MIB (1024), BENCH_RUNS (3), GCS_PORT (9230; ignored when STORAGE_EMULATOR_HOST
 *      points at a running emulator).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Storage } from "@google-cloud/storage";
import { GcsStore } from "../src/store/gcs/gcs-store.js";
import { Uploader } from "../src/write/uploader.js";

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "bucketfs-bench-gcs-"));

function startEmulator(): { endpoint: string; stop: () => void } {
  if (process.env.STORAGE_EMULATOR_HOST) return { endpoint: process.env.STORAGE_EMULATOR_HOST, stop: () => undefined };
  const state = join(work, "emulator");
  const out = execFileSync(
    "bash",
    [join(root, "scripts/gcs-emulator.sh"), "start", process.env.GCS_PORT ?? "9230", state],
    { encoding: "utf8" },
  );
  return {
    endpoint: /STORAGE_EMULATOR_HOST=(\S+)/.exec(out)![1],
    stop: () => execFileSync("bash", [join(root, "scripts/gcs-emulator.sh"), "stop", state, "--purge"]),
  };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sh = (command: string): string => execFileSync("bash", ["-c", command], { encoding: "utf8" });
const bucketfs = (...args: string[]): string =>
  execFileSync(process.execPath, [join(root, "bin/bucketfs.js"), ...args], { encoding: "utf8" });

const mounted = new Set<string>();

function mount(bucket: string, endpoint: string): { dir: string; stop: () => void } {
  const dir = mkdtempSync(join(work, "mnt-"));
  bucketfs("mount", `gs://${bucket}`, dir, "--endpoint", endpoint, "--cache-dir", mkdtempSync(join(work, "cache-")));
  mounted.add(dir);
  return {
    dir,
    stop: () => {
      bucketfs("unmount", dir);
      mounted.delete(dir);
    },
  };
}

async function main(): Promise<void> {
  const emulator = startEmulator();
  try {
    const client = new Storage({ apiEndpoint: emulator.endpoint, projectId: "demo-bucketfs" });
    const bucketName = `bench-${Date.now().toString(36)}`;
    await client.createBucket(bucketName);
    const bucket = client.bucket(bucketName);
    const composite = new Uploader(
      new GcsStore({ bucket: bucketName, endpoint: emulator.endpoint, uploadStrategy: "composite" }),
      { partSize: 8 * MIB, concurrency: 4 },
    );
    const store = new GcsStore({ bucket: bucketName, endpoint: emulator.endpoint }); // the mount's default: resumable
    const session = new Uploader(store, { partSize: 8 * MIB, concurrency: 4 });
    const source = join(work, "source.bin");
    sh(`head -c ${sizeMiB * MIB} /dev/urandom > ${source}`);
    const size = sizeMiB * MIB;
    const t = {
      resumable: [] as number[],
      session: [] as number[],
      composite: [] as number[],
      mountWrite: [] as number[],
      rawRead: [] as number[],
      mountRead: [] as number[],
    };

    const writer = mount(bucketName, emulator.endpoint);
    for (let r = 0; r < runs; r++) {
      t.resumable.push(
        await timed(() => bucket.upload(source, { destination: `raw-${r}`, resumable: true, validation: false })),
      );
      await bucket.file(`raw-${r}`).delete(); // keep the emulator's disk and memory flat between runs
      const handle = await open(source, "r");
      t.composite.push(
        await timed(() => composite.upload({ key: `composite-${r}`, source: handle, size, metadata: {} })),
      );
      await store.delete({ key: `composite-${r}` });
      t.session.push(await timed(() => session.upload({ key: `session-${r}`, source: handle, size, metadata: {} })));
      await store.delete({ key: `session-${r}` });
      await handle.close();
      t.mountWrite.push(await timed(async () => sh(`cp ${source} ${writer.dir}/m-${r}`)));
    }
    writer.stop();
    const reader = mount(bucketName, emulator.endpoint); // a fresh mount and cache: reads come from the server
    for (let r = 0; r < runs; r++) {
      const sink = new Writable({ write: (_chunk, _enc, done) => done() });
      t.rawRead.push(await timed(() => pipeline(bucket.file(`m-${r}`).createReadStream({ validation: false }), sink)));
      t.mountRead.push(await timed(async () => sh(`cat ${reader.dir}/m-${r} > /dev/null`)));
    }
    reader.stop();

    const mibps = (secs: number[]): string =>
      `${(sizeMiB / median(secs)).toFixed(0)} MiB/s (median ${median(secs).toFixed(2)} s of ${secs.map((s) => s.toFixed(2)).join(", ")})`;
    console.log(`GCS emulator, ${sizeMiB} MiB, ${runs} runs`);
    console.log(`write  raw client, one streaming resumable upload : ${mibps(t.resumable)}`);
    console.log(`write  GcsStore parallel composite (8 MiB x 4)    : ${mibps(t.composite)}`);
    console.log(`write  GcsStore resumable session (8 MiB parts)   : ${mibps(t.session)}`);
    console.log(`write  through the gs:// mount (cp)               : ${mibps(t.mountWrite)}`);
    console.log(`read   raw client, one streaming download         : ${mibps(t.rawRead)}`);
    console.log(`read   through the gs:// mount (cat)              : ${mibps(t.mountRead)}`);
    console.log(`ratio  composite / resumable time   : ${(median(t.composite) / median(t.resumable)).toFixed(2)}`);
    console.log(
      `ratio  GcsStore session / raw resumable time : ${(median(t.session) / median(t.resumable)).toFixed(2)}`,
    );
    console.log(`ratio  mount write / raw write time : ${(median(t.mountWrite) / median(t.resumable)).toFixed(2)}`);
    console.log(`ratio  mount read / raw read time   : ${(median(t.mountRead) / median(t.rawRead)).toFixed(2)}`);
  } finally {
    for (const dir of mounted) bucketfs("unmount", dir);
    emulator.stop();
    // Only once nothing is mounted below it: a recursive delete must never walk into a live mount.
    if (mounted.size === 0) rmSync(work, { recursive: true, force: true });
  }
}

await main();
