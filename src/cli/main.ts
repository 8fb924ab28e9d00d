/**
 * The `bucketfs` command line: mount, unmount, list. Options for mount are derived from the one
 * schema in config/schema.ts.
 */
import { realpathSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { ConfigError, resolveMountOptions } from "../config/load.js";
import { MOUNT_OPTIONS } from "../config/schema.js";
import { parseSource, SourceError } from "../config/source.js";
import { unmountPath } from "../fuse/binding.js";
import { DAEMON_ENV, reportToParent, startInBackground } from "./background.js";
import { cacheCommand } from "./cache-command.js";
import { runDaemon, type DaemonRequest } from "./daemon.js";
import { idcCommand, prefetchCommand } from "./idc-command.js";
import { daemonAlive } from "./mount-health.js";
import { isMountpoint, processAlive, readMountRecord, removeMountRecord, takeExitReport, UploadsFailedError } from "./mount-table.js";
import { listCommand, statusCommand } from "./status-command.js";
import { UsageError } from "./preflight.js";
import { signCommand } from "./sign-command.js";

const ENTRY = fileURLToPath(new URL("../../bin/bucketfs.js", import.meta.url));

function mountCommand(): Command {
  const command = new Command("mount")
    .description("mount a bucket (s3://bucket[/prefix]) on a directory")
    .argument("<source>", "s3://bucket[/prefix]")
    .argument("<mountpoint>", "an existing, empty directory")
    .option("-o, --options <options...>", "comma-separated mount options (fstab style), e.g. ro,allow_other,endpoint=URL");
  for (const spec of MOUNT_OPTIONS) {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${spec.name}${spec.type === "boolean" ? "" : " <value>"}`;
    const help = `${spec.help}${spec.env ? ` [env ${spec.env}]` : ""}`;
    const option = new Option(flag, help);
    if (spec.default !== undefined && spec.type !== "boolean") option.default(undefined, String(spec.default));
    command.addOption(option);
  }
  return command.action(async (source: string, mountpoint: string, flags: Record<string, unknown>) => {
    const { options, ...rest } = flags;
    const { config, fuseOptions } = resolveMountOptions(rest, (options as string[] | undefined) ?? []);
    const req: DaemonRequest = { source: parseSource(source), mountpoint: realpathOr(mountpoint), config, fuseOptions };
    if (config.foreground) {
      await runDaemon(req, (error) => { if (!error) console.error(`bucketfs: ${req.source.url} mounted on ${req.mountpoint}`); });
      return;
    }
    const { pid, logFile } = await startInBackground(req, ENTRY);
    console.log(`bucketfs: ${req.source.url} mounted on ${req.mountpoint} (daemon pid ${pid}, log ${logFile})`);
  });
}

function realpathOr(path: string): string {
  // A mountpoint is taken as given: resolving it would stat it, which blocks if its daemon hangs.
  if (isMountpoint(resolvePath(path))) return resolvePath(path);
  try {
    return realpathSync(path);
  } catch {
    // A dead FUSE mountpoint cannot be resolved (ENOTCONN): use the absolute path as given.
    return resolvePath(path);
  }
}

async function unmount(mountpoint: string, opts: { lazy?: boolean }): Promise<void> {
  const path = realpathOr(mountpoint);
  const record = readMountRecord(path);
  if (record && daemonAlive(record.pid)) {
    // The daemon uploads unsaved data, unmounts and exits; wait for it so data is safe on return.
    process.kill(record.pid, "SIGTERM");
    for (let waited = 0; processAlive(record.pid); waited += 100) {
      if (waited > 10 * 60_000) throw new UsageError(`daemon ${record.pid} did not stop within 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = takeExitReport(path);
    if (report) {
      if (isMountpoint(path)) await unmountPath(path, true);
      removeMountRecord(path);
      throw new UploadsFailedError(`unmounted ${path}, but ${report.failed.length} file(s) could not be uploaded: ${report.failed.join(", ")}; their data is kept in the staging directory (see the daemon log)`);
    }
  } else if (isMountpoint(path)) {
    // No live daemon serves this mount: it is stale ("Transport endpoint is not connected").
    // A lazy unmount detaches it at once; a plain one could block or fail while programs hold it.
    console.error(`bucketfs: no daemon serves ${path}; removing the stale mount`);
    await unmountPath(path, true);
  }
  if (isMountpoint(path)) await unmountPath(path, opts.lazy);
  removeMountRecord(path);
  console.log(`bucketfs: unmounted ${path}`);
}

export function buildProgram(): Command {
  const program = new Command("bucketfs").description("mount object storage buckets as a filesystem").version("0.1.0");
  program.addCommand(mountCommand());
  program.addCommand(idcCommand());
  program.addCommand(prefetchCommand());
  program.addCommand(cacheCommand());
  program.addCommand(signCommand());
  program.command("unmount").alias("umount").description("upload unsaved data, then unmount")
    .argument("<mountpoint>").option("-l, --lazy", "detach now even if busy").action(unmount);
  program.command("list").description("list bucketfs mounts on this machine, with dead daemons flagged")
    .option("--json", "machine-readable output").action(listCommand);
  program.command("status").description("what a mount is doing: traffic, cache, unsaved data and uploads (all mounts if none given)")
    .argument("[mountpoint]").option("--json", "machine-readable output")
    .action((mountpoint: string | undefined, opts: { json?: boolean }) => statusCommand(mountpoint && realpathOr(mountpoint), opts));
  return program;
}

async function runDaemonChild(): Promise<void> {
  const req = JSON.parse(process.env[DAEMON_ENV] ?? "{}") as DaemonRequest;
  delete process.env[DAEMON_ENV];
  await runDaemon(req, reportToParent);
}

export async function main(argv: string[]): Promise<void> {
  try {
    if (argv[2] === "__daemon") return await runDaemonChild();
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const known = err instanceof UsageError || err instanceof SourceError || err instanceof ConfigError || err instanceof UploadsFailedError;
    console.error(`bucketfs: ${err instanceof Error ? err.message : String(err)}`);
    if (!known && process.env.BUCKETFS_DEBUG) console.error(err);
    process.exit(1);
  }
}
