/**
 * Listings on the native binding: READDIRPLUS pages carry every entry's attributes, cut from a
 * copy of the listing kept per open directory (native/src/listing.c), so `ls -l` of a directory
 * costs one readdir through JavaScript and no per-entry getattr or getxattr (counted by the
 * daemon's own metrics). rewinddir lists again, and sees what changed in between.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, MountMetrics } from "../helpers/metrics.js";
import { sh, TestMount } from "../helpers/mount.js";
import { freshBucket, sdkClient } from "../helpers/s3.js";

const COUNT = 300;
const modeOf = (i: number): number => 0o600 + (i % 64);
const ownerOf = (i: number): string => `${1000 + (i % 7)}:100`;

describe("directory listings on the native binding", () => {
  let bucket: string;
  let mount: TestMount;
  let metrics: MountMetrics;

  beforeAll(async () => {
    bucket = await freshBucket("listing");
    const s3 = sdkClient();
    let next = 0;
    // Written as another tool (s3fs) writes them: mode, owner and mtime in user metadata.
    const worker = async (): Promise<void> => {
      for (let i = next++; i < COUNT; i = next++) {
        const Metadata = {
          mode: String(0o100000 | modeOf(i)),
          uid: String(1000 + (i % 7)),
          gid: "100",
          mtime: String(1500000000 + i),
        };
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `d/f${i}`, Body: "x", Metadata }));
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    metrics = new MountMetrics(await freePort());
    mount = await TestMount.start(`s3://${bucket}`, ["--fuse-binding", "native", "--metrics-addr", metrics.addr]);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  const ops = async (op: string): Promise<number> => metrics.value("bucketfs_fuse_operations_total", `op="${op}"`);

  it("ls -l shows every entry's stored mode and owner with one readdir and no per-entry getattr", async () => {
    await sh(`stat ${mount.path("d")} > /dev/null`); // the directory's own lookup, outside the count
    const before = { getattr: await ops("getattr"), readdir: await ops("readdir"), getxattr: await ops("getxattr") };
    const lines = (await sh(`ls -ln ${mount.path("d")}`)).trim().split("\n").slice(1);
    const seen = lines.map((line) => {
      const f = line.split(/\s+/);
      return `${f[0]} ${f[2]}:${f[3]} ${f[f.length - 1]}`;
    });
    const expected = Array.from({ length: COUNT }, (_, i) => `-${symbolic(modeOf(i))} ${ownerOf(i)} f${i}`);
    expect(seen.sort()).toEqual(expected.sort());
    expect(await ops("readdir")).toBe(before.readdir + 1);
    // The kernel took the entries' attributes from READDIRPLUS (a LOOKUP each would have been
    // COUNT getattrs); ls stats the directory itself too, once its 1 s attr_timeout expired.
    expect((await ops("getattr")) - before.getattr).toBeLessThanOrEqual(1);
    // security.* and system.* (SELinux label, ACLs) are answered natively.
    expect(await ops("getxattr")).toBe(before.getxattr);
  });

  it("rewinddir lists again and sees an entry created in between", async () => {
    const script = [
      `opendir(my $d, "${mount.path("d")}") or die $!;`,
      "my @first = grep { !/^\\./ } readdir($d);",
      `open(my $f, ">", "${mount.path("d/new")}") or die $!; close($f);`,
      "rewinddir($d);",
      "my @second = grep { !/^\\./ } readdir($d);",
      'print scalar(@first), " ", scalar(@second), " ", (grep { $_ eq "new" } @second) ? "new" : "-", "\\n";',
    ].join(" ");
    expect((await sh(`perl -e '${script}'`)).trim()).toBe(`${COUNT} ${COUNT + 1} new`);
  });
});

/** rwx letters of permission bits, as ls prints them. */
function symbolic(bits: number): string {
  const letters = "rwxrwxrwx";
  return [...letters].map((letter, i) => ((bits >> (8 - i)) & 1 ? letter : "-")).join("");
}
