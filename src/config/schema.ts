/**
 * The zod schema of a mount's configuration, built from the one option table (options.ts):
 * validation, defaults and the MountConfig type all come from there. A component receives only
 * its slice (e.g. `CacheConfig`), taken with `sliceOf`.
 */
import { z } from "zod";
import {
  MOUNT_OPTIONS,
  mountOptionEntries,
  type MountOptionKey,
  type OptionGroup,
  type OptionSpec,
  type OptionType,
} from "./options.js";
import { parseDuration, parseSize } from "./units.js";

export { IGNORED_MOUNT_OPTIONS, MOUNT_OPTIONS, type OptionSpec } from "./options.js";

/** What each option type parses to. */
interface ValueOfType {
  string: string;
  boolean: boolean;
  size: number;
  duration: number;
  int: number;
}

type Table = typeof MOUNT_OPTIONS;
type Value<S extends OptionSpec> = ValueOfType[S["type"]];
/** An option with a default always has a value; one without may be absent. */
type FieldOf<S extends OptionSpec> = S extends { default: string | number | boolean }
  ? z.ZodType<Value<S>, unknown>
  : z.ZodOptional<z.ZodType<Value<S>, unknown>>;
type Shape = { [K in MountOptionKey]: FieldOf<Table[K]> };

const BOOLEAN_WORDS = ["true", "false", "1", "0", ""] as const;

function baseField(type: OptionType): z.ZodType<ValueOfType[OptionType], unknown> {
  switch (type) {
    case "string":
      return z.string().min(1);
    // `-o ro` (no value) arrives as true; `-o ro=` as "".
    case "boolean":
      return z.union([z.boolean(), z.enum(BOOLEAN_WORDS).transform((v) => v === "true" || v === "1" || v === "")]);
    case "size":
      return z
        .union([z.number(), z.string()])
        .transform((v, ctx) => (typeof v === "number" ? v : tryParse(() => parseSize(v), ctx)));
    case "duration":
      return z
        .union([z.number(), z.string()])
        .transform((v, ctx) => (typeof v === "number" ? v : tryParse(() => parseDuration(v), ctx)));
    case "int":
      return z.coerce.number().int().nonnegative();
  }
}

function fieldFor(spec: OptionSpec): z.ZodType<unknown, unknown> {
  const base = baseField(spec.type);
  // prefault: the default is parsed like user input ("8M" → bytes).
  return spec.default === undefined ? base.optional() : base.prefault(spec.default);
}

function tryParse(parse: () => number, ctx: z.RefinementCtx): number {
  try {
    return parse();
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
}

// The one place the table's static type meets its runtime walk: fieldFor builds, per entry, the
// field FieldOf names (optional without a default, the type's value with one).
const shape = Object.fromEntries(mountOptionEntries().map(([key, spec]) => [key, fieldFor(spec)])) as Shape;

export const mountConfigSchema = z.object(shape);

/** The whole configuration of a mount, as the schema parses it. */
export type MountConfig = z.output<typeof mountConfigSchema>;

/** The keys of one group of the table. */
export type KeysOf<G extends OptionGroup> = {
  [K in MountOptionKey]: Table[K]["group"] extends G ? K : never;
}[MountOptionKey];

/** The options of one group, e.g. `ConfigSlice<"cache">` = { cacheDir?, cacheSize }. */
export type ConfigSlice<G extends OptionGroup> = Pick<MountConfig, KeysOf<G>>;

export type StoreConfig = ConfigSlice<"store">;
export type FuseConfig = ConfigSlice<"fuse">;
export type CacheConfig = ConfigSlice<"cache">;
export type PrefetchConfig = ConfigSlice<"prefetch">;
export type WriteBackConfig = ConfigSlice<"writeBack">;
export type MetadataConfig = ConfigSlice<"metadata">;
export type ServiceConfig = ConfigSlice<"service">;
export type SecurityConfig = ConfigSlice<"security">;
export type IdcConfig = ConfigSlice<"idc">;

/** The keys of a group, at run time (in table order). */
export function keysOf<G extends OptionGroup>(group: G): KeysOf<G>[] {
  return mountOptionEntries()
    .filter(([, spec]) => spec.group === group)
    .map(([key]) => key as KeysOf<G>);
}

/** Takes one component's slice of a configuration: the component sees nothing else. */
export function sliceOf<G extends OptionGroup>(config: MountConfig, group: G): ConfigSlice<G> {
  const slice: Partial<ConfigSlice<G>> = {};
  for (const key of keysOf(group)) Object.assign(slice, { [key]: config[key] });
  return slice as ConfigSlice<G>;
}
