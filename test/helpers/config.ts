/**
 * A MountConfig for unit tests, parsed by the real schema (defaults filled in as the CLI does).
 * The one cast lives here until MountConfig is the type inferred from the schema (issue 13, "cli").
 */
import { mountConfigSchema, type MountConfig } from "../../src/config/schema.js";

export function mountConfig(input: Record<string, unknown>): MountConfig {
  return mountConfigSchema.parse(input) as unknown as MountConfig;
}
