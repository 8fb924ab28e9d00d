/**
 * Resolves options from, lowest to highest precedence: defaults, environment variables, `-o`
 * options, command-line flags. Unknown `-o` options are FUSE options and pass through.
 * `resolveMountOptions` gives a whole MountConfig; `resolveOptions` the few options another
 * command (sign, idc, cache …) takes from the same table, with the same environment and checks.
 */
import { z } from "zod";
import {
  IGNORED_MOUNT_OPTIONS,
  MOUNT_OPTIONS,
  mountOptionEntries,
  type MountOptionKey,
  type OptionSpec,
} from "./options.js";
import { mountConfigSchema, type MountConfig } from "./schema.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface ResolvedMountOptions {
  config: MountConfig;
  /** Options handed to FUSE as they are (e.g. nonempty, default_permissions). */
  fuseOptions: string[];
}

const camel = (name: string): string => name.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());

export function splitDashO(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function fromEnvironment(keys: readonly MountOptionKey[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const spec: OptionSpec = MOUNT_OPTIONS[key];
    const variable = spec.env;
    if (variable && env[variable] !== undefined && env[variable] !== "") raw[key] = env[variable];
  }
  return raw;
}

function fromFlags(
  keys: readonly MountOptionKey[],
  flags: Record<string, unknown>,
  raw: Record<string, unknown>,
): void {
  for (const key of keys) if (flags[key] !== undefined) raw[key] = flags[key];
}

function parsed<T>(schema: z.ZodType<T, unknown>, raw: Record<string, unknown>): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const key = String(i.path[0]);
    return `--${key in MOUNT_OPTIONS ? MOUNT_OPTIONS[key as MountOptionKey].name : key}: ${i.message}`;
  });
  throw new ConfigError(`invalid options: ${problems.join("; ")}`);
}

const ALL_KEYS = mountOptionEntries().map(([key]) => key);

export function resolveMountOptions(
  flags: Record<string, unknown>,
  dashO: string[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedMountOptions {
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
  return { config: parsed(mountConfigSchema, raw), fuseOptions };
}

/** Some options of the table for a command other than mount: environment, then flags, checked by the schema. */
export function resolveOptions<K extends MountOptionKey>(
  keys: readonly K[],
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Pick<MountConfig, K> {
  const raw = fromEnvironment(keys, env);
  fromFlags(keys, flags, raw);
  // The whole schema parses (every other option is optional or has a default); the command sees its keys only.
  const config = parsed(mountConfigSchema, raw);
  const picked: Partial<Pick<MountConfig, K>> = {};
  for (const key of keys) picked[key] = config[key];
  return picked as Pick<MountConfig, K>;
}
