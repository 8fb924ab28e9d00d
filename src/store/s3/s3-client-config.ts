/**
 * How an S3 store's SDK client and connections are configured. Kept apart from S3Store because
 * `bucketfs sign` (security/sign.ts) builds its presigning client from the same configuration
 * and should not have to load the store to get it.
 */
import http from "node:http";
import type { S3ClientConfig } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { fromIni } from "@aws-sdk/credential-providers";
import { httpsAgentFor } from "../https-agent.js";

export interface S3StoreConfig {
  bucket: string;
  endpoint?: string;
  region?: string;
  profile?: string;
  /** Anonymous requests (public buckets), like `aws --no-sign-request`. */
  noSignRequest?: boolean;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; needed by most local servers. */
  pathStyle?: boolean;
  /** Per-attempt timeout of a request, in ms. */
  requestTimeoutMs?: number;
  maxAttempts?: number;
  maxSockets?: number;
  /** How long object requests keep retrying while the server is unreachable (restart), in ms. */
  outagePatienceMs?: number;
  /** PEM file of extra CAs to trust (`--ca-bundle`); HTTPS_PROXY/NO_PROXY are read from the environment. */
  caBundle?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The keep-alive agent of a store's connections (HTTPS: with `--ca-bundle` and HTTPS_PROXY). */
export function connectionAgent(config: S3StoreConfig): http.Agent {
  const agentOptions = { keepAlive: true, maxSockets: config.maxSockets ?? 64 };
  if (config.endpoint && !config.endpoint.startsWith("https:")) return new http.Agent(agentOptions);
  const host = config.endpoint ? new URL(config.endpoint).hostname : `s3.${config.region ?? "us-east-1"}.amazonaws.com`;
  return httpsAgentFor({ ...agentOptions, host, caBundle: config.caBundle });
}

/** The SDK client configuration of a store; `bucketfs sign` builds its presigning client from it too. */
export function clientConfig(config: S3StoreConfig, agent: http.Agent = connectionAgent(config)): S3ClientConfig {
  const secure = !config.endpoint || config.endpoint.startsWith("https:");
  const result: S3ClientConfig = {
    region: config.region ?? "us-east-1",
    endpoint: config.endpoint,
    forcePathStyle: config.pathStyle ?? Boolean(config.endpoint),
    maxAttempts: config.maxAttempts ?? 5,
    // Default checksums send aws-chunked bodies that Ceph RGW and others reject; only send them when required.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: new NodeHttpHandler({
      httpAgent: secure ? undefined : agent,
      httpsAgent: secure ? agent : undefined,
      connectionTimeout: 5_000,
      // An attempt that makes no progress this long fails (and is retried). The handler's own
      // requestTimeout only logs a warning by default, which left a stalled server hanging writes.
      socketTimeout: config.requestTimeoutMs ?? 60_000,
    }),
  };
  if (config.credentials) result.credentials = config.credentials;
  else if (config.profile) result.credentials = fromIni({ profile: config.profile });
  if (config.noSignRequest) {
    result.credentials = { accessKeyId: "", secretAccessKey: "" };
    result.signer = { sign: async (request) => request };
  }
  return result;
}
