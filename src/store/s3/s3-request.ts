/**
 * One signed S3 request over node:http(s), for the lean data path (s3-data-path.ts): SigV4 from
 * @smithy/signature-v4 with the SDK client's own credential provider, a keep-alive agent shared
 * with the SDK, and a no-progress timeout per attempt. No retries here.
 */
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, HttpRequest, Provider, SourceData } from "@smithy/types";

/** Where the bucket's objects live, as the SDK's endpoint rules resolved it (see s3-data-path.ts). */
export interface DataEndpoint {
  protocol: "http:" | "https:";
  hostname: string;
  port?: number;
  /** The Host header: the hostname (bracketed if IPv6) and a non-default port. */
  host: string;
  /** Path prefix of the bucket without a trailing slash: "/bucket" (path style) or "" (virtual host). */
  basePath: string;
  signingRegion: string;
}

export interface RequestSpec {
  method: "GET" | "PUT" | "HEAD";
  key: string;
  query?: Record<string, string>;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The x-amz-content-sha256 value: a hex digest, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
  body?: Buffer;
}

/** SHA-256 of nothing: the payload hash of a GET. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** A blackholed address fails after this long instead of the whole request timeout (the SDK's connectionTimeout). */
const CONNECT_TIMEOUT_MS = 5_000;

/** Errors a stalled attempt fails with; named like the SDK's, so retry and error mapping treat them alike. */
function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { name: "TimeoutError", code: "ETIMEDOUT" });
}

export class S3Requester {
  private readonly signer: SignatureV4 | undefined;
  private readonly transport: typeof http | typeof https;

  /** `credentials` undefined: anonymous, unsigned requests (`--no-sign-request`). */
  constructor(
    private readonly endpoint: DataEndpoint,
    private readonly agent: http.Agent,
    credentials: Provider<AwsCredentialIdentity> | undefined,
    private readonly timeoutMs: number,
    /** ms to add to this machine's clock: the SDK learns it from a server's Date when the clock is skewed. */
    private readonly clockOffset: () => number = () => 0,
  ) {
    this.transport = endpoint.protocol === "https:" ? https : http;
    // S3 signs the path as sent (already encoded once), hence uriEscapePath: false, like the SDK.
    this.signer =
      credentials &&
      new SignatureV4({
        service: "s3",
        region: endpoint.signingRegion,
        credentials,
        sha256: NodeSha256,
        uriEscapePath: false,
        applyChecksum: true,
      });
  }

  /** TLS: the transport itself protects the bytes in flight. */
  get secure(): boolean {
    return this.endpoint.protocol === "https:";
  }

  /** Sends one request; `onResponse` reads the answer, and its result is the request's. */
  async send<T>(
    spec: RequestSpec,
    signal: AbortSignal | undefined,
    onResponse: (res: IncomingMessage) => Promise<T>,
  ): Promise<T> {
    signal?.throwIfAborted();
    const path = `${this.endpoint.basePath}/${encodeKey(spec.key)}`;
    const headers = await this.sign(spec, path);
    const query = spec.query ? `?${encodeQuery(spec.query)}` : "";
    const options: http.RequestOptions = {
      method: spec.method,
      hostname: this.endpoint.hostname,
      port: this.endpoint.port,
      path: path + query,
      headers,
      agent: this.agent,
      signal,
    };
    return this.exchange(options, spec.body, onResponse);
  }

  private async sign(spec: RequestSpec, path: string): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      ...spec.headers,
      host: this.endpoint.host,
      "x-amz-content-sha256": spec.payloadHash,
    };
    if (spec.body) headers["content-length"] = String(spec.body.length);
    if (!this.signer) return headers;
    const request: HttpRequest = {
      method: spec.method,
      protocol: this.endpoint.protocol,
      hostname: this.endpoint.hostname,
      port: this.endpoint.port,
      path,
      query: spec.query,
      headers,
    };
    const signed = await this.signer.sign(request, { signingDate: new Date(Date.now() + this.clockOffset()) });
    return signed.headers;
  }

  /**
   * A presigned URL for a plain HEAD of `key` (native/src/head.c sends it). The smithy signer
   * costs a fraction of the SDK presigner's middleware stack, which is per-HEAD CPU here.
   */
  async presignHead(key: string, expiresInSeconds: number): Promise<string> {
    const path = `${this.endpoint.basePath}/${encodeKey(key)}`;
    const base = `${this.endpoint.protocol}//${this.endpoint.host}`;
    if (!this.signer) return base + path;
    const request: HttpRequest = {
      method: "HEAD",
      protocol: this.endpoint.protocol,
      hostname: this.endpoint.hostname,
      port: this.endpoint.port,
      path,
      query: {},
      // S3 signs a presigned URL's payload as UNSIGNED-PAYLOAD (the header is hoisted into the query).
      headers: { host: this.endpoint.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    };
    const signed = await this.signer.presign(request, {
      expiresIn: expiresInSeconds,
      signingDate: new Date(Date.now() + this.clockOffset()),
    });
    return `${base}${path}?${encodeQuery(signed.query as Record<string, string>)}`;
  }

  /** The request and its response as one promise: the first failure of either settles it and destroys the socket. */
  private exchange<T>(
    options: http.RequestOptions,
    body: Buffer | undefined,
    onResponse: (res: IncomingMessage) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const req = this.transport.request(options);
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      // Socket inactivity in either direction: a stalled server fails the attempt, a slow one does not.
      req.setTimeout(this.timeoutMs, () => fail(timeoutError(`no progress for ${this.timeoutMs} ms`)));
      req.on("socket", (socket) => watchConnect(socket, fail));
      req.on("error", fail);
      req.on("response", (res) => {
        onResponse(res).then((value) => {
          settled = true;
          resolve(value);
        }, fail);
      });
      req.end(body);
    });
  }
}

function watchConnect(socket: Socket, fail: (err: unknown) => void): void {
  if (!socket.connecting) return;
  const timer = setTimeout(
    () => fail(timeoutError(`no connection within ${CONNECT_TIMEOUT_MS} ms`)),
    CONNECT_TIMEOUT_MS,
  );
  const clear = (): void => clearTimeout(timer);
  socket.once("connect", clear).once("close", clear);
}

/** SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ percent-encoded (encodeURIComponent spares !'()* too). */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An object key as a URL path: each segment encoded, the slashes between them kept. */
export function encodeKey(key: string): string {
  return key.split("/").map(uriEncode).join("/");
}

function encodeQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .sort()
    .map((name) => `${uriEncode(name)}=${uriEncode(query[name])}`)
    .join("&");
}

/** The hash the signer wants (the SDK's own one lives in a package we do not depend on): node:crypto. */
class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    if (this.secret === undefined) return createHash("sha256");
    const s = this.secret;
    return createHmac(
      "sha256",
      typeof s === "string"
        ? s
        : ArrayBuffer.isView(s)
          ? Buffer.from(s.buffer, s.byteOffset, s.byteLength)
          : Buffer.from(s),
    );
  }
}
