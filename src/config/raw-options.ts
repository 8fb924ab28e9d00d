/**
 * Mount options as given, before any check: defaults aside, from lowest to highest precedence,
 * environment variables, `-o` options, command-line flags. Unknown `-o` options are FUSE's and
 * pass through. load.ts checks the result against the schema.
 */
import {
  IGNORED_MOUNT_OPTIONS,
  MOUNT_OPTIONS,
  mountOptionEntries,
  type MountOptionKey,
  type OptionSpec,
} from "./options.js";

const camel = (name: string): string => name.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());

export function splitDashO(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

export function fromEnvironment(keys: readonly MountOptionKey[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const spec: OptionSpec = MOUNT_OPTIONS[key];
    const variable = spec.env;
    if (variable && env[variable] !== undefined && env[variable] !== "") raw[key] = env[variable];
  }
  return raw;
}

export function fromFlags(
  keys: readonly MountOptionKey[],
  flags: Record<string, unknown>,
  raw: Record<string, unknown>,
): void {
  for (const key of keys) if (flags[key] !== undefined) raw[key] = flags[key];
}

const ALL_KEYS = mountOptionEntries().map(([key]) => key);

export interface CollectedOptions {
  /** Each option's value as given (a string, or true for a switch), by key. */
  raw: Record<string, unknown>;
  /** The `-o` options that are FUSE's, passed on as they are. */
  fuseOptions: string[];
}

/**
 * Every mount option's raw value (strings, or true for switches) by precedence, and the `-o`
 * options that are FUSE's: what the schema then checks. No zod here: `bucketfs mount` reads the
 * log file's place from these before it loads the checks (mount-command.ts).
 */
export function collectMountOptions(
  flags: Record<string, unknown>,
  dashO: string[],
  env: NodeJS.ProcessEnv = process.env,
): CollectedOptions {
  const raw = fromEnvironment(ALL_KEYS, env);
  const fuseOptions: string[] = [];
  for (const option of splitDashO(dashO)) {
    const [name, ...rest] = option.split("=");
    const value = rest.length > 0 ? rest.join("=") : true;
    const entry = mountOptionEntries().find(
      ([key, spec]) => spec.name === name || key === camel(name) || (spec.aliases?.includes(name) ?? false),
    );
    if (entry) raw[entry[0]] = value;
    else if (!IGNORED_MOUNT_OPTIONS.some((pattern) => pattern.test(option))) fuseOptions.push(option);
  }
  fromFlags(ALL_KEYS, flags, raw);
  return { raw, fuseOptions };
}
