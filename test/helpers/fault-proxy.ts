/**
 * A loopback HTTP proxy between bucketfs and the real S3 server that injects network faults:
 * S3 error answers (500 InternalError, 503 SlowDown/ServiceUnavailable), added latency,
 * connection resets before the answer, resets in the middle of a body (a truncated body),
 * and stalls (the request is held, then answered or dropped).
 *
 * Faults apply to requests whose method is in `failMethods` (all methods when omitted) and are
 * injected with probability `rate` (default 1) from a seeded PRNG, so runs are reproducible.
 * `injected` counts faults by kind. Only ever listens on and connects to 127.0.0.1.
 *
 * The proxy runs in the test process: while it serves, never block the event loop (use the
 * async `shTry`/`sh` helpers, not spawnSync-based ones), or the mount under test deadlocks.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type FaultKind = "status" | "reset" | "midBodyReset" | "stall";

export interface FaultPlan {
  /** Methods the faults apply to (e.g. ["GET"]); all methods when omitted. */
  failMethods?: string[];
  /** Answer with this HTTP status (500, 503…) instead of forwarding. */
  status?: number;
  /** S3 error code in the body; default SlowDown for 503, InternalError otherwise. */
  code?: string;
  /** Destroy the client connection instead of answering (connection reset). */
  reset?: boolean;
  /** Forward the answer but cut the connection after this many body bytes (truncated body). */
  midBodyResetAfter?: number;
  /** Hold the request this long, then forward it (or drop it with `reset`). */
  stallMs?: number;
  /** Delay every request (faulted or not) by this much. */
  latencyMs?: number;
  /** Fraction of matching requests that get the fault (0..1, default 1). */
  rate?: number;
  seed?: number;
}

export class FaultProxy {
  plan: FaultPlan = {};
  /** Requests seen, by method. */
  readonly seen = new Map<string, number>();
  /** Faults injected, by kind. */
  readonly injected = new Map<FaultKind, number>();
  private server?: http.Server;
  private rng = mulberry32(1);
  private seededWith?: number;

  constructor(private readonly target: URL) {}

  get endpoint(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Total faults injected so far. */
  get faultCount(): number {
    return [...this.injected.values()].reduce((a, b) => a + b, 0);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  /** Whether this request gets the plan's fault. */
  private hit(method: string, plan: FaultPlan): boolean {
    if (plan.failMethods && !plan.failMethods.includes(method)) return false;
    // failMethods alone means "answer 503" (the original behaviour).
    const faulty =
      plan.failMethods !== undefined ||
      plan.status !== undefined ||
      plan.reset ||
      plan.midBodyResetAfter !== undefined ||
      plan.stallMs !== undefined;
    if (!faulty) return false;
    if (plan.seed !== undefined && plan.seed !== this.seededWith) {
      this.rng = mulberry32(plan.seed);
      this.seededWith = plan.seed;
    }
    return this.rng() < (plan.rate ?? 1);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    this.seen.set(method, (this.seen.get(method) ?? 0) + 1);
    const plan = this.plan;
    // latencyMs and stallMs are part of the scenarios (a slow or stalled server), not waits.
    if (plan.latencyMs) await sleep(plan.latencyMs);
    const fault = this.hit(method, plan);
    if (fault && plan.stallMs !== undefined) {
      this.count("stall");
      await sleep(plan.stallMs);
      if (plan.reset) return void req.socket.destroy();
      return this.forward(req, res, undefined);
    }
    if (fault && plan.midBodyResetAfter !== undefined) {
      this.count("midBodyReset");
      return this.forward(req, res, plan.midBodyResetAfter);
    }
    if (fault && plan.reset) {
      this.count("reset");
      req.resume();
      return void req.socket.destroy();
    }
    if (fault) {
      this.count("status");
      req.resume();
      const status = plan.status ?? 503;
      const code = plan.code ?? (status === 503 ? "SlowDown" : "InternalError");
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message></Error>`);
      return;
    }
    return this.forward(req, res, undefined);
  }

  /** Forwards to the server; with `cutAfter`, sends only that many body bytes, then resets. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, cutAfter: number | undefined): void {
    const upstream = http.request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (cutAfter === undefined) return void up.pipe(res);
        let sent = 0;
        up.on("data", (chunk: Buffer) => {
          if (sent >= cutAfter) return;
          const part = chunk.subarray(0, cutAfter - sent);
          sent += part.length;
          if (sent < cutAfter) {
            res.write(part);
            return;
          }
          up.destroy();
          // Reset the connection once the partial bytes have been handed to the kernel (the
          // write's callback), so the client gets them first: a signal, not a short pause.
          res.write(part, () => res.socket?.destroy());
        });
        up.on("end", () => res.end());
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Small seeded PRNG: reproducible fault sequences. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
