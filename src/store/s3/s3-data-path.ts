/**
 * The lean data path of S3Store: ranged GET, PutObject and UploadPart over node:http(s) directly.
 *
 * Why: a cold 1 GiB read through the SDK spent most of its CPU on per-byte overhead (body chunks
 * concatenated, promise ticks per chunk, the SDK's middleware and HTTP layers, GC of it all).
 * Here a GET body goes straight from the socket into one buffer of the requested size, and the
 * control plane (head, list, multipart create/complete/abort, copy, delete) stays on the SDK.
 *
 * Same behaviour as the SDK path: errors map through toStoreError (XML Code, then HTTP status),
 * 5xx/throttling/network failures and truncated bodies are retried with the same backoff, and an
 * unreachable server is waited for up to `outagePatienceMs`. `BUCKETFS_S3_DATA_PATH=sdk` turns
 * this path off (escape hatch, and the benchmark's baseline).
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { setImmediate, setTimeout as sleep } from "node:timers/promises";
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { StoreError } from "../errors.js";
import type { IncomingHttpHeaders } from "node:http";
import type { ByteRange, GetRequest, HeadRequest, ObjectInfo, PutRequest, UploadPartRequest } from "../object-store.js";
import { drain, errorFrom, planBody, readInto, S3HttpError } from "./s3-body.js";
import { toStoreError } from "./s3-errors.js";
import { EMPTY_SHA256, S3Requester, type DataEndpoint, type RequestSpec } from "./s3-request.js";
import { backoffMs, isOutage, outageWaitMs } from "./s3-retry.js";

export interface DataPathOptions {
  bucket: string;
  requestTimeoutMs: number;
  maxAttempts: number;
  outagePatienceMs: number;
  noSignRequest: boolean;
}

/** Bytes hashed per turn of the event loop (see payloadHash). */
const HASH_SLICE_BYTES = 1024 * 1024;

/** S3 error codes worth another attempt even though their status alone would not say so. */
const RETRY_CODES = new Set(["SlowDown", "Throttling", "RequestTimeout", "InternalError", "ServiceUnavailable"]);

/**
 * The lean path for this store, or undefined when the SDK must carry data too: forced by
 * BUCKETFS_S3_DATA_PATH=sdk; an HTTPS proxy (HTTPS_PROXY without a NO_PROXY exemption makes the
 * shared agent a tunnelling proxy agent; this path supports direct connections only); or an
 * endpoint the SDK's rules resolve to something other than plain SigV4 for "s3" (S3 Express,
 * access points; FIPS/dual-stack from the environment). Decided once, at construction.
 */
export function leanDataPath(
  client: S3Client,
  config: S3ClientConfig,
  agent: http.Agent,
  options: DataPathOptions,
): S3DataPath | undefined {
  if (process.env.BUCKETFS_S3_DATA_PATH === "sdk") return undefined;
  if (process.env.AWS_USE_FIPS_ENDPOINT === "true" || process.env.AWS_USE_DUALSTACK_ENDPOINT === "true")
    return undefined;
  const endpoint = resolveEndpoint(client, config, options.bucket);
  if (!endpoint) return undefined;
  if (agent.constructor !== (endpoint.protocol === "https:" ? https.Agent : http.Agent)) return undefined;
  // The client's resolved provider: static keys, profile (fromIni), env, SSO... all keep working.
  const credentials = options.noSignRequest ? undefined : () => client.config.credentials();
  const clockOffset = (): number => client.config.systemClockOffset;
  return new S3DataPath(new S3Requester(endpoint, agent, credentials, options.requestTimeoutMs, clockOffset), options);
}

/** The bucket's URL as the SDK computes it (path style, virtual host, or AWS's regional name). */
function resolveEndpoint(client: S3Client, config: S3ClientConfig, bucket: string): DataEndpoint | undefined {
  const region = typeof config.region === "string" ? config.region : undefined;
  if (!region) return undefined;
  const resolved = client.config.endpointProvider({
    Bucket: bucket,
    Region: region,
    Endpoint: typeof config.endpoint === "string" ? config.endpoint : undefined,
    ForcePathStyle: config.forcePathStyle ?? false,
    UseFIPS: false,
    UseDualStack: false,
    Accelerate: false,
    UseGlobalEndpoint: false,
  });
  const scheme = (
    resolved.properties?.authSchemes as { name?: string; signingName?: string; signingRegion?: string }[] | undefined
  )?.[0];
  if (scheme?.name !== "sigv4" || scheme.signingName !== "s3" || resolved.url.search !== "") return undefined;
  const protocol = resolved.url.protocol;
  if (protocol !== "http:" && protocol !== "https:") return undefined;
  return {
    protocol,
    hostname: resolved.url.hostname.replace(/^\[|\]$/g, ""),
    port: resolved.url.port ? Number(resolved.url.port) : undefined,
    host: resolved.url.host,
    basePath: resolved.url.pathname.replace(/\/$/, ""),
    signingRegion: scheme.signingRegion ?? region,
  };
}

