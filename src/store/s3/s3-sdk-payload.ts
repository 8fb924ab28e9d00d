/**
 * Request and response bodies of the S3 requests that go through the SDK, handled so that big
 * bodies cost the event loop as little as possible: the SDK's own ways hash on the event loop and
 * copy response bodies twice. (The lean data path has its own bodies: s3-body.ts.)
 */
import { webcrypto } from "node:crypto";
import type { Readable } from "node:stream";
import type { BuildMiddleware, MiddlewareStack } from "@smithy/types";
import { StoreError } from "../errors.js";

/** Below this, hashing on the event loop is cheaper than a trip to the thread pool. */
const OFF_THREAD_HASH_BYTES = 256 * 1024;

/**
 * SigV4 signs the SHA-256 of the body, and the SDK hashes it on the event loop: 8 MiB takes
 * ~10 ms, during which no FUSE request is answered. Hashing with WebCrypto runs on libuv's thread
 * pool; the signer uses an `x-amz-content-sha256` header that is already there.
 */
export async function withPayloadHash<I extends object, O extends object>(
  command: { middlewareStack: MiddlewareStack<I, O> },
  body: Buffer,
): Promise<void> {
  if (body.length < OFF_THREAD_HASH_BYTES) return;
  const hash = Buffer.from(await webcrypto.subtle.digest("SHA-256", body)).toString("hex");
  const setHeader: BuildMiddleware<I, O> = (next) => (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) request.headers["x-amz-content-sha256"] = hash;
    return next(args);
  };
  command.middlewareStack.add(setHeader, { step: "build", name: "bucketfsPayloadHash" });
}

/**
 * Reads a response body into one buffer of the announced length. The SDK's transformToByteArray
 * collects chunks and concatenates them, doubling the copying and the garbage on the hottest path
 * of a sequential read.
 */
export async function readBody(body: Readable, length: number | undefined): Promise<Buffer> {
  if (length === undefined) return Buffer.concat(await body.toArray());
  const buffer = Buffer.allocUnsafe(length);
  let offset = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (offset + chunk.length > length)
      throw new StoreError("Other", `GetObject body longer than its Content-Length ${length}`);
    chunk.copy(buffer, offset);
    offset += chunk.length;
  }
  return offset === length ? buffer : buffer.subarray(0, offset);
}
