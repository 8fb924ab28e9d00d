/**
 * Response bodies of the lean S3 data path (s3-data-path.ts), read under limits taken from what
 * was asked for, never from what the server announces: a data body goes straight into one buffer
 * sized by the validated request, an error body is capped. The server is treated as hostile.
 */
import type { IncomingMessage } from "node:http";
import { StoreError } from "../errors.js";

/** An S3 error response: `name` is its XML Code, so toStoreError maps it like an SDK exception. */
export class S3HttpError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(
    readonly status: number,
    code: string | undefined,
    message: string | undefined,
  ) {
    super(message ?? `HTTP ${status}`);
    this.name = code ?? `Http${status}`;
    this.$metadata = { httpStatusCode: status };
  }
}

/** What a GET may deliver: `length` bytes, after dropping `skip` leading bytes (see planBody). */
export interface BodyPlan {
  skip: number;
  length: number;
}

/** Error bodies are a few hundred bytes of XML; anything bigger is cut off (and the socket dropped). */
const ERROR_BODY_CAP = 64 * 1024;

/**
 * Reads the body into ONE buffer of `plan.length` bytes, copying each socket chunk to its offset:
 * no chunk array, no concat. More bytes than planned is a protocol error (not retried); fewer,
 * or a connection lost mid-body, is a truncated read, which the caller retries.
 */
export function readInto(res: IncomingMessage, plan: BodyPlan, what: string, key: string): Promise<Buffer> {
  const target = Buffer.allocUnsafe(plan.length);
  let toSkip = plan.skip;
  let offset = 0;
  return new Promise((resolve, reject) => {
    const truncated = (cause?: unknown): void =>
      reject(
        new StoreError("Unreachable", `${what} body truncated: ${offset} of ${plan.length} bytes`, key, { cause }),
      );
    res.on("data", (chunk: Buffer) => {
      let bytes = chunk;
      if (toSkip > 0) {
        const dropped = Math.min(toSkip, bytes.length);
        toSkip -= dropped;
        bytes = bytes.subarray(dropped);
      }
      if (offset + bytes.length > plan.length) {
        reject(new StoreError("Other", `${what} body longer than the ${plan.length} bytes announced`, key));
        res.destroy();
        return;
      }
      offset += bytes.copy(target, offset);
    });
    res.on("end", () => (offset === plan.length ? resolve(target) : truncated()));
    res.on("error", truncated);
    // A socket closed mid-body; after "end" or a rejection this is a no-op.
    res.on("close", () => truncated());
  });
}

/** Reads and discards a body we do not need (PUT answers), so the socket goes back to the pool. */
export function drain(res: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    res
      .on("end", resolve)
      .on("error", reject)
      .on("close", () => reject(new Error("response closed before its end")));
    res.resume();
  });
}

/** Turns an error response into an S3HttpError from its XML Code and Message, reading at most 64 KiB. */
export async function errorFrom(res: IncomingMessage): Promise<S3HttpError> {
  const xml = await readCapped(res, ERROR_BODY_CAP).catch(() => "");
  return new S3HttpError(res.statusCode ?? 0, xmlText(xml, "Code"), xmlText(xml, "Message"));
}

function readCapped(res: IncomingMessage, cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    res.on("data", (chunk: Buffer) => {
      const room = cap - size;
      if (room <= 0) return;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(room, chunk.length);
      // Over the cap: stop reading; the socket is not worth saving for a server that does this.
      if (size >= cap) {
        res.destroy();
        resolve(Buffer.concat(chunks).toString("utf8"));
      }
    });
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
    res.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

/** The text of the first <name> element, unescaped; a bounded string and a lazy match, so cheap. */
function xmlText(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]{0,1024})</${name}>`).exec(xml);
  if (!match) return undefined;
  return match[1].replace(
    /&(lt|gt|quot|apos|amp);/g,
    (_, entity: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[entity] ?? "",
  );
}

/**
 * Decides, from the headers alone, how many bytes a ranged GET for [start, end) may bring, and
 * rejects a response that does not answer exactly that question. Nothing is allocated from an
 * announced length until it is known to be no larger than the request.
 */
export function planBody(res: IncomingMessage, start: number, end: number, what: string, key: string): BodyPlan {
  const status = res.statusCode;
  const announced = contentLength(res, what, key);
  const fail = (why: string): never => {
    throw new StoreError("Other", `${what}: ${why} for bytes ${start}-${end - 1}`, key);
  };
  if (status === 200) {
    // The whole object: fine only if it ends inside the requested range (it is that small).
    if (announced === undefined) fail("200 without Content-Length");
    if (announced! > end) fail(`200 with the whole object (${announced} bytes) instead of a range`);
    return { skip: Math.min(start, announced!), length: Math.max(0, announced! - start) };
  }
  if (status !== 206) fail(`unexpected HTTP ${status}`);
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers["content-range"] ?? "");
  if (!range) fail(`206 with Content-Range "${res.headers["content-range"] ?? ""}"`);
  const [first, last] = [Number(range![1]), Number(range![2])];
  const total = range![3] === "*" ? undefined : Number(range![3]);
  if (first !== start) fail(`Content-Range starts at ${first}`);
  if (last < first || last >= end || (total !== undefined && last >= total)) fail(`Content-Range ends at ${last}`);
  // Shorter than asked is only right at the end of the object.
  if (last !== end - 1 && (total === undefined || last !== total - 1))
    fail(`Content-Range ${first}-${last}/${range![3]} stops short`);
  const length = last - first + 1;
  if (announced !== undefined && announced !== length)
    fail(`Content-Length ${announced} disagrees with Content-Range ${first}-${last}`);
  return { skip: 0, length };
}

function contentLength(res: IncomingMessage, what: string, key: string): number | undefined {
  const header = res.headers["content-length"];
  if (header === undefined) return undefined;
  if (!/^\d{1,16}$/.test(header)) throw new StoreError("Other", `${what}: Content-Length "${header}"`, key);
  return Number(header);
}
