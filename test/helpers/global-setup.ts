/**
 * Starts the real S3 server (Ceph RGW on loopback, scripts/s3-server.sh) once for the whole run,
 * unless S3_ENDPOINT is already set, and hands its address and keys to the tests.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

export interface S3TestServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3TestServer;
  }
}

const script = resolve(import.meta.dirname, "../../scripts/s3-server.sh");

export default function setup(project: TestProject): (() => void) | undefined {
  if (process.env.S3_ENDPOINT) {
    project.provide("s3", fromEnv(process.env));
    return undefined;
  }
  const dataDir = mkdtempSync(join(tmpdir(), "bucketfs-s3-"));
  const output = execFileSync("bash", [script, "start", process.env.S3_PORT ?? "7480", dataDir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const env: Record<string, string> = {};
  for (const line of output.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2].replace(/^"|"$/g, "");
  }
  project.provide("s3", fromEnv(env));
  return () => execFileSync("bash", [script, "stop", dataDir, "--purge"], { stdio: "inherit" });
}

function fromEnv(env: Record<string, string | undefined>): S3TestServer {
  return {
    endpoint: env.S3_ENDPOINT!,
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
    region: env.AWS_REGION ?? "us-east-1",
  };
}
