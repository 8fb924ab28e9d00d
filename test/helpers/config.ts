/**
 * A MountConfig for unit tests, parsed by the real schema (defaults filled in as the CLI does).
 */
import { mountConfigSchema, type MountConfig } from "../../src/config/schema.js";

export function mountConfig(input: Record<string, unknown>): MountConfig {
  return mountConfigSchema.parse(input);
}
