/**
 * The control socket of a mount: a unix stream socket in the runtime dir (mode 0600, one per
 * mountpoint) that speaks one JSON request and one JSON response per line. `bucketfs status`
 * uses it; a socket that refuses connections means the daemon is gone.
 *
 * The directory of a socket must be the user's own and 0700 (dirs.ts, checkPrivateDir): a
 * socket is neither served from nor connected to in one another user made, who could otherwise
 * listen in the daemon's place and answer `bucketfs sign` or `status`.
 */
import { chmodSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { MountStatus } from "../metrics/status.js";
import { checkPrivateDir, ensurePrivateDir, idOf, privateRuntimeDir } from "./dirs.js";

export type ControlRequest =
  | { op: "ping" }
  | { op: "status" }
  | { op: "set-log-level"; level: string }
  /** A presigned GET URL for a path in the mount (`bucketfs sign`). */
  | { op: "sign"; path: string; expiresSeconds: number };

export type ControlResponse =
  { ok: true; status?: MountStatus; logLevel?: string; url?: string } | { ok: false; error: string };

export type ControlHandler = (request: ControlRequest) => Promise<ControlResponse>;

/** The daemon could not be reached over its control socket. */
export class ControlUnavailableError extends Error {
  override readonly name = "ControlUnavailableError";
}

/** Longest request accepted; requests are tiny, so anything larger is a confused client. */
const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * The socket of `mountpoint`'s daemon. The runtime directory is created (0700) or checked here,
 * before anything is mounted: the daemon asks for this path first, so a squatted directory fails
 * the mount cleanly (RuntimeDirError), and once the directory is ours nobody else can replace it
 * (/tmp is sticky).
 */
export function controlSocketPath(mountpoint: string): string {
  return join(privateRuntimeDir(), `${idOf(mountpoint)}.sock`);
}

export async function startControlServer(socketPath: string, handle: ControlHandler): Promise<Server> {
  ensurePrivateDir(dirname(socketPath));
  // A socket file left by a daemon that died: nobody listens on it, so it is safe to replace.
  rmSync(socketPath, { force: true });
  const server = createServer((socket) => serveConnection(socket, handle));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  server.unref();
  return server;
}

function serveConnection(socket: Socket, handle: ControlHandler): void {
  let buffered = "";
  socket.setEncoding("utf8");
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    if (buffered.length > MAX_REQUEST_BYTES) return socket.destroy();
    const end = buffered.indexOf("\n");
    if (end < 0) return;
    socket.pause();
    void answer(buffered.slice(0, end), handle).then((response) => socket.end(`${JSON.stringify(response)}\n`));
  });
}

async function answer(line: string, handle: ControlHandler): Promise<ControlResponse> {
  try {
    return await handle(JSON.parse(line) as ControlRequest);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export function stopControlServer(server: Server, socketPath: string): void {
  server.close();
  rmSync(socketPath, { force: true });
}

/** Sends one request to the daemon of `mountpoint`; rejects with ControlUnavailableError. */
export function controlRequest(
  socketPath: string,
  request: ControlRequest,
  timeoutMs = 5_000,
): Promise<ControlResponse> {
  try {
    checkPrivateDir(dirname(socketPath));
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let received = "";
    const fail = (why: string): void => {
      socket.destroy();
      reject(new ControlUnavailableError(why));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer on ${socketPath} within ${timeoutMs / 1000} s`));
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", (err: NodeJS.ErrnoException) =>
      fail(`cannot connect to ${socketPath} (${err.code ?? err.message})`),
    );
    socket.on("end", () => {
      try {
        resolve(JSON.parse(received) as ControlResponse);
      } catch {
        reject(new ControlUnavailableError(`malformed answer on ${socketPath}`));
      }
    });
  });
}
