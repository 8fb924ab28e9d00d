/** The background daemon's entry (`bucketfs.js __daemon SOURCE MOUNTPOINT`): the request comes in the environment. */
import { DAEMON_ENV, reportToParent, setDaemonTitle } from "./background.js";
import { runDaemon, type DaemonRequest } from "./daemon.js";

export async function runDaemonChild(_argv: string[]): Promise<void> {
  const req = JSON.parse(process.env[DAEMON_ENV] ?? "{}") as DaemonRequest;
  delete process.env[DAEMON_ENV];
  setDaemonTitle(req);
  await runDaemon(req, reportToParent);
}
