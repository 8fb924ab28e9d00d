/**
 * The background daemon's entry (`bucketfs.js __daemon SOURCE MOUNTPOINT`). Its modules (the
 * daemon, the stores' SDKs) load while the launching process still checks the options; the
 * request then comes over IPC.
 */
import { reportToParent, requestFromParent, setDaemonTitle } from "./background.js";
import { runDaemon } from "./daemon.js";

export async function runDaemonChild(_argv: string[]): Promise<void> {
  const req = await requestFromParent();
  setDaemonTitle(req);
  await runDaemon(req, reportToParent);
}
