/**
 * Resolves a MountConfig from, lowest to highest precedence: defaults, environment variables,
 * `-o` options, command-line flags. Unknown `-o` options are FUSE options and pass through.
 */
import { IGNORED_MOUNT_OPTIONS, MOUNT_OPTIONS, mountConfigSchema, type MountConfig } from "./schema.js";

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
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

export function resolveMountOptions(flags: Record<string, unknown>, dashO: string[], env: NodeJS.ProcessEnv = process.env): ResolvedMountOptions {
  const raw: Record<string, unknown> = {};
  for (const spec of MOUNT_OPTIONS) {
    if (spec.env && env[spec.env] !== undefined && env[spec.env] !== "") raw[spec.key] = env[spec.env];
  }
  const fuseOptions: string[] = [];
  for (const option of splitDashO(dashO)) {
    const [name, ...rest] = option.split("=");
    const value = rest.length > 0 ? rest.join("=") : true;
    const spec = MOUNT_OPTIONS.find((s) => s.name === name || s.key === camel(name) || s.aliases?.includes(name));
    if (spec) raw[spec.key] = value;
    else if (!IGNORED_MOUNT_OPTIONS.some((pattern) => pattern.test(option))) fuseOptions.push(option);
  }
  for (const spec of MOUNT_OPTIONS) {
    if (flags[spec.key] !== undefined) raw[spec.key] = flags[spec.key];
  }
  const parsed = mountConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `--${MOUNT_OPTIONS.find((s) => s.key === i.path[0])?.name ?? String(i.path[0])}: ${i.message}`);
    throw new ConfigError(`invalid options: ${problems.join("; ")}`);
  }
  return { config: parsed.data as unknown as MountConfig, fuseOptions };
}
