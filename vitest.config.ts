import { defineConfig } from "vitest/config";

// Tiers by suffix: *.spec.ts (no network), *.integ.spec.ts (real S3 server on loopback),
// *.fuse.spec.ts (real kernel mount in a child process). The global setup starts the S3 server
// unless S3_ENDPOINT is already set (scripts/test.sh starts one for the whole run).
export default defineConfig({
  test: {
    include: ["test/**/*.spec.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    // FUSE suites share the machine's two cores with the server: run files one at a time.
    fileParallelism: false,
    reporters: ["default"],
  },
});
