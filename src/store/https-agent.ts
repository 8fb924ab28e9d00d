/**
 * The HTTPS agent for object-store requests on corporate networks: TLS verification always on,
 * extra CA certificates from `--ca-bundle` (added to Node's built-in roots, so public endpoints
 * keep working), and `HTTPS_PROXY` / `NO_PROXY` honoured via an HTTP CONNECT tunnel.
 * Proxy credentials in the URL are used but never logged.
 */
import https from "node:https";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { HttpsProxyAgent } from "https-proxy-agent";

export class CaBundleError extends Error {
  override readonly name = "CaBundleError";
}

export interface HttpsAgentOptions {
  /** Host the requests go to (for NO_PROXY); undefined = AWS's own endpoints. */
  host?: string;
  caBundle?: string;
  keepAlive: boolean;
  maxSockets: number;
  env?: NodeJS.ProcessEnv;
}

export function loadCaBundle(file: string): string[] {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new CaBundleError(`cannot read --ca-bundle ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, {
      cause: err,
    });
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----"))
    throw new CaBundleError(`--ca-bundle ${file} holds no PEM certificate`);
  return [...rootCertificates, pem];
}

/** The proxy URL for `host`, from HTTPS_PROXY unless NO_PROXY exempts the host. */
export function proxyFor(host: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const proxy = env.HTTPS_PROXY ?? env.https_proxy;
  if (!proxy) return undefined;
  const exempt = (env.NO_PROXY ?? env.no_proxy ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const name = (host ?? "").toLowerCase();
  const bypass = exempt.some(
    (rule) =>
      rule === "*" || name === rule.replace(/^\./, "") || name.endsWith(rule.startsWith(".") ? rule : `.${rule}`),
  );
  return bypass ? undefined : proxy;
}

export function httpsAgentFor(options: HttpsAgentOptions): https.Agent {
  const ca = options.caBundle ? loadCaBundle(options.caBundle) : undefined;
  const base = { keepAlive: options.keepAlive, maxSockets: options.maxSockets, ca, rejectUnauthorized: true };
  const proxy = proxyFor(options.host, options.env);
  return proxy ? new HttpsProxyAgent(proxy, base) : new https.Agent(base);
}
