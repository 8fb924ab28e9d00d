#!/usr/bin/env python3
"""`ls -l` of N objects written by another tool with their own modes/owners (x-amz-meta-mode, -uid,
-gid, -mtime, as s3fs writes them): bucketfs against s3fs on one loopback S3 server in one run, and
warm bucketfs against a local directory. Each cell is the median of RUNS runs (seconds).

    npx tsc -p . && python3 scripts/bench-ls.py          # needs root (FUSE), s3fs (apt-get install s3fs)

Rows: cold = a fresh mount and an empty cache dir (no attribute ever read); remount = a fresh mount
over the cache dir of a previous one (bucketfs keeps attributes per object version in SQLite);
warm = `ls -l` again on the same mount. Every listing is checked: all N entries must show the mode
and owner that were stored, or the run fails. Env: N (2000), RUNS (3), S3_ENDPOINT and AWS_* of a
server (default: scripts/s3-server.sh on S3_PORT, 7640, started and purged here). Everything it
creates (mounts, bucket data, temp dirs, the server it started) is removed on exit.
"""
import os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin/bucketfs.js")
NODE = shutil.which("node") or "node"
N = int(os.environ.get("N", "2000"))
RUNS = int(os.environ.get("RUNS", "3"))
ENV = dict(os.environ, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING="1")
CLEANUPS = []
DAEMONS = {}  # mountpoint -> bucketfs daemon pid

# Writes N objects under d/ with metadata the way s3fs does; 32 PUTs in flight.
WRITE_JS = r"""
import { S3Client, CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
const [Bucket, n] = process.argv.slice(1);
const s3 = new S3Client({ endpoint: process.env.S3_ENDPOINT, region: "us-east-1", forcePathStyle: true });
await s3.send(new CreateBucketCommand({ Bucket }));
let next = 0;
const worker = async () => { for (let i = next++; i < Number(n); i = next++) {
  const Metadata = { mode: String(0o100000 | (0o600 + (i % 64))), uid: String(1000 + (i % 7)), gid: "100", mtime: String(1500000000 + i) };
  await s3.send(new PutObjectCommand({ Bucket, Key: `d/f${i}`, Body: "x", Metadata }));
} };
await Promise.all(Array.from({ length: 32 }, worker));
"""


