/**
 * Starts the real S3 server (Ceph RGW on loopback, scripts/s3-server.sh) once for the whole run,
 * unless S3_ENDPOINT is already set, and hands its address and keys to the tests. Likewise the GCS
 * emulator (scripts/gcs-emulator.sh) unless STORAGE_EMULATOR_HOST is set, or BUCKETFS_TEST_BACKENDS
 * (e.g. "s3", as scripts/asan-tools.sh runs) leaves GCS out; and Azurite (scripts/azurite.sh)
 * unless AZURITE_BLOB_ENDPOINT is set or BUCKETFS_TEST_BACKENDS leaves "azure" out.
 */
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

export interface S3TestServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface GcsTestServer {
  /** Base URL with scheme, e.g. http://127.0.0.1:9230 (the client's apiEndpoint). */
  endpoint: string;
}

export interface AzureTestServer {
  /** Azurite's blob endpoint without the account, e.g. http://127.0.0.1:10000 (bucketfs --endpoint). */
  endpoint: string;
  account: string;
  /** Azurite's well-known development key (public; it protects nothing). */
  key: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3TestServer;
    gcs: GcsTestServer;
    azure: AzureTestServer;
  }
}

const script = resolve(import.meta.dirname, "../../scripts/s3-server.sh");
const gcsScript = resolve(import.meta.dirname, "../../scripts/gcs-emulator.sh");
const azuriteScript = resolve(import.meta.dirname, "../../scripts/azurite.sh");

export default async function setup(project: TestProject): Promise<() => void> {
  const stops: Array<(() => void) | undefined> = [];
  const stopAll = (): void => {
    for (const stop of stops.reverse()) stop?.();
  };
  try {
    stops.push(await startGcs(project));
    stops.push(await startAzurite(project));
    stops.push(startS3(project));
  } catch (err) {
    stopAll();
    throw err;
  }
  return stopAll;
}

/** A free loopback port, so parallel runs on one machine do not collide on a fixed one. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

async function startGcs(project: TestProject): Promise<(() => void) | undefined> {
  const backends = process.env.BUCKETFS_TEST_BACKENDS?.split(",").map((b) => b.trim());
  if (backends && !backends.includes("gcs")) return undefined;
  if (process.env.STORAGE_EMULATOR_HOST) {
    project.provide("gcs", { endpoint: process.env.STORAGE_EMULATOR_HOST });
    return undefined;
  }
  const stateDir = mkdtempSync(join(tmpdir(), "bucketfs-gcs-"));
  const port = process.env.GCS_PORT ?? String(await freePort());
  const output = execFileSync("bash", [gcsScript, "start", port, stateDir], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  project.provide("gcs", { endpoint: /STORAGE_EMULATOR_HOST=(\S+)/.exec(output)![1] });
  return () => execFileSync("bash", [gcsScript, "stop", stateDir, "--purge"], { stdio: "inherit" });
}

/** Azurite (scripts/azurite.sh) unless AZURITE_BLOB_ENDPOINT is set or BUCKETFS_TEST_BACKENDS leaves "azure" out. */
async function startAzurite(project: TestProject): Promise<(() => void) | undefined> {
  const backends = process.env.BUCKETFS_TEST_BACKENDS?.split(",").map((b) => b.trim());
  if (backends && !backends.includes("azure")) return undefined;
  if (process.env.AZURITE_BLOB_ENDPOINT) {
    project.provide("azure", azureFromEnv(process.env));
    return undefined;
  }
  const stateDir = mkdtempSync(join(tmpdir(), "bucketfs-azurite-"));
  const port = process.env.AZURITE_PORT ?? String(await freePort());
  const output = execFileSync("bash", [azuriteScript, "start", port, stateDir], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const env: Record<string, string> = {};
  for (const match of output.matchAll(/^(AZURITE_[A-Z_]+)=(\S+)$/gm)) env[match[1]] = match[2];
  project.provide("azure", azureFromEnv(env));
  return () => execFileSync("bash", [azuriteScript, "stop", stateDir, "--purge"], { stdio: "inherit" });
}

function azureFromEnv(env: Record<string, string | undefined>): AzureTestServer {
  return {
    endpoint: env.AZURITE_BLOB_ENDPOINT!,
    account: env.AZURITE_ACCOUNT ?? "devstoreaccount1",
    key: env.AZURITE_KEY!,
  };
}

function startS3(project: TestProject): (() => void) | undefined {
  if (process.env.S3_ENDPOINT) {
    project.provide("s3", fromEnv(process.env));
    return undefined;
  }
  const { dataDir, server } = startS3Somewhere(Number(process.env.S3_PORT ?? 7480), "bucketfs-s3-");
  project.provide("s3", server);
  return () => execFileSync("bash", [script, "stop", dataDir, "--purge"], { stdio: "inherit" });
}

/**
 * An RGW of its own in a fresh directory `<TMPDIR>/<prefix>XXXXXX`, from port `first` on. RGW
 * needs ten consecutive ports and another suite on the machine may hold a block; the script
 * refuses a busy one at once, so try the blocks 100 apart. Stop it with `s3-server.sh stop DIR --purge`.
 */
export function startS3Somewhere(first: number, prefix: string): { dataDir: string; server: S3TestServer } {
  for (let port = first; ; port += 100) {
    const dataDir = mkdtempSync(join(tmpdir(), prefix));
    try {
      const output = execFileSync("bash", [script, "start", String(port), dataDir], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      });
      const env: Record<string, string> = {};
      for (const line of output.split("\n")) {
        const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
        if (match) env[match[1]] = match[2].replace(/^"|"$/g, "");
      }
      return { dataDir, server: fromEnv(env) };
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true }); // a busy port block: this directory stays unused
      if (port >= first + 500) throw err;
    }
  }
}

function fromEnv(env: Record<string, string | undefined>): S3TestServer {
  return {
    endpoint: env.S3_ENDPOINT!,
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
    region: env.AWS_REGION ?? "us-east-1",
  };
}
