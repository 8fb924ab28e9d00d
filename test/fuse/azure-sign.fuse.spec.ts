/**
 * Presigned URLs on an az:// mount: `user.bucketfs.url` and `bucketfs sign` give read-only SAS
 * URLs (signed with the account key) under the same maximum expiry as S3's; an az:// blob is
 * signed directly too; a mount holding only a SAS refuses to sign, saying why. The Entra ID path
 * (user delegation SAS) needs real Azure: Azurite has no Entra ID without HTTPS and a tenant.
 */
import { ContainerSASPermissions } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureContainer, azureServer, freshAzureContainer } from "../helpers/azure.js";
import { bucketfs, sh, shResult, TestMount } from "../helpers/mount.js";
import { bucketfsEnv } from "../helpers/s3.js";

/** Seconds from now until the SAS URL's `se` (signed expiry). */
function secondsLeft(url: string): number {
  return (Date.parse(new URL(url).searchParams.get("se") ?? "") - Date.now()) / 1000;
}

describe("SAS URLs for files of an az:// mount", () => {
  let container: string;
  let mount: TestMount;
  const marker = "azure-shared-content\n";
  beforeAll(async () => {
    container = await freshAzureContainer("sign");
    await azureContainer(container).getBlockBlobClient("dir/remote.txt").upload(marker, marker.length);
    mount = await TestMount.start(`az://${azureServer().account}/${container}`);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("user.bucketfs.url is a read-only SAS URL valid for an hour that serves the file", async () => {
    const url = (await sh(`getfattr --only-values -n user.bucketfs.url ${mount.path("dir/remote.txt")}`)).trim();
    expect(new URL(url).pathname).toBe(`/${azureServer().account}/${container}/dir/remote.txt`);
    expect(new URL(url).searchParams.get("sp")).toBe("r");
    expect(secondsLeft(url)).toBeGreaterThan(3500);
    expect(secondsLeft(url)).toBeLessThanOrEqual(3600);
    expect(await sh(`curl -sf '${url}'`)).toBe(marker);
    expect(shResult(`curl -sf -X PUT -H 'x-ms-blob-type: BlockBlob' --data x '${url}'`).code).not.toBe(0);
    expect(shResult(`getfattr -n user.bucketfs.url ${mount.path("dir")}`).code).not.toBe(0);
  });

  it("bucketfs sign gives the expiry asked for, refuses more than the maximum, and signs az:// URLs directly", async () => {
    const env = { ...bucketfsEnv(), AZURE_STORAGE_KEY: azureServer().key };
    const signed = await bucketfs(["sign", mount.path("dir/remote.txt"), "--expires", "15m"], env);
    expect(signed.stderr).toBe("");
    expect(secondsLeft(signed.stdout.trim())).toBeGreaterThan(840);
    expect(secondsLeft(signed.stdout.trim())).toBeLessThanOrEqual(900);
    expect(await sh(`curl -sf '${signed.stdout.trim()}'`)).toBe(marker);
    const tooLong = await bucketfs(["sign", mount.path("dir/remote.txt"), "--expires", "8d"], env);
    expect(tooLong.code).not.toBe(0);
    expect(tooLong.stderr).toMatch(/exceeds the maximum/);
    const direct = await bucketfs(
      [
        "sign",
        `az://${azureServer().account}/${container}/dir/remote.txt`,
        "--endpoint",
        azureServer().endpoint,
        "--expires",
        "2d",
      ],
      env,
    );
    expect(direct.stderr).toBe("");
    expect(secondsLeft(direct.stdout.trim())).toBeGreaterThan(2 * 86_400 - 60);
    expect(await sh(`curl -sf '${direct.stdout.trim()}'`)).toBe(marker);
  });

  it("a mount that holds only a SAS refuses to sign, saying which mounts can", async () => {
    const sasUrl = await azureContainer(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse("rl"),
      expiresOn: new Date(Date.now() + 3600_000),
    });
    const env: NodeJS.ProcessEnv = { ...bucketfsEnv(), AZURE_STORAGE_SAS_TOKEN: new URL(sasUrl).search };
    delete env.AZURE_STORAGE_KEY;
    const sasMount = await TestMount.start(`az://${azureServer().account}/${container}`, ["--read-only"], env);
    try {
      const refused = await bucketfs(["sign", sasMount.path("dir/remote.txt")], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("az:// mounts with an account key or Entra ID, can sign");
      expect(shResult(`getfattr -n user.bucketfs.url ${sasMount.path("dir/remote.txt")}`).code).not.toBe(0);
    } finally {
      await sasMount.stop();
    }
  });
});
