/**
 * `bucketfs mount s3://…` with the credentials of a named profile in a shared credentials file
 * (`--profile`, as the AWS CLI reads ~/.aws/credentials) and none in the environment; and a
 * profile that the file does not have, refused before any request with an error that names it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { bucketfs, sh, tempDir, TestMount } from "../helpers/mount.js";
import { freshBucket, s3Server, sdkClient } from "../helpers/s3.js";

/** The test process's environment without any AWS credentials, reading `dir`'s files instead. */
function profileEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
    AWS_CONFIG_FILE: join(dir, "config"),
    AWS_REGION: s3Server().region,
  };
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"])
    delete env[name];
  return env;
}

describe("mounting s3:// with --profile", () => {
  let bucket: string;
  let awsDir: string;

  beforeAll(async () => {
    bucket = await freshBucket("profile");
    await sdkClient().send(new PutObjectCommand({ Bucket: bucket, Key: "hello.txt", Body: "hi from a profile\n" }));
    awsDir = tempDir("aws");
    const server = s3Server();
    writeFileSync(
      join(awsDir, "credentials"),
      `[default]\naws_access_key_id = WRONGKEY\naws_secret_access_key = wrong\n\n` +
        `[lab]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
      { mode: 0o600 },
    );
    writeFileSync(join(awsDir, "config"), "", { mode: 0o600 });
  });

  it("mounts and reads with the profile's keys, none in the environment", async () => {
    const mount = await TestMount.start(`s3://${bucket}`, ["--profile", "lab"], profileEnv(awsDir));
    try {
      expect(await sh(`cat ${mount.path("hello.txt")}`)).toBe("hi from a profile\n");
    } finally {
      await mount.stop();
    }
  });

  it("refuses a profile the file does not have, naming it, with a hint at --profile", async () => {
    const result = await bucketfs(
      [
        "mount",
        `s3://${bucket}`,
        tempDir("mnt"),
        "--endpoint",
        s3Server().endpoint,
        "--cache-dir",
        tempDir("cache"),
        "--profile",
        "nosuch",
      ],
      profileEnv(awsDir),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /no credentials to sign requests with \(.*profile.*nosuch.*\): check .* or --profile/,
    );
  });
});
