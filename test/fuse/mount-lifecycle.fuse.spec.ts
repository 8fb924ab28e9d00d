/**
 * End to end: an unmount (here `fusermount3 -u`, as an admin or the desktop does it, without
 * `bucketfs unmount`) makes the daemon drain, close its Mount in order — service, filesystem
 * with its upload journal and attribute table, staging lock, read cache, security — and exit 0;
 * afterwards the journal is free (another connection can lock it exclusively).
 */
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadJournalPathFor } from "../../src/mount/dirs.js";
import { freshBucket } from "../helpers/s3.js";
import { objectBytes } from "../helpers/sdk.js";
import { sh, TestMount } from "../helpers/mount.js";

describe("a mount unmounted from outside", () => {
  let bucket: string;
  let mount: TestMount;

  beforeAll(async () => {
    bucket = await freshBucket("lifecycle");
    mount = await TestMount.start(`s3://${bucket}`);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("drains, closes every resource in order with the journal, and exits cleanly", async () => {
    await mount.sh("printf 'kept' > kept.txt");
    await sh(`fusermount3 -u ${mount.dir}`);
    // Blocks until the daemon has exited (synchronised on the process, not on a sleep).
    await sh(`tail --pid=${mount.pid} -f /dev/null`);
    const lines = mount
      .log()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; closed?: string[]; reason?: string });
    expect(lines.find((l) => l.msg === "unmounting: uploading unsaved data first")?.reason).toBe(
      "unmounted externally",
    );
    expect(lines.find((l) => l.msg === "mount closed")?.closed).toEqual([
      "service",
      "filesystem (upload journal, attributes)",
      "staging lock",
      "read cache",
      "security (audit log)",
    ]);
    expect(lines.at(-1)?.msg).toBe("unmounted");
    expect(lines.filter((l) => /fail|error/i.test(l.msg))).toEqual([]);
    expect((await objectBytes(bucket, "kept.txt")).toString()).toBe("kept");
    const journal = new Database(uploadJournalPathFor(mount.cacheDir, `s3://${bucket}`), {
      fileMustExist: true,
      timeout: 0,
    });
    try {
      journal.pragma("locking_mode = EXCLUSIVE");
      journal.exec("BEGIN EXCLUSIVE; COMMIT;");
      expect(journal.prepare("SELECT count(*) AS n FROM sqlite_master").get()).toMatchObject({ n: expect.any(Number) });
    } finally {
      journal.close();
    }
  });
});
