/**
 * A mount's Prometheus endpoint (`--metrics-addr 127.0.0.1:PORT`) read from a test: a free
 * loopback port for it, and counters summed over the label sets that match.
 */
import { createServer } from "node:net";

/** A loopback port that is free now (the daemon binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export class MountMetrics {
  constructor(readonly port: number) {}

  /** The `--metrics-addr` value for this port. */
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  async text(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    if (!response.ok) throw new Error(`metrics: HTTP ${response.status}`);
    return response.text();
  }

  /**
   * One metric summed over its samples whose labels contain every `labels` fragment, e.g.
   * value("bucketfs_fuse_operations_total", 'op="read"'). A metric with no sample is 0.
   */
  async value(name: string, ...labels: string[]): Promise<number> {
    return sumOf(await this.text(), name, ...labels);
  }
}

export function sumOf(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!/^[{ ]/.test(rest)) continue; // another metric whose name starts with this one
    const labelText = rest.startsWith("{") ? rest.slice(0, rest.indexOf("}") + 1) : "";
    if (!labels.every((l) => labelText.includes(l))) continue;
    sum += Number(line.split(" ").pop());
  }
  return sum;
}
