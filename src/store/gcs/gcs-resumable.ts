/**
 * Multipart uploads on GCS as ONE streaming resumable upload session — the strategy chosen by
 * measurement (scripts/bench-gcs.ts, docs/benchmarks.md `## GCS`): on the emulator it wrote 1 GiB
 * 3.2x faster than parallel composite (gcs-compose.ts, kept as the alternative), and it leaves
 * no temporary objects, keeps the final object's MD5 (composites only have CRC32C), and incurs no
 * early-deletion charges for temporaries in Nearline/Coldline/Archive buckets.
 *
 * The ObjectStore contract lets parts arrive in any order and concurrently, but a session takes
 * bytes in order. So each part waits (holding its buffer, bounded by the Uploader's concurrency)
 * until every earlier part is sent; a part is acknowledged only once its bytes are on the server.
 * GCS needs every chunk but the final one to be a multiple of 256 KiB, and only
 * completeMultipart knows which part is last, so whatever does not fill a whole 256 KiB unit is
 * carried into the next chunk (or sent as the final one); any part size works. The session URI is the upload id: it needs no credentials of its own, stays
 * valid for a week, and lets a later process ask how many bytes the server already has.
 */
import { StoreError } from "../errors.js";

/** GCS's chunk granularity for resumable uploads. */
export const RESUMABLE_CHUNK = 256 * 1024;

/**
 * Out-of-order parts up to this many bytes are acknowledged at once (the contract allows a
 * caller to await part 3 before it sends part 1); beyond it a part is acknowledged only when
 * sent, which is the backpressure that bounds memory. A caller that awaits more than this many
 * bytes of parts ahead of a missing one, one by one, would wait forever: the Uploader never does.
 */
const MAX_EARLY_BYTES = 64 * 1024 * 1024;

/** Tries per chunk, like the S3 client's maxAttempts. */
const MAX_ATTEMPTS = 5;

export interface SessionResult {
  /** The finished object's generation. */
  generation: string;
}

interface Session {
  uri: string;
  /** Next part number to send. */
  next: number;
  /** Bytes the server has. */
  offset: number;
  waiting: Map<number, { body: Buffer; sent: () => void; failed: (err: unknown) => void }>;
  /** Bytes of waiting parts that were already acknowledged. */
  earlyBytes: number;
  /** The first failure, reported by completeMultipart to parts acknowledged early. */
  error?: unknown;
  /** Bytes after the last whole 256 KiB unit, sent with the next part or as the final chunk. */
  carry: Buffer;
  /** The chain of in-order PUTs; each waits for the one before. */
  chain: Promise<void>;
}

