/**
 * bench-azure.ts — 1 GiB sequential write and read through an az:// mount against
 * @azure/storage-blob used directly, on Azurite, in the same run; plus the daemon's CPU time per
 * GiB moved (utime + stime from /proc/PID/stat, read before and after each copy).
 *   - raw write: BlockBlobClient.uploadFile (staged 8 MiB blocks, 4 in flight, as the mount's defaults)
 *   - raw read:  BlobClient.download, one streaming GET into a sink
 *   - mount:     cp into the mount (until cp returns: the file is uploaded on close), then cat
 *                from a fresh mount with an empty cache, so reads come from the server
 * Each figure is the median of BENCH_RUNS runs; ratios compare medians of the same run.
 *
 *   npx tsc -p . && npx tsx scripts/bench-azure.ts
 * Env: BENCH_SIZE_MIB (1024), BENCH_RUNS (3), AZURITE_PORT (10100; ignored when
 *      AZURITE_BLOB_ENDPOINT points at a running Azurite with the development account).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

const MIB = 1024 * 1024;
const sizeMiB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "bucketfs-bench-azure-"));
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

interface Azurite {
  endpoint: string;
  account: string;
  key: string;
  stop: () => void;
}

function startAzurite(): Azurite {
  const script = join(root, "scripts/azurite.sh");
  const state = join(work, "azurite");
  const external = process.env.AZURITE_BLOB_ENDPOINT;
  const out = external
    ? ""
    : execFileSync("bash", [script, "start", process.env.AZURITE_PORT ?? "10100", state], { encoding: "utf8" });
  const value = (name: string): string => process.env[name] ?? new RegExp(`^${name}=(\\S+)$`, "m").exec(out)![1];
  return {
    endpoint: external ?? value("AZURITE_BLOB_ENDPOINT"),
    account: value("AZURITE_ACCOUNT"),
    key: value("AZURITE_KEY"),
    stop: external ? () => undefined : () => execFileSync("bash", [script, "stop", state, "--purge"]),
  };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

/** CPU seconds (user + system) a process has used so far: fields 14 and 15 of /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // the name may hold spaces
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sh = (command: string): string => execFileSync("bash", ["-c", command], { encoding: "utf8" });

const mounted = new Set<string>();

function mount(azurite: Azurite, container: string): { dir: string; pid: number; stop: () => void } {
  const dir = mkdtempSync(join(work, "mnt-"));
  const env = { ...process.env, AZURE_STORAGE_KEY: azurite.key };
  const out = execFileSync(
    process.execPath,
    [
      join(root, "bin/bucketfs.js"),
      "mount",
      `az://${azurite.account}/${container}`,
      dir,
      "--endpoint",
      azurite.endpoint,
      "--cache-dir",
      mkdtempSync(join(work, "cache-")),
    ],
    { encoding: "utf8", env },
  );
  const pid = Number(/\(daemon pid (\d+)/.exec(out)?.[1]);
  if (!pid) throw new Error(`no daemon pid in: ${out}`);
  mounted.add(dir);
  return { dir, pid, stop: () => unmount(dir) };
}

function unmount(dir: string): void {
  execFileSync(process.execPath, [join(root, "bin/bucketfs.js"), "unmount", dir]);
  mounted.delete(dir);
}

/** Runs `command` and returns its wall time and the daemon's CPU seconds spent meanwhile. */
async function measured(pid: number, command: string): Promise<{ secs: number; cpu: number }> {
  const before = cpuSeconds(pid);
  const secs = await timed(async () => sh(command));
  return { secs, cpu: cpuSeconds(pid) - before };
}

async function main(): Promise<void> {
  const azurite = startAzurite();
  try {
    const service = new BlobServiceClient(
      `${azurite.endpoint}/${azurite.account}`,
      new StorageSharedKeyCredential(azurite.account, azurite.key),
    );
    const containerName = `bench-${Date.now().toString(36)}`;
    const container = service.getContainerClient(containerName);
    await container.create();
    const source = join(work, "source.bin");
    sh(`head -c ${sizeMiB * MIB} /dev/urandom > ${source}`);
    const t = {
      rawWrite: [] as number[],
      mountWrite: [] as number[],
      rawRead: [] as number[],
      mountRead: [] as number[],
      writeCpu: [] as number[],
      readCpu: [] as number[],
    };

    const writer = mount(azurite, containerName);
    for (let r = 0; r < runs; r++) {
      const raw = container.getBlockBlobClient(`raw-${r}`);
      t.rawWrite.push(await timed(() => raw.uploadFile(source, { blockSize: 8 * MIB, concurrency: 4 })));
      const sink = new Writable({ write: (_chunk, _enc, done) => done() });
      t.rawRead.push(await timed(async () => pipeline((await raw.download()).readableStreamBody!, sink)));
      await raw.delete(); // keep Azurite's disk flat between runs
      const write = await measured(writer.pid, `cp ${source} ${writer.dir}/m-${r}`);
      t.mountWrite.push(write.secs);
      t.writeCpu.push(write.cpu);
    }
    writer.stop();
    const reader = mount(azurite, containerName); // a fresh mount and cache: reads come from the server
    for (let r = 0; r < runs; r++) {
      const read = await measured(reader.pid, `cat ${reader.dir}/m-${r} > /dev/null`);
      t.mountRead.push(read.secs);
      t.readCpu.push(read.cpu);
    }
    reader.stop();

    const gib = sizeMiB / 1024;
    const mbps = (secs: number[]): string =>
      `${((sizeMiB * MIB) / 1e6 / median(secs)).toFixed(0)} MB/s (median ${median(secs).toFixed(2)} s of ${secs.map((s) => s.toFixed(2)).join(", ")})`;
    const perGiB = (cpu: number[]): string =>
      `${(median(cpu) / gib).toFixed(2)} CPU-s/GiB (${cpu.map((c) => (c / gib).toFixed(2)).join(", ")})`;
    console.log(
      `Azurite 3.35.0, @azure/storage-blob 12.28.0, ${sizeMiB} MiB, ${runs} runs, load average ${sh("cut -d' ' -f1-3 /proc/loadavg").trim()}`,
    );
    console.log(`write  @azure/storage-blob uploadFile (8 MiB x 4) : ${mbps(t.rawWrite)}`);
    console.log(`write  through the az:// mount (cp)               : ${mbps(t.mountWrite)}`);
    console.log(`read   @azure/storage-blob download (one stream)  : ${mbps(t.rawRead)}`);
    console.log(`read   through the az:// mount (cat, cold cache)  : ${mbps(t.mountRead)}`);
    console.log(`ratio  mount / SDK throughput, write : ${(median(t.rawWrite) / median(t.mountWrite)).toFixed(2)}`);
    console.log(`ratio  mount / SDK throughput, read  : ${(median(t.rawRead) / median(t.mountRead)).toFixed(2)}`);
    console.log(`daemon CPU  write : ${perGiB(t.writeCpu)}`);
    console.log(`daemon CPU  read  : ${perGiB(t.readCpu)}`);
  } finally {
    for (const dir of [...mounted]) unmount(dir);
    azurite.stop();
    // Only once nothing is mounted below it: a recursive delete must never walk into a live mount.
    if (mounted.size === 0) rmSync(work, { recursive: true, force: true });
  }
}

await main();
