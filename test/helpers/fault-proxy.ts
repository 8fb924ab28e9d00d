/**
 * A loopback HTTP proxy between bucketfs and the real S3 server that injects network faults:
 * answers with an S3 error status for chosen methods, adds latency, or resets connections.
 * Only ever listens on and connects to 127.0.0.1.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultPlan {
  /** Answer requests whose method is listed with this HTTP status (e.g. 503) instead of forwarding. */
  failMethods?: string[];
  status?: number;
  /** Destroy the client connection instead of answering (connection reset). */
  reset?: boolean;
  latencyMs?: number;
}

export class FaultProxy {
  plan: FaultPlan = {};
  /** Requests seen, by method. */
  readonly seen = new Map<string, number>();
  private server?: http.Server;

  constructor(private readonly target: URL) {}

  get endpoint(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
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

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    this.seen.set(method, (this.seen.get(method) ?? 0) + 1);
    const plan = this.plan;
    if (plan.latencyMs) await new Promise((r) => setTimeout(r, plan.latencyMs));
    if (plan.failMethods?.includes(method)) {
      req.resume();
      if (plan.reset) {
        req.socket.destroy();
        return;
      }
      const status = plan.status ?? 503;
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${status === 503 ? "SlowDown" : "InternalError"}</Code><Message>injected</Message></Error>`);
      return;
    }
    const upstream = http.request(
      { host: this.target.hostname, port: this.target.port, method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }
}
