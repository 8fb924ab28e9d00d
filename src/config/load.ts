/**
 * Resolves options from, lowest to highest precedence: defaults, environment variables, `-o`
 * options, command-line flags. Unknown `-o` options are FUSE options and pass through.
 * `resolveMountOptions` gives a whole MountConfig; `resolveOptions` the few options another
 * command (sign, idc, cache …) takes from the same table, with the same environment and checks.
 */
import { z } from "zod";
import { MOUNT_OPTIONS, type MountOptionKey } from "./options.js";
import { collectMountOptions, fromEnvironment, fromFlags, type CollectedOptions } from "./raw-options.js";
import { mountConfigSchema, type MountConfig } from "./schema.js";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface ResolvedMountOptions {
  config: MountConfig;
  /** Options handed to FUSE as they are (e.g. nonempty, default_permissions). */
  fuseOptions: string[];
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

export function resolveMountOptions(
  flags: Record<string, unknown>,
  dashO: string[],
  env: NodeJS.ProcessEnv = process.env,
): ResolvedMountOptions {
  return checkMountOptions(collectMountOptions(flags, dashO, env));
}

/** Checks options already collected (raw-options.ts) against the schema. */
export function checkMountOptions(collected: CollectedOptions): ResolvedMountOptions {
  return { config: parsed(mountConfigSchema, collected.raw), fuseOptions: collected.fuseOptions };
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
