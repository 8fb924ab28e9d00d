/**
 * soak.ts — mixed load through a real mount for a while (default 30 minutes), sampling the
 * daemon's RSS every 10 s; reports the curve and whether the RSS at the end is within 10% of
 * the RSS after warm-up (the first 20% of the run, at least one sample).
 *
 * Load, in a loop over a bounded working set of 40 files in 4 directories: write a file of
 * random size (up to 6 MiB) at random, read one back and verify its bytes, overwrite a range,
 * list a directory, rename, delete, stat. Every read is checked against what was written.
 *
 *   npx tsc -p . && npx tsx scripts/soak.ts --minutes 30 [--encrypt-cache]
 * Uses S3_ENDPOINT (+ AWS_* credentials) if set, else starts its own RGW on port 7570.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const minutes = Number(arg("minutes") ?? 30);
const encrypt = process.argv.includes("--encrypt-cache");
const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "bucketfs-soak-"));
const bin = join(root, "bin/bucketfs.js");
let ownServer = false;
if (!process.env.S3_ENDPOINT) {
  const out = execFileSync("bash", [join(root, "scripts/s3-server.sh"), "start", "7570", join(work, "s3")], {
    encoding: "utf8",
  });
  for (const line of out.split("\n")) {
    const [k, v] = line.split(/=(.*)/s);
    if (k && v !== undefined) process.env[k] = v;
  }
  ownServer = true;
}
const bucket = `soak-${Date.now().toString(36)}`;
await new S3Client({ endpoint: process.env.S3_ENDPOINT, region: "us-east-1", forcePathStyle: true }).send(
  new CreateBucketCommand({ Bucket: bucket }),
);
const mnt = join(work, "mnt");
mkdirSync(mnt);
const keyFile = join(work, "key");
writeFileSync(keyFile, randomBytes(32).toString("hex"), { mode: 0o600 });
execFileSync(
  process.execPath,
  [
    bin,
    "mount",
    `s3://${bucket}`,
    mnt,
    "--endpoint",
    process.env.S3_ENDPOINT!,
    "--cache-dir",
    join(work, "cache"),
    "--cache-size",
    "256M",
    ...(encrypt ? ["--encrypt-cache", "--encryption-key-file", keyFile] : []),
  ],
  { stdio: "inherit" },
);
const mounts = JSON.parse(execFileSync(process.execPath, [bin, "list", "--json"], { encoding: "utf8" })) as Array<{
  mountpoint: string;
  pid: number;
}>;
const pid = mounts.find((m) => m.mountpoint === mnt)!.pid;

const rssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
// Every change goes to a local mirror too: expected content comes from it, never from reading the
// mount back, so a lost, stale or mis-patched file on the mount is a mismatch.
const mirror = join(work, "mirror");
const names = ["a", "b", "c", "d"];
for (const d of names) {
  mkdirSync(join(mnt, d), { recursive: true });
  mkdirSync(join(mirror, d), { recursive: true });
}
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];
const stats = { ops: 0, bytesWritten: 0, bytesVerified: 0, mismatches: 0 };
const both = (rel: string): [string, string] => [join(mnt, rel), join(mirror, rel)];

/** Compares one file on the mount with the mirror: both missing, or the same bytes. */
function verify(rel: string): void {
  const [onMount, local] = both(rel);
  const there = existsSync(onMount);
  if (there !== existsSync(local)) {
    stats.mismatches++;
    console.error(`soak: ${rel} ${there ? "exists on the mount but was deleted" : "is missing on the mount"}`);
    return;
  }
  if (!there) return;
  const data = readFileSync(onMount);
  if (sha(data) !== sha(readFileSync(local))) {
    stats.mismatches++;
    console.error(`soak: ${rel} differs from what was written`);
  }
  stats.bytesVerified += data.length;
}

function step(): void {
  const dir = pick(names);
  const rel = join(dir, `f${Math.floor(Math.random() * 10)}`);
  const [name, local] = both(rel);
  const roll = Math.random();
  stats.ops++;
  if (roll < 0.3) {
    const data = randomBytes(Math.floor(Math.random() * 6 * 1024 * 1024));
    writeFileSync(name, data);
    writeFileSync(local, data);
    stats.bytesWritten += data.length;
  } else if (roll < 0.6) {
    verify(rel);
  } else if (roll < 0.7 && existsSync(local)) {
    for (const path of [name, local]) {
      const fd = openSync(path, "r+");
      writeSync(fd, Buffer.from("patch"), 0, 5, 100);
      closeSync(fd);
    }
  } else if (roll < 0.8) {
    readdirSync(join(mnt, dir)).forEach((f) => statSync(join(mnt, dir, f)));
  } else if (roll < 0.9 && existsSync(local)) {
    const to = join(pick(names), `f${Math.floor(Math.random() * 10)}`);
    if (to === rel) return;
    renameSync(name, join(mnt, to));
    renameSync(local, join(mirror, to));
  } else if (existsSync(local)) {
    unlinkSync(name);
    unlinkSync(local);
  }
}

const samples: Array<{ t: number; rss: number }> = [];
const start = Date.now();
const end = start + minutes * 60_000;
let nextSample = start;
try {
  while (Date.now() < end) {
    if (Date.now() >= nextSample) {
      samples.push({ t: Math.round((Date.now() - start) / 1000), rss: rssMiB() });
      nextSample += 10_000;
    }
    step();
  }
  samples.push({ t: Math.round((Date.now() - start) / 1000), rss: rssMiB() });
  // Last, every name: nothing lost, nothing deleted that came back, every byte as written.
  for (const d of names) for (let i = 0; i < 10; i++) verify(join(d, `f${i}`));
} finally {
  execFileSync(process.execPath, [bin, "unmount", mnt], { stdio: "inherit" });
  if (ownServer) execFileSync("bash", [join(root, "scripts/s3-server.sh"), "stop", join(work, "s3"), "--purge"]);
  rmSync(work, { recursive: true, force: true });
}
const warmIndex = Math.max(1, Math.floor(samples.length * 0.2));
const warm = samples[Math.min(warmIndex, samples.length - 1)];
const last = samples[samples.length - 1];
const max = Math.max(...samples.map((s) => s.rss));
const growth = (last.rss - warm.rss) / warm.rss;
console.log(
  `soak: ${minutes} min${encrypt ? " (--encrypt-cache)" : ""}, ${stats.ops} ops, ${(stats.bytesWritten / 2 ** 20).toFixed(0)} MiB written, ${(stats.bytesVerified / 2 ** 20).toFixed(0)} MiB read and verified, ${stats.mismatches} mismatches`,
);
console.log(`RSS curve (s:MiB): ${samples.map((s) => `${s.t}:${s.rss.toFixed(0)}`).join(" ")}`);
console.log(
  `RSS after warm-up ${warm.rss.toFixed(1)} MiB (t=${warm.t}s), end ${last.rss.toFixed(1)} MiB, max ${max.toFixed(1)} MiB: ${(growth * 100).toFixed(1)}% -> ${Math.abs(growth) <= 0.1 ? "PASS (within 10%)" : "FAIL (beyond 10%)"}`,
);
process.exit(stats.mismatches === 0 && growth <= 0.1 ? 0 : 1);
