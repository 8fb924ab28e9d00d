/**
 * `ls -l` on an az:// mount shows the modes and owners stored with each blob, from the listing
 * alone: Azure returns blob metadata in List Blobs (include=metadata), so the mount sends no
 * Get Blob Properties per entry (counted on the mount's Prometheus endpoint).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureContainer, azureServer, freshAzureContainer } from "../helpers/azure.js";
import { freePort, MountMetrics } from "../helpers/metrics.js";
import { sh, TestMount } from "../helpers/mount.js";

describe("ls -l on an az:// mount", () => {
  let mount: TestMount;
  let metrics: MountMetrics;
  const files = 20;
  beforeAll(async () => {
    const container = await freshAzureContainer("lsl");
    // Written by another client, with s3fs-style attributes: mode 0640 (regular file), uid/gid 1234.
    await Promise.all(
      Array.from({ length: files }, (_, i) =>
        azureContainer(container)
          .getBlockBlobClient(`dir/f${String(i).padStart(2, "0")}`)
          .upload("x", 1, { metadata: { mode: String(0o100640), uid: "1234", gid: "1234" } }),
      ),
    );
    metrics = new MountMetrics(await freePort());
    mount = await TestMount.start(`az://${azureServer().account}/${container}`, ["--metrics-addr", metrics.addr]);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("shows stored modes and owners with one listing and no request per file", async () => {
    await sh(`stat ${mount.path("dir")} > /dev/null`); // looking up the directory itself may send requests
    const headsBefore = await metrics.value("bucketfs_store_requests_total", 'op="head"');
    const lines = (await sh(`ls -ln ${mount.path("dir")}`)).split("\n").filter((l) => l.startsWith("-"));
    expect(lines).toHaveLength(files);
    for (const line of lines) expect(line).toMatch(/^-rw-r----- +1 1234 1234 +1 /);
    expect(await metrics.value("bucketfs_store_requests_total", 'op="head"')).toBe(headsBefore);
  });
});