def run(cmd, env=None, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout


def expected_lines():
    return sorted(f"{oct(0o600 + (i % 64))[2:]} {1000 + (i % 7)}:100 f{i}" for i in range(N))


def timed_ls(directory):
    """Seconds for `ls -l` (output to a pipe), and the check that every entry shows its stored mode."""
    t0 = time.perf_counter()
    out = run(["ls", "-ln", directory])
    seconds = time.perf_counter() - t0
    seen = []
    for line in out.splitlines()[1:]:
        f = line.split()
        seen.append(f"{mode_bits(f[0])} {f[2]}:{f[3]} {f[-1]}")
    if sorted(seen) != expected_lines():
        wrong = next((s for s, e in zip(sorted(seen), expected_lines()) if s != e), "count")
        raise RuntimeError(f"ls -l of {directory} shows wrong attributes (first: {wrong})")
    return seconds


def mode_bits(text):
    bits = 0
    for ch in text[1:10]:
        bits = bits * 2 + (ch != "-")
    return oct(bits)[2:]


def wait_mounted(directory):
    for _ in range(200):
        if os.path.ismount(directory):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{directory} did not mount")


def mount(kind, bucket, work, cache):
    directory = tempfile.mkdtemp(dir=work, prefix=f"mnt-{kind}-")
    if kind == "bucketfs":
        out = run([NODE, BIN, "mount", f"s3://{bucket}", directory, "--endpoint", ENV["S3_ENDPOINT"], "--cache-dir", cache])
        DAEMONS[directory] = int(re.search(r"daemon pid (\d+)", out).group(1))
    else:
        passwd = os.path.join(work, "s3fs.passwd")
        with open(os.open(passwd, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{ENV['AWS_ACCESS_KEY_ID']}:{ENV['AWS_SECRET_ACCESS_KEY']}\n")
        run(["s3fs", bucket, directory, "-o", f"url={ENV['S3_ENDPOINT']},use_path_request_style,passwd_file={passwd},endpoint=us-east-1"])
    wait_mounted(directory)
    return directory


def unmount(directory):
    subprocess.run(["fusermount3", "-u", directory], capture_output=True)
    if os.path.ismount(directory):
        subprocess.run(["umount", "-l", directory], capture_output=True)
    os.rmdir(directory)
    # The daemon notices and exits a moment later; a remount over its cache dir must wait for that
    # (its staging lock), or the benchmark races it.
    pid = DAEMONS.pop(directory, None)
    for _ in range(600):
        if pid is None or not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"bucketfs daemon {pid} did not exit after its unmount")


def measure(kind, bucket, work):
    """cold, remount and warm seconds of one run for bucketfs or s3fs."""
    cache = tempfile.mkdtemp(dir=work, prefix=f"cache-{kind}-")
    try:
        d = mount(kind, bucket, work, cache)
        try:
            cold = timed_ls(f"{d}/d")
            warm = timed_ls(f"{d}/d")
        finally:
            unmount(d)
        d = mount(kind, bucket, work, cache)
        try:
            remount = timed_ls(f"{d}/d")
        finally:
            unmount(d)
        return {"cold": cold, "remount": remount, "warm": warm}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def local_dir(work):
    d = os.path.join(work, "local", "d")
    os.makedirs(d)
    for i in range(N):
        p = os.path.join(d, f"f{i}")
        with open(p, "w") as f:
            f.write("x")
        os.chown(p, 1000 + (i % 7), 100)
        os.chmod(p, 0o600 + (i % 64))
    timed_ls(d)  # fill the dentry/inode caches: the local column is a warm one
    return d


def main():
    work = tempfile.mkdtemp(prefix="bucketfs-bench-ls-")
    CLEANUPS.append(lambda: shutil.rmtree(work, ignore_errors=True))
    if "S3_ENDPOINT" not in ENV:
        data = os.path.join(work, "s3")
        CLEANUPS.append(lambda: run(["bash", os.path.join(ROOT, "scripts/s3-server.sh"), "stop", data, "--purge"]))
        out = run(["bash", os.path.join(ROOT, "scripts/s3-server.sh"), "start", os.environ.get("S3_PORT", "7640"), data])
        ENV.update(dict(re.findall(r"^(\w+)=(.*)$", out, re.M)))
    bucket = f"bench-ls-{int(time.time())}"
    run([NODE, "--input-type=module", "-e", WRITE_JS, bucket, str(N)], cwd=ROOT)
    results = {"bucketfs": [], "s3fs": [], "local": []}
    local = local_dir(work)
    for _ in range(RUNS):
        results["bucketfs"].append(measure("bucketfs", bucket, work))
        results["s3fs"].append(measure("s3fs", bucket, work))
        results["local"].append({"warm": timed_ls(local)})
    med = lambda col, row: statistics.median(r[row] for r in results[col])
    print(f"ls -l of {N} objects with their own modes (seconds, median of {RUNS}; every listing showed the stored modes)")
    print(f"{'':10}{'bucketfs':>10}{'s3fs':>10}{'local':>10}")
    for row in ("cold", "remount", "warm"):
        loc = f"{med('local', 'warm'):>10.3f}" if row == "warm" else f"{'':>10}"
        print(f"{row:10}{med('bucketfs', row):>10.3f}{med('s3fs', row):>10.3f}{loc}")
    print(f"cold bucketfs/s3fs = {med('bucketfs', 'cold') / med('s3fs', 'cold'):.2f}; warm bucketfs/local = {med('bucketfs', 'warm') / med('local', 'warm'):.2f}")


if __name__ == "__main__":
    try:
        main()
    finally:
        for undo in reversed(CLEANUPS):
            try:
                undo()
            except Exception as err:  # keep cleaning up
                print(f"cleanup: {err}", file=sys.stderr)
