/**
 * POSIX conformance on S3 (Ceph RGW) and GCS (the emulator), through a real `--allow-other`
 * mount with the native binding: owners taken from the calling process (programs run as uid
 * 65534 with setpriv), chown by the rules Linux applies, FIFOs/sockets/device nodes stored as
 * s3fs stores them (empty objects whose x-amz-meta-mode carries the type, x-amz-meta-rdev the
 * device), and ENAMETOOLONG for names and keys beyond the limits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, s3Backend } from "../helpers/backends.js";
import { gcsClient } from "../helpers/gcs.js";
import { freePort, MountMetrics } from "../helpers/metrics.js";
import { sh, shResult, tempDir, TestMount } from "../helpers/mount.js";

const NOBODY = "setpriv --reuid 65534 --regid 65534 --clear-groups";
const S_IFMT = 0o170000;

// S3 and GCS, the backends the POSIX issue names; az:// has its own suites (azure-*.spec.ts).
describe.each(BACKENDS.filter((b) => b.name !== "azure"))("POSIX semantics on a mounted $name bucket", (backend) => {
  let bucket: string;
  let mount: TestMount;
  const dir = (name: string): string => mount.path(`w/${name}`);
  const statOf = async (path: string): Promise<string> => (await sh(`stat -c '%F %u:%g %a %t:%T %s' ${path}`)).trim();

  beforeAll(async () => {
    bucket = await backend.freshBucket("posix");
    mount = await TestMount.start(backend.source(bucket), ["--fuse-binding", "native", "--allow-other"]);
    await sh(`mkdir ${mount.path("w")} && chmod 777 ${mount.path("w")}`);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("records the calling user as the owner of what it creates", async () => {
    await sh(
      `cd ${mount.path("w")} && ${NOBODY} sh -c 'echo x > own-f && mkdir own-d && ln -s own-f own-l && mkfifo own-p'`,
    );
    expect(await statOf(dir("own-f"))).toBe("regular file 65534:65534 644 0:0 2");
    expect(await statOf(dir("own-d"))).toBe("directory 65534:65534 755 0:0 4096");
    expect((await sh(`stat -c '%F %u:%g' ${dir("own-l")}`)).trim()).toBe("symbolic link 65534:65534");
    expect(await statOf(dir("own-p"))).toBe("fifo 65534:65534 644 0:0 0");
    const stored = await backend.head(bucket, "w/own-f");
    expect([stored.metadata.uid, stored.metadata.gid]).toEqual(["65534", "65534"]);
    expect((await backend.head(bucket, "w/own-d/")).metadata.uid).toBe("65534");
    // The owner may chmod its file (before, it was root's, and this was EPERM).
    await sh(`${NOBODY} chmod 600 ${dir("own-f")}`);
    expect(Number((await backend.head(bucket, "w/own-f")).metadata.mode) & 0o7777).toBe(0o600);
  });

  it("lets only root change the owner, and the owner change the group to one of its groups", async () => {
    await sh(`cd ${mount.path("w")} && ${NOBODY} touch grp-f`);
    const giveAway = shResult(`${NOBODY} chown 0 ${dir("grp-f")}`);
    expect(giveAway.code).toBe(1);
    expect(giveAway.stderr).toContain("Operation not permitted");
    const foreignGroup = shResult(`${NOBODY} chgrp 0 ${dir("grp-f")}`);
    expect(foreignGroup.stderr).toContain("Operation not permitted");
    await sh(`setpriv --reuid 65534 --regid 65534 --groups 5 chgrp 5 ${dir("grp-f")}`);
    expect(await statOf(dir("grp-f"))).toBe("regular empty file 65534:5 644 0:0 0");
    await sh(`chown 7:8 ${dir("grp-f")}`);
    expect((await backend.head(bucket, "w/grp-f")).metadata).toMatchObject({ uid: "7", gid: "8" });
  });

  it("clears set-user-ID (and set-group-ID with group execute) when the owner changes", async () => {
    await sh(`touch ${dir("suid")} && chmod 6755 ${dir("suid")} && chown 65534 ${dir("suid")}`);
    expect(await statOf(dir("suid"))).toBe("regular empty file 65534:0 755 0:0 0");
    expect(Number((await backend.head(bucket, "w/suid")).metadata.mode) & 0o7777).toBe(0o755);
  });

  it("stores FIFOs, sockets and device nodes as s3fs does, and renames, chmods, chowns and removes them", async () => {
    await sh(
      `cd ${mount.path("w")} && mkfifo sp-fifo && mknod sp-chr c 1 3 && mknod sp-blk b 8 17 && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sp-sock")'`,
    );
    expect(await statOf(dir("sp-chr"))).toBe("character special file 0:0 644 1:3 0");
    expect(await statOf(dir("sp-blk"))).toBe("block special file 0:0 644 8:11 0");
    expect((await sh(`stat -c '%F' ${dir("sp-sock")}`)).trim()).toBe("socket");
    const chr = await backend.head(bucket, "w/sp-chr");
    expect(chr.size).toBe(0);
    expect(Number(chr.metadata.mode) & S_IFMT).toBe(0o020000);
    expect(Number(chr.metadata.rdev)).toBe((1 << 8) | 3);
    expect(Number((await backend.head(bucket, "w/sp-fifo")).metadata.mode) & S_IFMT).toBe(0o010000);
    expect(Number((await backend.head(bucket, "w/sp-sock")).metadata.mode) & S_IFMT).toBe(0o140000);
    // A FIFO works as one: the kernel joins a writer and a reader.
    expect((await sh(`cd ${mount.path("w")} && (echo through > sp-fifo &) && cat sp-fifo`)).trim()).toBe("through");
    await sh(`cd ${mount.path("w")} && mv sp-fifo sp-fifo2 && chmod 600 sp-chr && chown 3:4 sp-blk && rm sp-sock`);
    expect(await statOf(dir("sp-fifo2"))).toBe("fifo 0:0 644 0:0 0");
    expect(await statOf(dir("sp-chr"))).toBe("character special file 0:0 600 1:3 0");
    expect(await statOf(dir("sp-blk"))).toBe("block special file 3:4 644 8:11 0");
    expect(Number((await backend.head(bucket, "w/sp-chr")).metadata.mode) & S_IFMT).toBe(0o020000);
    expect((await backend.listKeys(bucket, "w/sp-")).sort()).toEqual(["w/sp-blk", "w/sp-chr", "w/sp-fifo2"]);
  });

  it("shows a FIFO written by another tool (s3fs's layout) as a FIFO in a listing", async () => {
    await (
      await backend.store(bucket)
    ).put({
      key: "w/foreign/pipe",
      body: Buffer.alloc(0),
      metadata: { mode: String(0o010640), uid: "12", gid: "34", mtime: "1600000000" },
    });
    expect((await sh(`ls -ln --time-style=+%s ${dir("foreign")}`)).trim().split("\n")[1]).toMatch(
      /^prw-r----- 1 12 34 0 1600000000 pipe$/,
    );
  });

  it("fallocate extends (mode 0), keeps the size (KEEP_SIZE), and refuses other modes", async () => {
    await sh(`fallocate -l 100000 ${dir("fa")} && fallocate -n -l 300000 ${dir("fa")}`);
    expect((await sh(`stat -c %s ${dir("fa")}`)).trim()).toBe("100000");
    expect((await backend.head(bucket, "w/fa")).size).toBe(100000);
    const punch = shResult(`fallocate -p -o 0 -l 10 ${dir("fa")}`);
    expect(punch.code).toBe(1);
    expect(punch.stderr).toMatch(/unsupported|not supported/);
  });

  it("keeps atime (touch -a), sets each time alone (UTIME_OMIT), and moves ctime on changes", async () => {
    await sh(
      `touch ${dir("times")} && touch -a -d @1500000000 ${dir("times")} && touch -m -d @1600000000 ${dir("times")}`,
    );
    expect((await sh(`stat -c '%X %Y' ${dir("times")}`)).trim()).toBe("1500000000 1600000000");
    const stored = (await backend.head(bucket, "w/times")).metadata;
    expect([stored.atime, stored.mtime]).toEqual(["1500000000", "1600000000"]);
    expect(Number(stored.ctime)).toBeGreaterThan(1_700_000_000);
  });

  it("moves a directory's mtime and ctime when entries are created, removed or renamed in it", async () => {
    // Each step first sets both directories' mtime to 2001 (utimens), then changes an entry;
    // "y" = the directory's mtime is now at least the step's start and its ctime equals it.
    const script = `set -e; cd ${mount.path("w")}; mkdir dt dt2
touch -d @1000000000 dt; stat -c %Y dt
check() { for d in "$@"; do m=$(stat -c %Y $d); c=$(stat -c %Z $d); if [ $m -ge $before ] && [ $c -eq $m ]; then printf y; else printf n; fi; done; printf " "; }
step() { touch -d @1000000000 dt dt2; before=$(date +%s); eval "$1"; shift; check "$@"; }
step "touch dt/f" dt; step "mkdir dt/s" dt; step "ln -s f dt/l" dt; step "mkfifo dt/p" dt; step "mv dt/f dt/g" dt
step "mv dt/g dt2/g" dt dt2; step "rm dt2/g" dt2; step "rmdir dt/s" dt; step "rm dt/l dt/p" dt; step "true" dt dt2`;
    expect((await sh(script)).trim()).toBe("1000000000\ny y y y y yy y y y nn");
  });

  it("in a sticky directory lets only the entry's owner, the directory's owner or root remove or rename an entry", async () => {
    const OTHER = "setpriv --reuid 65533 --regid 65533 --clear-groups";
    // The system python: another user cannot run root's pyenv shim.
    const as = (who: string, calls: string): Promise<string> =>
      sh(`cd ${mount.path("w/sk")} && ${who} /usr/bin/python3 -c '
import os, errno
def t(f, *a):
    try: f(*a); return "ok"
    except OSError as e: return errno.errorcode[e.errno]
print(${calls})'`).then((out) => out.trim());
    await sh(`mkdir ${dir("sk")} && chmod 1777 ${dir("sk")}`);
    await sh(`cd ${dir("sk")} && ${NOBODY} sh -c 'touch a b && mkdir d' && ${OTHER} touch x`);
    expect((await sh(`stat -c '%A %u' ${dir("sk")}`)).trim()).toBe("drwxrwxrwt 0");
    // Neither the entry's nor the directory's owner: EPERM, as Linux answers.
    expect(await as(OTHER, 't(os.unlink, "a"), t(os.rename, "b", "c"), t(os.rmdir, "d")')).toBe("EPERM EPERM EPERM");
    // Over an entry someone else owns: EPERM too, even for the owner of the source.
    expect(await as(NOBODY, 't(os.rename, "b", "x")')).toBe("EPERM");
    // The entry's owner may.
    expect(await as(NOBODY, 't(os.rename, "b", "c"), t(os.unlink, "a")')).toBe("ok ok");
    // The directory's owner may remove what others own; root may too.
    await sh(`chown 65533:65533 ${dir("sk")}`);
    expect(await as(OTHER, 't(os.unlink, "c")')).toBe("ok");
    expect(await as("", 't(os.rmdir, "d"), t(os.unlink, "x")')).toBe("ok ok");
    expect((await sh(`ls -A ${dir("sk")}`)).trim()).toBe("");
  });

  it("answers rename(2) over existing entries with the POSIX errors, and O_EXCL with EEXIST", async () => {
    await sh(`cd ${mount.path("w")} && mkdir rn-d1 rn-d2 rn-e && touch rn-d2/x rn-f && mkfifo rn-p`);
    const script = `import os, errno
def t(a, b):
    try: os.rename(a, b); return "ok"
    except OSError as e: return errno.errorcode[e.errno]
print(t("rn-d1", "rn-d2"), t("rn-d1", "rn-d1/s"), t("rn-f", "rn-d1"), t("rn-d1", "rn-f"), t("rn-p", "rn-d1"), t("rn-p", "rn-f"), t("rn-e", "rn-d1"))
os.close(os.open("rn-x", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
try: os.open("rn-x", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except OSError as e: print(errno.errorcode[e.errno])`;
    const out = (await sh(`cd ${mount.path("w")} && python3 -c '${script}'`)).trim();
    expect(out).toBe("ENOTEMPTY EINVAL EISDIR ENOTDIR EISDIR ok ok\nEEXIST");
    expect((await sh(`stat -c %F ${dir("rn-f")}`)).trim()).toBe("fifo");
  });

  it("answers ENAMETOOLONG for a name over 255 bytes and for a key over 1,024 bytes", async () => {
    const long = "n".repeat(256);
    const lookup = shResult(`stat ${dir(long)}`);
    expect(lookup.code).toBe(1);
    expect(lookup.stderr).toContain("File name too long");
    expect(shResult(`chmod 600 ${dir(long)}`).stderr).toContain("File name too long");
    // 4 components of 250 bytes: the key w/a…/b…/c…/d… is 1,005 bytes; a 30-byte name passes 1,024.
    const deep = ["a", "b", "c", "d"].map((c) => c.repeat(250)).join("/");
    await sh(`mkdir -p ${dir(deep)}`);
    const tooDeep = shResult(`touch ${dir(`${deep}/${"e".repeat(30)}`)}`);
    expect(tooDeep.stderr).toContain("File name too long");
    const deepStat = shResult(`stat ${dir(`${deep}/${"e".repeat(30)}`)}`);
    expect(deepStat.stderr).toContain("File name too long");
    await sh(`touch ${dir(`${deep}/${"e".repeat(10)}`)}`);
    expect(await backend.listKeys(bucket, `w/${deep}/e`)).toEqual([`w/${deep}/${"e".repeat(10)}`]);
  });
});

describe("ls -l after the metadata TTL (S3)", () => {
  let bucket: string;
  let mount: TestMount;
  let local: string;
  let cacheDir: string;
  const TTL_MS = 50;
  const start = (): Promise<TestMount> =>
    TestMount.start(`s3://${bucket}`, [
      "--fuse-binding",
      "native",
      "--metadata-ttl",
      `${TTL_MS}ms`,
      "--cache-dir",
      cacheDir,
    ]);

  beforeAll(async () => {
    bucket = await s3Backend.freshBucket("lsl");
    local = tempDir("lsl");
    cacheDir = tempDir("lsl-cache");
    mount = await start();
  });
  afterAll(async () => {
    await mount?.stop();
    await sh(`rm -rf ${local} ${cacheDir}`);
  });

  it("rsync -a run twice transfers nothing the second time, with a TTL shorter than the copy", async () => {
    await sh(
      `mkdir -p ${local}/rs/sub && for i in $(seq 1 30); do head -c $((i * 100)) /dev/urandom > ${local}/rs/f$i; chmod $((600 + i % 2 * 40)) ${local}/rs/f$i; done && echo hi > ${local}/rs/sub/note && chmod 700 ${local}/rs/sub`,
    );
    const started = Date.now();
    await sh(`rsync -a ${local}/rs/ ${mount.path("rs")}/`);
    expect(Date.now() - started).toBeGreaterThan(TTL_MS);
    expect((await sh(`rsync -a --itemize-changes ${local}/rs/ ${mount.path("rs")}/`)).trim()).toBe("");
  });

  it("shows the modes and owners another tool stored, in a listing and after a remount", async () => {
    const store = await s3Backend.store(bucket);
    for (let i = 0; i < 20; i++) {
      await store.put({
        key: `foreign/f${i}`,
        body: Buffer.from("x"),
        metadata: { mode: String(0o100000 | (0o600 + i)), uid: String(1000 + i), gid: "77", mtime: "1500000000" },
      });
    }
    await store.put({
      key: "foreign/sub/",
      body: Buffer.alloc(0),
      metadata: { mode: String(0o040000 | 0o700), uid: "5", gid: "6" },
    });
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `${(0o600 + i).toString(8)} ${1000 + i}:77 f${i}`),
      "700 5:6 sub",
    ].sort();
    const listing = async (): Promise<string[]> =>
      (await sh(`cd ${mount.path("foreign")} && stat -c '%a %u:%g %n' *`)).trim().split("\n").sort();
    expect(await listing()).toEqual(expected);
    await mount.stop();
    mount = await start();
    expect(await listing()).toEqual(expected);
    expect(await sh(`ls ${cacheDir}/attributes`)).toMatch(/\.sqlite\n/);
  });
});

describe("metadata changes and appends on GCS (objects.patch, objects.compose)", () => {
  let bucket: string;
  let mount: TestMount;
  let metrics: MountMetrics;
  const generation = async (key: string): Promise<string> =>
    String((await gcsClient().bucket(bucket).file(key).getMetadata())[0].generation);

  beforeAll(async () => {
    bucket = await BACKENDS.find((b) => b.name === "gcs")!.freshBucket("patch");
    metrics = new MountMetrics(await freePort());
    mount = await TestMount.start(`gs://${bucket}`, ["--fuse-binding", "native", "--metrics-addr", metrics.addr]);
  });
  afterAll(async () => {
    await mount?.stop();
  });

  it("chmod, chown and touch keep the object's generation (no rewrite) and its other metadata", async () => {
    await gcsClient()
      .bucket(bucket)
      .file("p.bin")
      .save(Buffer.alloc(100_000, 1), { metadata: { metadata: { keep: "me", mode: String(0o100644) } } });
    const before = await generation("p.bin");
    await sh(`chmod 640 ${mount.path("p.bin")}`);
    expect(await generation("p.bin"), "after chmod").toBe(before);
    await sh(`chown 9:10 ${mount.path("p.bin")}`);
    expect(await generation("p.bin"), "after chown").toBe(before);
    await sh(`touch -m -d @1400000000 ${mount.path("p.bin")}`);
    expect(await generation("p.bin"), "after touch").toBe(before);
    const [md] = await gcsClient().bucket(bucket).file("p.bin").getMetadata();
    expect(md.metadata).toMatchObject({ keep: "me", mode: String(0o100640), uid: "9", gid: "10", mtime: "1400000000" });
    expect((await sh(`stat -c '%a %u:%g %Y %s' ${mount.path("p.bin")}`)).trim()).toBe("640 9:10 1400000000 100000");
  });

  it("appends by composing the old object with the new tail, sending only the tail", async () => {
    const base = Buffer.alloc(24 * 1024 * 1024, 7);
    await gcsClient().bucket(bucket).file("log.bin").save(base, { resumable: false });
    const sentBefore = await metrics.value("bucketfs_store_bytes_total", 'direction="out"');
    await sh(`printf 'appended tail' >> ${mount.path("log.bin")}`);
    const sent = (await metrics.value("bucketfs_store_bytes_total", 'direction="out"')) - sentBefore;
    expect(sent).toBeLessThan(64 * 1024);
    const [stored] = await gcsClient().bucket(bucket).file("log.bin").download();
    expect(stored.length).toBe(base.length + 13);
    expect(stored.subarray(base.length).toString()).toBe("appended tail");
    expect(stored.subarray(0, base.length).equals(base)).toBe(true);
    const [files] = await gcsClient().bucket(bucket).getFiles({ prefix: ".bucketfs-parts/" });
    expect(files.map((f) => f.name)).toEqual([]);
  });
});