export class ResumableSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly fetchImpl: typeof fetch = fetch) {}

  /** Registers a session created by the client (`file.createResumableUpload`). */
  open(uri: string): void {
    this.sessions.set(uri, {
      uri,
      next: 1,
      offset: 0,
      waiting: new Map(),
      earlyBytes: 0,
      carry: Buffer.alloc(0),
      chain: Promise.resolve(),
    });
  }

  /** Resolves once the part's bytes are on the server; an out-of-order part, while few bytes wait early, at once. */
  sendPart(uri: string, partNumber: number, body: Buffer, key: string): Promise<void> {
    const session = this.session(uri, key);
    if (session.error) return Promise.reject(session.error);
    if (partNumber !== session.next && session.earlyBytes + body.length <= MAX_EARLY_BYTES) {
      session.earlyBytes += body.length;
      const release = (): void => {
        session.earlyBytes -= body.length;
      };
      // Resolved before it is sent: keep a copy, the caller may reuse `body` (see ObjectStore.uploadPart).
      session.waiting.set(partNumber, { body: Buffer.from(body), sent: release, failed: release });
      this.pump(session, key);
      return Promise.resolve();
    }
    return new Promise((sent, failed) => {
      session.waiting.set(partNumber, { body, sent, failed });
      this.pump(session, key);
    });
  }

  async complete(uri: string, partCount: number, key: string): Promise<SessionResult> {
    const session = this.session(uri, key);
    await session.chain;
    if (session.error) throw session.error;
    if (session.next !== partCount + 1) {
      throw new StoreError(
        "Other",
        `resumable upload incomplete: sent up to part ${session.next - 1} of ${partCount}`,
        key,
      );
    }
    const last = session.carry;
    const response = await this.put(session, last, session.offset + last.length, key);
    this.sessions.delete(uri);
    const resource = (await response.json()) as { generation?: string | number };
    return { generation: String(resource.generation ?? "") };
  }

  /** Cancels the session (GCS answers 499); nothing was committed, so failures are harmless. */
  async abort(uri: string): Promise<void> {
    this.sessions.delete(uri);
    await this.fetchImpl(uri, { method: "DELETE" }).then(
      (r) => r.body?.cancel(),
      () => undefined,
    );
  }

  private session(uri: string, key: string): Session {
    const session = this.sessions.get(uri);
    if (!session) throw new StoreError("NotFound", "no such resumable upload in this process", key);
    return session;
  }

  /** Sends every waiting part that is next in line, one PUT at a time. */
  private pump(session: Session, key: string): void {
    session.chain = session.chain.then(async () => {
      for (let part = session.waiting.get(session.next); part; part = session.waiting.get(session.next)) {
        const partNumber = session.next;
        session.waiting.delete(partNumber);
        try {
          const data = session.carry.length > 0 ? Buffer.concat([session.carry, part.body]) : part.body;
          const whole = data.length - (data.length % RESUMABLE_CHUNK);
          if (whole > 0) await this.put(session, data.subarray(0, whole), undefined, key);
          session.carry = Buffer.from(data.subarray(whole)); // a copy: `data` may be the caller's buffer
          session.next++;
          part.sent();
        } catch (err) {
          session.error = err;
          part.failed(err);
          for (const other of session.waiting.values()) other.failed(err);
          session.waiting.clear();
          return;
        }
      }
    });
  }

  /**
   * One chunk, retried on network failures, 429 and 5xx with capped backoff. Before a retry the
   * server is asked how many bytes it committed (`bytes *\/*`), and only the rest is resent.
   */
  private async put(session: Session, body: Buffer, total: number | undefined, key: string): Promise<Response> {
    const end = session.offset + body.length;
    for (let attempt = 1; ; attempt++) {
      if (session.offset < end - body.length)
        throw new StoreError("Other", "the server lost bytes of a resumable upload it had acknowledged", key);
      try {
        return await this.putOnce(session, body.subarray(body.length - (end - session.offset)), total, key);
      } catch (err) {
        const transient = err instanceof StoreError && (err.kind === "Unreachable" || err.kind === "Throttled");
        if (!transient || attempt >= MAX_ATTEMPTS) throw err;
        await new Promise((done) => setTimeout(done, Math.min(200 * 2 ** attempt, 5_000)));
        const finished = await this.refreshOffset(session, key).catch(() => undefined);
        if (finished) return finished;
      }
    }
  }

  /** Asks the server for its committed size; returns the final response if the upload already finished. */
  private async refreshOffset(session: Session, key: string): Promise<Response | undefined> {
    const response = await this.fetchImpl(session.uri, { method: "PUT", headers: { "Content-Range": "bytes */*" } });
    if (response.status === 200 || response.status === 201) return response;
    await response.body?.cancel();
    if (response.status !== 308) throw new StoreError("Other", `resumable upload status: HTTP ${response.status}`, key);
    const range = /bytes=0-(\d+)/.exec(response.headers.get("range") ?? "");
    session.offset = range ? Number(range[1]) + 1 : 0;
    return undefined;
  }

  private async putOnce(session: Session, body: Buffer, total: number | undefined, key: string): Promise<Response> {
    const start = session.offset;
    const range =
      body.length > 0 ? `bytes ${start}-${start + body.length - 1}/${total ?? "*"}` : `bytes */${total ?? "*"}`;
    let response: Response;
    try {
      // (The cast: our Buffers are never backed by a SharedArrayBuffer, which is all the type guards against.)
      response = await this.fetchImpl(session.uri, {
        method: "PUT",
        body: body as Uint8Array<ArrayBuffer>,
        headers: { "Content-Range": range },
      });
    } catch (err) {
      throw new StoreError("Unreachable", "resumable upload chunk failed to send", key, { cause: err });
    }
    const done = total !== undefined ? response.status === 200 || response.status === 201 : response.status === 308;
    if (!done) {
      await response.body?.cancel();
      const kind =
        response.status === 404 || response.status === 410
          ? "NotFound"
          : response.status === 429 || response.status >= 500
            ? "Throttled"
            : "Other";
      throw new StoreError(kind, `resumable upload chunk: HTTP ${response.status}`, key);
    }
    if (total === undefined) await response.body?.cancel();
    session.offset = start + body.length;
    return response;
  }
}
