/**
 * The Prometheus endpoint (`--metrics-addr`): GET /metrics in the text exposition format.
 * Address forms: `9464` (loopback), `127.0.0.1:9464`, `:9464` (all interfaces), `[::1]:9464`.
 * Port 0 picks a free port; the address actually bound is returned (and shown by status).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export class MetricsAddressError extends Error {
  override readonly name = "MetricsAddressError";
}

export function parseMetricsAddress(text: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:]+\]|[^:]*):)?(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535)
    throw new MetricsAddressError(`invalid metrics address "${text}": use PORT, HOST:PORT or :PORT`);
  const host = match[1] === undefined ? "127.0.0.1" : match[1] === "" ? "0.0.0.0" : match[1].replace(/^\[|\]$/g, "");
  return { host, port };
}

export async function startMetricsServer(
  address: string,
  registry: Registry,
): Promise<{ server: Server; address: string }> {
  const { host, port } = parseMetricsAddress(address);
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "/").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("bucketfs: metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return { server, address: `${shownHost}:${bound.port}` };
}
