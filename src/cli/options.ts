/**
 * Commander glue for the one option table (config/options.ts): every command adds its options
 * from there, so a flag is spelled, explained and defaulted once. Loads no zod and no SDK:
 * building the program must stay cheap (`bucketfs --version`).
 */
import { Option, type Command } from "commander";
import {
  COMMAND_OPTIONS,
  MOUNT_OPTIONS,
  type CommandOptionKey,
  type MountOptionKey,
  type OptionSpec,
  placeholderOf,
} from "../config/options.js";

/** A command's own wording of an option's help, where the mount's would mislead. */
export type HelpOverrides = Partial<Record<MountOptionKey, string>>;

/** The flag of a table entry as commander spells it, e.g. `-f, --foreground` or `--part-size <SIZE>`. */
export function flagOf(spec: OptionSpec): string {
  const value = placeholderOf(spec);
  return `${spec.short ? `-${spec.short}, ` : ""}--${spec.name}${value ? ` <${value}>` : ""}`;
}

/**
 * Adds options of the mount table. Values stay raw (strings, or true for switches): defaults and
 * environment variables are applied by config/load.ts; --help shows them.
 */
export function addMountOptions(command: Command, keys: readonly MountOptionKey[], help: HelpOverrides = {}): Command {
  for (const key of keys) {
    const spec: OptionSpec = MOUNT_OPTIONS[key];
    // The default is shown in the text, not set: commander would hand it over as if it were given.
    const shownDefault =
      spec.default !== undefined && spec.type !== "boolean" ? ` (default: ${String(spec.default)})` : "";
    const option = new Option(
      flagOf(spec),
      `${help[key] ?? spec.help}${shownDefault}${spec.env ? ` [env ${spec.env}]` : ""}`,
    );
    option.attributeName = () => key;
    // `--no-sign-request` is a switch of its own, not commander's negation of `--sign-request`
    // (which would set signRequest=false and leave noSignRequest unset).
    option.negate = false;
    command.addOption(option);
  }
  return command;
}

/** Adds options that belong to one command (--json, --expires …), from the same file. */
export function addCommandOptions(command: Command, keys: readonly CommandOptionKey[]): Command {
  for (const key of keys) {
    const spec: { name: string; short?: string; value?: string; help: string; default?: string } = COMMAND_OPTIONS[key];
    const option = new Option(
      `${spec.short ? `-${spec.short}, ` : ""}--${spec.name}${spec.value ? ` <${spec.value}>` : ""}`,
      spec.help,
    );
    if (spec.default !== undefined) option.default(spec.default);
    command.addOption(option);
  }
  return command;
}

/** Every mount option, in table order. */
export const ALL_MOUNT_OPTION_KEYS = Object.keys(MOUNT_OPTIONS) as MountOptionKey[];
