/**
 * `bucketfs mount az://…` with each Azure credential path, on Azurite: account key
 * (AZURE_STORAGE_KEY), AZURE_STORAGE_CONNECTION_STRING, a SAS in the URL, --sas and
 * AZURE_STORAGE_SAS_TOKEN, --anonymous on a public container; and the refusals, each naming what
 * is wrong: a wrong key, a missing container, an unknown account, no credentials at all.
 *
 * Emulator gaps (see test/integ/azure-store.integ.spec.ts): Azurite answers a wrong key 403
 * AuthorizationFailure where real Azure answers AuthenticationFailed, and an unknown account 404
 * where real Azure's DNS has no such host; Entra ID (DefaultAzureCredential) needs HTTPS and a
 * tenant, so only its "no credentials" refusal is tested.
 */
import { ContainerSASPermissions } from "@azure/storage-blob";
import { beforeAll, describe, expect, it } from "vitest";
import { azureConnectionString, azureContainer, azureServer, freshAzureContainer } from "../helpers/azure.js";
import { bucketfs, sh, tempDir, TestMount } from "../helpers/mount.js";

/** The environment without any Azure credential, so each test gives exactly one. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of [
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
  ]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

describe("mounting az:// with each credential path", () => {
  let container: string;
  let sas: string;
  let source: string;
  beforeAll(async () => {
    container = await freshAzureContainer("creds");
    await azureContainer(container).getBlockBlobClient("hello.txt").upload("hi from azure\n", 14);
    const url = await azureContainer(container).generateSasUrl({
      permissions: ContainerSASPermissions.parse("racwdl"),
      expiresOn: new Date(Date.now() + 3600_000),
    });
    sas = new URL(url).search.slice(1);
    source = `az://${azureServer().account}/${container}`;
  });

  const cases: Array<[string, () => { url: string; args: string[]; env: NodeJS.ProcessEnv }]> = [
    [
      "the account key (AZURE_STORAGE_KEY)",
      () => ({ url: source, args: [], env: bareEnv({ AZURE_STORAGE_KEY: azureServer().key }) }),
    ],
    [
      "AZURE_STORAGE_CONNECTION_STRING",
      () => ({ url: source, args: [], env: bareEnv({ AZURE_STORAGE_CONNECTION_STRING: azureConnectionString() }) }),
    ],
    ["a SAS in the URL", () => ({ url: `${source}?${sas}`, args: [], env: bareEnv() })],
    ["--sas", () => ({ url: source, args: ["--sas", sas], env: bareEnv() })],
    [
      "AZURE_STORAGE_SAS_TOKEN",
      () => ({ url: source, args: [], env: bareEnv({ AZURE_STORAGE_SAS_TOKEN: `?${sas}` }) }),
    ],
  ];
  for (const [mode, make] of cases) {
    it(`mounts, reads and writes with ${mode}`, async () => {
      const { url, args, env } = make();
      const mount = await TestMount.start(url, args, env);
      try {
        expect(await sh(`cat ${mount.path("hello.txt")}`)).toBe("hi from azure\n");
        const name = `w-${mode.replace(/[^a-z]/gi, "")}.txt`;
        await sh(`printf 'written' > ${mount.path(name)}`);
        await mount.stop(); // uploads what was written
        expect((await azureContainer(container).getBlobClient(name).downloadToBuffer()).toString()).toBe("written");
      } finally {
        if (!mount.stopped) await mount.stop();
      }
    });
  }

  it("mounts a public container with --anonymous", async () => {
    const open = await freshAzureContainer("public");
    await azureContainer(open).setAccessPolicy("container");
    await azureContainer(open).getBlockBlobClient("pub.txt").upload("public\n", 7);
    const mount = await TestMount.start(`az://${azureServer().account}/${open}`, ["--anonymous"], bareEnv());
    try {
      expect(await sh(`cat ${mount.path("pub.txt")}`)).toBe("public\n");
    } finally {
      await mount.stop();
    }
  });

  async function refusal(
    url: string,
    env: NodeJS.ProcessEnv,
    args: string[] = [],
  ): Promise<{ code: number; stderr: string }> {
    const dir = tempDir("mnt");
    const cacheDir = tempDir("cache");
    const endpoint = args.includes("--endpoint") ? [] : ["--endpoint", azureServer().endpoint];
    return bucketfs(["mount", url, dir, ...endpoint, "--cache-dir", cacheDir, ...args], env);
  }

  it("refuses a wrong account key, naming the key and where to set it", async () => {
    const result = await refusal(source, bareEnv({ AZURE_STORAGE_KEY: Buffer.alloc(64, 1).toString("base64") }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`cannot mount az://${azureServer().account}/${container}`);
    expect(result.stderr).toContain("wrong account key");
    expect(result.stderr).toContain("AZURE_STORAGE_KEY");
  });

  it("refuses a missing container, naming it and the account", async () => {
    const result = await refusal(
      `az://${azureServer().account}/bfs-missing-container`,
      bareEnv({ AZURE_STORAGE_KEY: azureServer().key }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `container "bfs-missing-container" of storage account "${azureServer().account}" does not exist`,
    );
  });

  it("refuses an unknown account, naming it", async () => {
    const result = await refusal(`az://nosuchaccount/${container}`, bareEnv({ AZURE_STORAGE_KEY: azureServer().key }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('storage account "nosuchaccount" not found');
  });

  it("refuses a connection string for another account than the URL names", async () => {
    const result = await refusal(
      `az://otheraccount/${container}`,
      bareEnv({ AZURE_STORAGE_CONNECTION_STRING: azureConnectionString() }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'AZURE_STORAGE_CONNECTION_STRING is for account "devstoreaccount1", but the source names account "otheraccount"',
    );
  });

  it("without any credentials, says how to give them (DefaultAzureCredential found none)", async () => {
    const result = await refusal(source, bareEnv(), ["--endpoint", "https://127.0.0.1:9"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("no usable Azure credentials");
    expect(result.stderr).toContain("az login");
  }, 90_000);
});
