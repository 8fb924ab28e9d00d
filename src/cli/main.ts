/**
 * The `bucketfs` command line. Every command takes its options from the one table
 * (config/options.ts, through ./options.ts). Building the program loads only commander and that
 * table: each action imports its module when it runs, so `bucketfs --version` loads no SDK,
 * `bucketfs list` no FUSE binding, and an S3 mount no GCS or Azure client.
 */
import { Command } from "commander";
import { addCommandOptions, addMountOptions, ALL_MOUNT_OPTION_KEYS } from "./options.js";
import { VERSION } from "./version.js";

const IDC_INDEX_KEYS = ["idcIndex", "idcVersion", "idcIndexUrl", "cacheDir", "collections", "modality"] as const;

function mountCommand(): Command {
  const command = new Command("mount")
    .description("mount a bucket (s3://bucket[/prefix]) on a directory")
    .argument("<source>", "s3://bucket[/prefix]")
    .argument("<mountpoint>", "an existing, empty directory");
  addCommandOptions(command, ["options"]);
  addMountOptions(command, ALL_MOUNT_OPTION_KEYS);
  return command.action(async (source: string, mountpoint: string, flags: Record<string, unknown>) => {
    const { mount } = await import("./mount-command.js");
    await mount(source, mountpoint, flags);
  });
}

function signCommand(): Command {
  const command = new Command("sign")
    .description("print a presigned GET URL for a file in a mount, an s3:// object or an az:// blob")
    .argument("<target>", "path of a file in a bucketfs mount, s3://bucket/key, or az://account/container/key");
  addCommandOptions(command, ["expires", "maxExpiry"]);
  addMountOptions(command, ["endpoint", "region", "profile", "caBundle"], {
    endpoint: "s3:// and az:// targets: S3-compatible endpoint, or blob service (Azurite)",
    region: "s3:// targets: region",
    profile: "s3:// targets: credentials profile",
    caBundle: "s3:// targets: extra CA certificates (PEM)",
  });
  return command.action(async (target: string, flags: Record<string, unknown>) => {
    const { sign } = await import("./sign-command.js");
    console.log(await sign(target, flags));
  });
}

function cacheCommand(): Command {
  const command = new Command("cache").description("inspect or manage the on-disk read cache");
  const cacheDirHelp = { cacheDir: "the mount's --cache-dir (default $XDG_CACHE_HOME/bucketfs)" };
  const run =
    (name: "stats" | "clear" | "verify") =>
    async (flags: Record<string, unknown>): Promise<void> => {
      const commands = await import("./cache-command.js");
      await commands[name](flags);
    };
  const stats = command
    .command("stats")
    .description("size, chunks, and the hit ratio since mount if a mount uses the cache");
  addCommandOptions(addMountOptions(stats, ["cacheDir"], cacheDirHelp), ["json"]).action(run("stats"));
  addMountOptions(
    command.command("clear").description("remove every cached chunk (refused while a mount uses the cache)"),
    ["cacheDir"],
    cacheDirHelp,
  ).action(run("clear"));
  addMountOptions(
    command.command("verify").description("re-checksum every chunk; report and drop bad ones"),
    ["cacheDir"],
    cacheDirHelp,
  ).action(run("verify"));
  return command;
}

function idcCommand(): Command {
  const idc = new Command("idc").description("NCI Imaging Data Commons: the index behind `bucketfs mount idc`");
  const run =
    (name: "collections" | "indexUpdate" | "indexInfo") =>
    async (flags: Record<string, unknown>): Promise<void> => {
      const commands = await import("./idc-command.js");
      await commands[name](flags);
    };
  addMountOptions(
    idc.command("collections").description("collections with patients, series and size"),
    IDC_INDEX_KEYS,
  ).action(run("collections"));
  const index = idc.command("index").description("the IDC index on this machine");
  addMountOptions(
    index.command("update").description("download and load the published index (again)"),
    IDC_INDEX_KEYS,
  ).action(run("indexUpdate"));
  addMountOptions(index.command("info").description("which index version is in use, and where"), IDC_INDEX_KEYS).action(
    run("indexInfo"),
  );
  const info = idc
    .command("info")
    .description("what the index says about a mounted directory or file")
    .argument("<path>");
  addMountOptions(info, [...IDC_INDEX_KEYS, "endpoint", "idcSource"], {
    endpoint: "S3-compatible endpoint serving IDC's buckets",
  }).action(async (path: string, flags: Record<string, unknown>) =>
    (await import("./idc-command.js")).info(path, flags),
  );
  return idc;
}

function prefetchCommand(): Command {
  const command = new Command("prefetch")
    .description("warm the read cache of a mounted file, series, study or collection (like s5cmd cp, in place)")
    .argument("<path>", "a path inside a bucketfs mount");
  addMountOptions(command, ["cacheDir"], { cacheDir: "cache directory of that mount (for the free-space check)" });
  addCommandOptions(command, ["concurrency"]);
  return command.action(async (path: string, flags: Record<string, unknown>) =>
    (await import("./idc-command.js")).prefetch(path, flags),
  );
}

export function buildProgram(): Command {
  const program = new Command("bucketfs").description("mount object storage buckets as a filesystem").version(VERSION);
  program.addCommand(mountCommand());
  program.addCommand(idcCommand());
  program.addCommand(prefetchCommand());
  program.addCommand(cacheCommand());
  program.addCommand(signCommand());
  addCommandOptions(
    program
      .command("unmount")
      .alias("umount")
      .description("upload unsaved data, then unmount")
      .argument("<mountpoint>"),
    ["lazy"],
  ).action(async (mountpoint: string, opts: { lazy?: boolean }) =>
    (await import("./mount-command.js")).unmount(mountpoint, opts),
  );
  addCommandOptions(
    program.command("list").description("list bucketfs mounts on this machine, with dead daemons flagged"),
    ["json"],
  ).action(async (opts: { json?: boolean }) => (await import("./status-command.js")).listCommand(opts));
  addCommandOptions(
    program
      .command("status")
      .description("what a mount is doing: traffic, cache, unsaved data and uploads (all mounts if none given)")
      .argument("[mountpoint]"),
    ["json"],
  ).action(async (mountpoint: string | undefined, opts: { json?: boolean }) => {
    const [{ statusCommand }, { realpathOr }] = await Promise.all([
      import("./status-command.js"),
      import("./paths.js"),
    ]);
    await statusCommand(mountpoint && realpathOr(mountpoint), opts);
  });
  return program;
}

/** Errors whose message says it all; others also print their stack under BUCKETFS_DEBUG. By name: no module is loaded to test them. */
const KNOWN_ERRORS = new Set(["UsageError", "SourceError", "ConfigError", "UploadsFailedError"]);

export async function main(argv: string[]): Promise<void> {
  try {
    if (argv[2] === "__daemon") return await (await import("./daemon-child.js")).runDaemonChild(argv);
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const known = err instanceof Error && KNOWN_ERRORS.has(err.name);
    console.error(`bucketfs: ${err instanceof Error ? err.message : String(err)}`);
    if (!known && process.env.BUCKETFS_DEBUG) console.error(err);
    process.exit(1);
  }
}
