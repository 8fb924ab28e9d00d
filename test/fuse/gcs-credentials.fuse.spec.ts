/**
 * `bucketfs mount gs://…` with each credential mode, as far as the emulator allows: it checks no
 * credentials, so --anonymous and --billing-project are shown to mount and serve data (their
 * wire effect is asserted in test/integ/gcs-store.integ.spec.ts), and ADC is shown to fail
 * clearly when there are no credentials for an authenticated (https) endpoint.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { freshGcsBucket, gcsStore } from "../helpers/gcs.js";
import { bucketfs, sh, tempDir, TestMount } from "../helpers/mount.js";

describe("mounting gs:// with each credential mode", () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await freshGcsBucket("creds");
    await gcsStore(bucket).put({ key: "hello.txt", body: Buffer.from("hi from gcs\n") });
  });

  for (const [mode, args] of [
    ["--anonymous", ["--anonymous"]],
    ["--billing-project", ["--billing-project", "my-billing-project"]],
  ] as const) {
    it(`mounts and reads with ${mode}`, async () => {
      const mount = await TestMount.start(`gs://${bucket}`, [...args]);
      try {
        expect(await sh(`cat ${mount.path("hello.txt")}`)).toBe("hi from gcs\n");
      } finally {
        await mount.stop();
      }
    });
  }

  it("refuses to mount without credentials for an authenticated endpoint, naming the cause", async () => {
    const dir = tempDir("mnt");
    const env = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/key.json" };
    const result = await bucketfs(
      ["mount", `gs://${bucket}`, dir, "--endpoint", "https://127.0.0.1:9", "--cache-dir", tempDir("cache")],
      env,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/credentials/i);
  });
});
