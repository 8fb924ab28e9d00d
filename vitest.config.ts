import { defineConfig } from "vitest/config";

// Tiers by suffix: *.spec.ts (no network), *.integ.spec.ts (real S3 server on loopback),
// *.fuse.spec.ts (real kernel mount in a child process). The global setup starts the S3 server
// and the GCS emulator for the whole run, unless S3_ENDPOINT / STORAGE_EMULATOR_HOST are set.
export default defineConfig({
  test: {
    include: ["test/**/*.spec.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    // A FileHandle closed by the garbage collector fails its spec (test/helpers/fail-on-leaks.ts).
    poolOptions: { forks: { execArgv: ["--expose-gc"] } },
    // Temporary directories of in-process specs go after each test and file (test/helpers/temp-dirs.ts).
    setupFiles: ["test/helpers/fail-on-leaks.ts", "test/helpers/temp-dir-cleanup.ts"],
    // FUSE suites share the machine's two cores with the server: run files one at a time.
    fileParallelism: false,
    reporters: ["default"],
    // The SDK's "Node 22 will be required" notice, once per process, only clutters test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