export class S3DataPath {
  constructor(
    private readonly requester: S3Requester,
    private readonly options: DataPathOptions,
  ) {}

  /** A ranged GET: the bytes of [start, end) that exist, in one buffer allocated once per attempt. */
  get(req: GetRequest & { range: ByteRange }): Promise<Buffer> {
    const { start, end } = req.range;
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` };
    if (req.ifMatch) headers["if-match"] = req.ifMatch;
    const spec: RequestSpec = { method: "GET", key: req.key, headers, payloadHash: EMPTY_SHA256 };
    return this.withRetries("GetObject", req.key, req.signal, () =>
      this.requester.send(spec, req.signal, async (res) => {
        if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorFrom(res);
        return readInto(res, planBody(res, start, end, "GetObject", req.key), "GetObject", req.key);
      }),
    );
  }

  /**
   * A HEAD without the SDK's per-request cost (readdir sends one per entry it has not seen). The
   * headers are bounded by Node's parser (16 KiB); metadata is every x-amz-meta-* header.
   */
  head(req: HeadRequest): Promise<ObjectInfo> {
    const spec: RequestSpec = { method: "HEAD", key: req.key, headers: {}, payloadHash: EMPTY_SHA256 };
    return this.withRetries("HeadObject", req.key, req.signal, () =>
      this.requester.send(spec, req.signal, async (res) => {
        await drain(res);
        if (res.statusCode !== 200) throw new S3HttpError(res.statusCode ?? 0, "", "");
        return objectInfoFrom(req.key, res.headers);
      }),
    );
  }

  /** A presigned URL for a HEAD of `key`, for the native HEAD threads. */
  presignHead(key: string, expiresInSeconds: number): Promise<string> {
    return this.requester.presignHead(key, expiresInSeconds);
  }

  async put(req: PutRequest): Promise<{ etag: string }> {
    // The SDK's default type, so an object looks the same whichever path wrote it.
    const headers: Record<string, string> = { "content-type": req.contentType || "application/octet-stream" };
    if (req.ifMatch) headers["if-match"] = req.ifMatch;
    if (req.ifNoneMatch) headers["if-none-match"] = req.ifNoneMatch;
    for (const [name, value] of Object.entries(req.metadata ?? {})) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    const spec: RequestSpec = {
      method: "PUT",
      key: req.key,
      headers,
      body: req.body,
      payloadHash: await this.payloadHash(req.body),
    };
    return { etag: await this.putBody("PutObject", spec, req.signal) };
  }

  async uploadPart(req: UploadPartRequest): Promise<{ etag: string }> {
    const spec: RequestSpec = {
      method: "PUT",
      key: req.key,
      query: { partNumber: String(req.partNumber), uploadId: req.uploadId },
      headers: {},
      body: req.body,
      payloadHash: await this.payloadHash(req.body),
    };
    return { etag: await this.putBody("UploadPart", spec, req.signal) };
  }

  private putBody(what: string, spec: RequestSpec, signal: AbortSignal | undefined): Promise<string> {
    return this.withRetries(what, spec.key, signal, () =>
      this.requester.send(spec, signal, async (res) => {
        if (res.statusCode !== 200) throw await errorFrom(res);
        await drain(res);
        return typeof res.headers.etag === "string" ? res.headers.etag : "";
      }),
    );
  }

  /**
   * The payload hash a body is signed with. Over HTTPS, UNSIGNED-PAYLOAD: TLS already protects the
   * bytes end to end, so hashing them again would be pure cost. Over plain HTTP the signature must
   * cover the body, or nothing but TCP's 16-bit checksum guards it. Measured against Ceph RGW 16:
   * it accepts UNSIGNED-PAYLOAD over HTTP, refuses a wrong SHA-256 (400 XAmzContentSHA256Mismatch)
   * and a wrong Content-MD5 (400 BadDigest), but ignores x-amz-checksum-crc32/crc32c entirely (a
   * wrong one is stored), so the cheap CRCs (zlib.crc32 4.3 GB/s here) would check nothing. MD5
   * (0.65 GB/s) costs twice SHA-256 with SHA-NI (1.4 GB/s), so the signed SHA-256 is the cheapest
   * check the server actually makes: ~0.7 CPU-s per GiB uploaded. UNSIGNED-PAYLOAD over HTTP was
   * measured too (1 GiB `dd` through the mount, loopback RGW): the daemon's main thread −0.3 and
   * RGW −0.3 to −0.8 CPU-s/GiB, throughput within noise; not worth uploading unverified bytes.
   *
   * Computed here, on the event loop, in slices with a turn of the loop between them, so FUSE
   * requests are answered meanwhile (~0.7 ms per slice). Not WebCrypto: its digest copies the
   * whole body first (8 MiB per part), and those copies (fresh memory, page faults, external
   * memory that drives V8's full collections) cost more than the thread pool saved.
   */
  private async payloadHash(body: Buffer): Promise<string> {
    if (this.requester.secure) return "UNSIGNED-PAYLOAD";
    const hash = createHash("sha256");
    for (let at = 0; at < body.length; at += HASH_SLICE_BYTES) {
      if (at > 0) await setImmediate();
      hash.update(body.subarray(at, at + HASH_SLICE_BYTES));
    }
    return hash.digest("hex");
  }

  /**
   * Runs attempts until one succeeds: failures worth retrying get `maxAttempts` tries with the
   * SDK's backoff; if the server is unreachable after those, it is waited for (restart) up to
   * `outagePatienceMs`, like the SDK path's outage patience in S3Store.
   */
  private async withRetries<T>(
    what: string,
    key: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
  ): Promise<T> {
    const started = Date.now();
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        const wait = signal?.aborted ? undefined : this.retryWait(err, n, Date.now() - started);
        if (wait === undefined) throw finalError(err, what, key, signal?.aborted ?? false);
        await sleep(wait, undefined, { signal }).catch((aborted: unknown) => {
          throw toStoreError(aborted, what, key);
        });
      }
    }
  }

  private retryWait(err: unknown, attempt: number, waited: number): number | undefined {
    if (!retryable(err)) return undefined;
    if (attempt < this.options.maxAttempts) return backoffMs(attempt);
    const { outagePatienceMs } = this.options;
    return isOutage(err) && waited < outagePatienceMs ? outageWaitMs(attempt, waited, outagePatienceMs) : undefined;
  }
}

/** Network failures the SDK's standard strategy retries too, beyond the outage ones. */
const RETRY_NETWORK_CODES = new Set(["EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

function retryable(err: unknown): boolean {
  if (err instanceof S3HttpError)
    return err.status >= 500 || err.status === 429 || err.status === 408 || RETRY_CODES.has(err.name);
  // Truncated bodies; a protocol violation is "Other" and fails at once.
  if (err instanceof StoreError) return err.kind === "Unreachable";
  return isOutage(err) || RETRY_NETWORK_CODES.has((err as { code?: string } | undefined)?.code ?? "");
}

/**
 * The StoreError a failed call ends with. Node's HTTP parser errors (HPE_*) mean the server broke
 * the protocol, most often by sending more bytes than its Content-Length: say so.
 */
function finalError(err: unknown, what: string, key: string, aborted: boolean): StoreError {
  if (aborted)
    return toStoreError(Object.assign(new Error("aborted", { cause: err }), { name: "AbortError" }), what, key);
  const code = (err as { code?: string } | undefined)?.code ?? "";
  if (code.startsWith("HPE_")) {
    return new StoreError(
      "Other",
      `${what}: malformed HTTP response (${code}), e.g. a body longer than its Content-Length`,
      key,
      { cause: err },
    );
  }
  return toStoreError(err, what, key);
}

/** What a HEAD's headers say of an object; an unparsable date or length reads as 0. */
function objectInfoFrom(key: string, headers: IncomingHttpHeaders): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-amz-meta-") && typeof value === "string") metadata[name.slice("x-amz-meta-".length)] = value;
  }
  const size = Number(headers["content-length"]);
  const modified = Date.parse(headers["last-modified"] ?? "");
  const etag = typeof headers.etag === "string" ? headers.etag : "";
  return {
    key,
    size: Number.isSafeInteger(size) && size >= 0 ? size : 0,
    etag: etag === "" || etag.startsWith('"') ? etag : `"${etag}"`,
    lastModified: new Date(Number.isFinite(modified) ? modified : 0),
    metadata,
    contentType: headers["content-type"],
  };
}
