/**
 * End to end: a real bucket mounted through the kernel and driven by the programs people use
 * (cp, rsync, mv, dd, cat, truncate, ls, sha256sum, ln), checked through the mount and,
 * independently, with the backend's own SDK straight against the bucket. One body, every
 * backend: S3 (Ceph RGW), GCS (the Cloud Storage emulator) and Azure Blob Storage (Azurite; its
 * gaps are listed in test/integ/azure-store.integ.spec.ts), via the session factories, and
 * both FUSE bindings (`--fuse-binding native`, the libfuse3 addon, and `fuse-native`).
 *
 * IDC (`bucketfs mount idc` over IDC-named buckets on the S3 server) is served by the same
 * Filesystem over its read-only index namespace: the reading tools, and every change refused
 * with "Read-only file system", run on it too (backend name `idc`).
 *
 * BUCKETFS_TEST_BACKENDS / BUCKETFS_TEST_FUSE_BINDINGS (comma-separated) narrow the matrix;
 * BUCKETFS_TEST_EXPECT_ASAN=1 also checks that the daemon runs the AddressSanitizer build of
 * the addon (scripts/asan-tools.sh).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeIdcFixtures, uploadIdcFixtures, type IdcFixtures } from "../../scripts/make-idc-fixtures.js";
import { BACKENDS, objectSha256 } from "../helpers/backends.js";
import { until } from "../helpers/eventually.js";
import { sdkClient } from "../helpers/s3.js";
import { BIN, sh, shResult, tempDir, TestMount } from "../helpers/mount.js";

const only = (variable: string): string[] | undefined =>
  process.env[variable]
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const BINDINGS = only("BUCKETFS_TEST_FUSE_BINDINGS") ?? ["native", "fuse-native"];
const CASES = BACKENDS.filter((b) => only("BUCKETFS_TEST_BACKENDS")?.includes(b.name) ?? true).flatMap((backend) =>
  BINDINGS.map((binding) => ({ name: backend.name, binding, backend })),
);
const EXPECT_ASAN = process.env.BUCKETFS_TEST_EXPECT_ASAN === "1";

describe.each(CASES)("a mounted $name bucket ($binding binding) used with ordinary tools", ({ backend, binding }) => {
  let bucket: string;
  let mount: TestMount;
  let local: string;
  const objectBytes = (b: string, key: string): Promise<Buffer> => backend.bytes(b, key);
  const objectHead = (b: string, key: string) => backend.head(b, key);
  const listKeys = (b: string, prefix: string): Promise<string[]> => backend.listKeys(b, prefix);

  beforeAll(async () => {
    bucket = await backend.freshBucket("tools");
    local = tempDir("local");
    mount = await TestMount.start(backend.source(bucket), ["--fuse-binding", binding]);
  });
  afterAll(async () => {
    await mount?.stop();
    await sh(`rm -rf ${local}`);
  });

  it(`serves through the ${binding} binding`, () => {
    expect(mount.log()).toContain(`"binding":"${binding}"`);
    if (EXPECT_ASAN && binding === "native") {
      // The daemon (a child of `bucketfs mount`) must run the sanitized addon, with libasan loaded.
      const maps = readFileSync(`/proc/${mount.pid}/maps`, "utf8");
      expect(maps).toMatch(/\/libasan\.so/);
      const addon = maps
        .split("\n")
        .map((l) => l.split(/\s+/)[5] ?? "")
        .find((f) => f.endsWith("/bucketfs_fuse.node"));
      expect(addon?.startsWith(`${dirname(dirname(BIN))}/`), `addon mapped: ${addon}`).toBe(true);
    }
  });

  it("copies a 200 MB file in and out byte for byte", async () => {
    await sh(
      `head -c 200000000 /dev/urandom > ${local}/big.bin && sha256sum ${local}/big.bin | cut -d' ' -f1 > ${local}/big.sha`,
    );
    const expected = (await sh(`cat ${local}/big.sha`)).trim();
    await sh(`cp ${local}/big.bin ${mount.path("big.bin")}`);
    expect(await objectSha256(backend, bucket, "big.bin")).toBe(expected);
    expect((await objectHead(bucket, "big.bin")).size).toBe(200_000_000);
    await sh(`cp ${mount.path("big.bin")} ${local}/back.bin`);
    expect((await sh(`sha256sum < ${local}/back.bin`)).split(" ")[0]).toBe(expected);
  });

  it("copies a nested tree of small files with cp -r, and sha256sum -c verifies it in place", async () => {
    await sh(
      `mkdir -p ${local}/tree && cd ${local}/tree && for d in a a/b a/b/c x; do mkdir -p $d; for i in $(seq 1 15); do head -c $((RANDOM % 5000)) /dev/urandom > $d/f$i; done; done`,
    );
    await sh(`cd ${local}/tree && find . -type f | sort | xargs sha256sum > ${local}/tree.sums`);
    await sh(`cp -r ${local}/tree ${mount.path("tree")}`);
    expect(await sh(`cd ${mount.path("tree")} && sha256sum -c --quiet ${local}/tree.sums && echo ok`)).toContain("ok");
    expect(shResult(`diff -r ${local}/tree ${mount.path("tree")}`).code).toBe(0);
    const keys = await listKeys(bucket, "tree/");
    expect(keys.filter((k) => !k.endsWith("/")).length).toBe(60);
    expect(keys.filter((k) => k.endsWith("/")).sort()).toEqual([
      "tree/",
      "tree/a/",
      "tree/a/b/",
      "tree/a/b/c/",
      "tree/x/",
    ]);
    expect(await objectBytes(bucket, "tree/a/b/c/f3")).toEqual(readFileSync(`${local}/tree/a/b/c/f3`));
  });

  it("rsync -a copies a tree and a second run transfers nothing", async () => {
    await sh(
      `mkdir -p ${local}/rs/sub && for i in $(seq 1 20); do head -c $((i * 1000)) /dev/urandom > ${local}/rs/f$i; done && echo hi > ${local}/rs/sub/note && chmod 600 ${local}/rs/f1 && touch -d '2021-06-01 12:00:00.250' ${local}/rs/f2`,
    );
    await sh(`rsync -a ${local}/rs/ ${mount.path("rs")}/`);
    const second = await sh(`rsync -a --itemize-changes ${local}/rs/ ${mount.path("rs")}/`);
    // On a difference, say what differs: mode, mtime and size on both sides, and the stored metadata.
    const differing = second
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split(" ").pop()!);
    const details = await Promise.all(
      differing.map(
        async (name) =>
          `${(await sh(`stat -c '%n %a %Y %s' ${local}/rs/${name} ${mount.path(`rs/${name}`)}`)).trim()} stored ${JSON.stringify((await objectHead(bucket, `rs/${name}`)).metadata)}`,
      ),
    );
    expect(second.trim(), details.join("; ")).toBe("");
    expect(shResult(`diff -r ${local}/rs ${mount.path("rs")}`).code).toBe(0);
    const head = await objectHead(bucket, "rs/f1");
    expect(Number(head.metadata.mode) & 0o7777).toBe(0o600);
    expect(Number(head.metadata.mtime)).toBeGreaterThan(1e9);
    const f2 = await objectHead(bucket, "rs/f2");
    expect(Number(f2.metadata.mtime)).toBeCloseTo(
      Date.parse("2021-06-01T12:00:00.250Z") / 1000 + new Date().getTimezoneOffset() * 60,
      2,
    );
  });

  it("mv renames files and whole directories", async () => {
    await sh(
      `mkdir -p d1/inner && echo one > d1/a && echo two > d1/inner/b && mv d1/a d1/a2 && mv d1 d2`.replace(
        /d1|d2/g,
        (m) => mount.path(m),
      ),
    );
    expect(await sh(`cat ${mount.path("d2/a2")} ${mount.path("d2/inner/b")}`)).toBe("one\ntwo\n");
    expect(shResult(`ls ${mount.path("d1")}`).code).not.toBe(0);
    expect((await listKeys(bucket, "d1/")).length).toBe(0);
    expect((await listKeys(bucket, "d2/")).sort()).toEqual(["d2/", "d2/a2", "d2/inner/", "d2/inner/b"]);
  });

  it("appends with cat >>, truncates, and overwrites like a local disk", async () => {
    const f = mount.path("edit.txt");
    await sh(
      `printf 'hello' > ${f} && printf ' world' >> ${f} && cat ${f} > ${local}/copy && cat ${local}/copy >> ${f}`,
    );
    expect(await sh(`cat ${f}`)).toBe("hello worldhello world");
    await sh(`truncate -s 5 ${f}`);
    expect((await objectBytes(bucket, "edit.txt")).toString()).toBe("hello");
    await sh(`truncate -s 8 ${f}`);
    expect(await objectBytes(bucket, "edit.txt")).toEqual(Buffer.from("hello\0\0\0"));
    await sh(`printf 'HE' | dd of=${f} conv=notrunc status=none`);
    expect((await objectBytes(bucket, "edit.txt")).toString()).toBe("HEllo\0\0\0");
    await sh(`echo new > ${f}`);
    expect((await objectBytes(bucket, "edit.txt")).toString()).toBe("new\n");
  });

  it("dd writes and reads at offsets", async () => {
    const f = mount.path("dd.bin");
    await sh(
      `dd if=/dev/zero of=${f} bs=1M count=20 status=none && printf 'MARK' | dd of=${f} bs=1 seek=15000000 conv=notrunc status=none`,
    );
    expect(await sh(`dd if=${f} bs=1 skip=15000000 count=4 status=none`)).toBe("MARK");
    expect((await objectHead(bucket, "dd.bin")).size).toBe(20 * 1024 * 1024);
  });

  it("ls -l shows sizes, modes and directories; chmod and touch persist as s3fs metadata", async () => {
    await sh(
      `mkdir ${mount.path("meta")} && printf 12345 > ${mount.path("meta/f")} && chmod 640 ${mount.path("meta/f")} && touch -d '2020-01-02 03:04:05' ${mount.path("meta/f")}`,
    );
    const listing = await sh(`ls -l --time-style=+%Y ${mount.path("meta")}`);
    expect(listing).toMatch(/-rw-r----- 1 \S+ \S+ 5 2020 f/);
    const head = await objectHead(bucket, "meta/f");
    expect(head.metadata).toMatchObject({ mode: String(0o100640) });
    expect(Number(head.metadata.mtime)).toBe(
      Date.parse("2020-01-02T03:04:05Z") / 1000 + new Date().getTimezoneOffset() * 60,
    );
    expect(Number((await objectHead(bucket, "meta/")).metadata.mode) & 0o170000).toBe(0o40000);
  });

  it("symlinks, FIFOs, rmdir, and clear errors for what object storage cannot do", async () => {
    await sh(`cd ${mount.dir} && echo target > t && ln -s t link && mkdir empty && mkdir full && touch full/x`);
    expect((await sh(`readlink ${mount.path("link")}`)).trim()).toBe("t");
    expect(await sh(`cat ${mount.path("link")}`)).toBe("target\n");
    expect(shResult(`rmdir ${mount.path("full")}`).stderr).toMatch(/not empty/i);
    expect(shResult(`rmdir ${mount.path("empty")}`).code).toBe(0);
    expect(shResult(`ln ${mount.path("t")} ${mount.path("hard")}`).stderr).toMatch(/not supported|not permitted/i);
    // FIFOs are stored as s3fs stores them (an empty object whose mode carries S_IFIFO).
    await sh(`mkfifo ${mount.path("fifo")}`);
    expect((await sh(`stat -c %F ${mount.path("fifo")}`)).trim()).toBe("fifo");
    expect(Number((await objectHead(bucket, "link")).metadata.mode) & 0o170000).toBe(0o120000);
  });

  it("shows objects written by others, including implicit directories without markers", async () => {
    const store = await backend.store(bucket);
    await store.put({ key: "outside/deep/file.txt", body: Buffer.from("from sdk") });
    await store.put({ key: "outside/bad//name", body: Buffer.from("x") });
    // Shows once the negative-lookup TTL of the mount (and the kernel's entry cache) has passed.
    await until(
      "the object written outside to show",
      () => shResult(`cat ${mount.path("outside/deep/file.txt")}`).stdout === "from sdk",
    );
    expect((await sh(`ls ${mount.path("outside")}`)).split("\n").filter(Boolean).sort()).toEqual(["bad", "deep"]);
    expect((await sh(`ls -A ${mount.path("outside/bad")}`)).trim()).toBe("");
  });
});

const IDC_CASES =
  (only("BUCKETFS_TEST_BACKENDS")?.includes("idc") ?? true) ? BINDINGS.map((binding) => ({ binding })) : [];

describe.each(IDC_CASES)(
  "a mounted IDC index ($binding binding) used with ordinary tools, read-only",
  ({ binding }) => {
    let fixtures: IdcFixtures;
    let mount: TestMount;
    let local: string;
    const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

    beforeAll(async () => {
      local = tempDir("idc-tools");
      fixtures = makeIdcFixtures(join(local, "fx"));
      await uploadIdcFixtures(fixtures, sdkClient());
      mount = await TestMount.start("idc", ["--idc-index", fixtures.parquet, "--fuse-binding", binding]);
    });
    afterAll(async () => {
      await mount?.stop();
      await sh(`rm -rf ${local}`);
    });

    it(`serves through the ${binding} binding`, () => {
      expect(mount.log()).toContain(`"binding":"${binding}"`);
    });

    it("sha256sum, cat, dd, cp -r, rsync and tar read every file byte for byte", async () => {
      const files = fixtures.series.flatMap((s) =>
        s.instances.map((i) => ({ path: `${s.dir}/${i.uuid}.dcm`, bytes: i.bytes })),
      );
      const sums = (await mount.sh(`sha256sum ${files.map((f) => f.path).join(" ")}`))
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/)[0]);
      expect(sums).toEqual(files.map((f) => sha256(f.bytes)));
      const first = files[0];
      expect((await mount.sh(`cat ${first.path} | wc -c`)).trim()).toBe(String(first.bytes.length));
      expect(await mount.sh(`dd if=${first.path} bs=1 skip=128 count=4 status=none`)).toBe("DICM");
      await sh(
        `cp -r ${mount.path("test_ct")} ${local}/cp && rsync -a ${mount.path("test_sm")}/ ${local}/rsync/ && tar -C ${mount.dir} -cf ${local}/all.tar .`,
      );
      const copied = files.filter((f) => f.path.startsWith("test_ct/"));
      expect(copied.length).toBeGreaterThan(0);
      for (const f of copied)
        expect(sha256(readFileSync(join(local, "cp", f.path.slice("test_ct/".length))))).toBe(sha256(f.bytes));
      for (const f of files.filter((x) => x.path.startsWith("test_sm/")))
        expect(sha256(readFileSync(join(local, "rsync", f.path.slice("test_sm/".length))))).toBe(sha256(f.bytes));
      expect((await sh(`tar -tf ${local}/all.tar | grep -c '\\.dcm$'`)).trim()).toBe(String(files.length));
    });

    it("ls -l and stat show read-only modes; every change is refused with Read-only file system", async () => {
      const file = `${fixtures.series[0].dir}/${fixtures.series[0].instances[0].uuid}.dcm`;
      expect((await mount.sh(`stat -c '%A %s' ${file}`)).trim()).toBe(
        `-r--r--r-- ${fixtures.series[0].instances[0].bytes.length}`,
      );
      expect((await mount.sh("stat -c %A test_ct")).trim()).toBe("dr-xr-xr-x");
      for (const change of [
        `cp ${local}/all.tar new.tar`,
        "touch test_ct/x",
        "mkdir test_ct/d",
        `rm ${file}`,
        `mv ${file} moved.dcm`,
        "ln -s test_ct link",
        `truncate -s 0 ${file}`,
      ]) {
        const result = shResult(`cd ${mount.dir} && ${change}`);
        expect({ change, code: result.code, readOnly: /Read-only file system/.test(result.stderr) }).toEqual({
          change,
          code: 1,
          readOnly: true,
        });
      }
    });
  },
);
