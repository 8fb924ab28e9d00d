/**
 * The daemon an admin sees: ps and pgrep -f show `bucketfs SOURCE MOUNTPOINT` (as s3fs's command
 * line shows them), so `pgrep -f /mnt/x` finds the daemon of /mnt/x and no other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshBucket } from "../helpers/s3.js";
import { shResult, TestMount } from "../helpers/mount.js";

describe("daemon process title", () => {
  let bucket: string;
  let first: TestMount;
  let second: TestMount;

  beforeAll(async () => {
    bucket = await freshBucket("title");
    first = await TestMount.start(`s3://${bucket}`);
    second = await TestMount.start(`s3://${bucket}/sub`);
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
  });

  it("ps shows bucketfs SOURCE MOUNTPOINT", () => {
    expect(shResult(`ps -o args= -p ${first.pid}`).stdout.trim()).toBe(`bucketfs s3://${bucket} ${first.dir}`);
    expect(shResult(`ps -o args= -p ${second.pid}`).stdout.trim()).toBe(`bucketfs s3://${bucket}/sub ${second.dir}`);
  });

  it("pgrep -f MOUNTPOINT finds that mount's daemon only", () => {
    expect(shResult(`pgrep -f '${first.dir}$'`).stdout.trim()).toBe(String(first.pid));
    expect(shResult(`pgrep -f '${second.dir}$'`).stdout.trim()).toBe(String(second.pid));
    expect(shResult(`pgrep -f 'bucketfs s3://${bucket}/sub '`).stdout.trim()).toBe(String(second.pid));
  });
});
