#!/usr/bin/env python3
"""Read benchmark of bucketfs against raw clients, s3fs, rclone and a trivial FUSE filesystem.

Everything is measured in the same run, on the same loopback S3 server (Ceph RGW), and reported
as the median of RUNS repetitions with ratios against the baseline named in each row.
The mounts are driven by dd, cat, ls and this Python process — never by a Node process, which
must not do file I/O on a mount served by Node.

    npx tsc -p . && python3 scripts/bench-read.py            # S3_ENDPOINT + AWS_* from the env,
                                                            # or it starts scripts/s3-server.sh
    RUNS=3 SIZE_MIB=1024 python3 scripts/bench-read.py

It installs s3fs and rclone with apt-get if they are missing (needs root, as does dropping the
page cache between runs).
"""
import json, os, random, re, shutil, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("RUNS", "3"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
SLIDE_READS, SLIDE_READ = 200, 256 * 1024
LS_OBJECTS = 2000
CAP_MIB = int(os.environ.get("CAP_MIB", "256"))
WORK = tempfile.mkdtemp(prefix="bench-read-")
BUCKET = os.environ.get("BENCH_BUCKET") or f"bench-read-{int(time.time())}"
NODE = shutil.which("node")
ENV = dict(os.environ, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING="1")


def run(cmd, env=None, **kw):
    result = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, env=env or ENV, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def drop_caches():
    """Drops the page cache, then re-warms the S3 server's own data (RGW runs on this machine, so
    dropping caches would otherwise make every later client read the object from disk and every
    comparison with the SDK baselines, measured on a warm server, unfair)."""
    run("sync; echo 3 > /proc/sys/vm/drop_caches")
    client("parallel-get", BUCKET, "big")


def client(*args):
    return run([NODE, "--no-warnings", os.path.join(ROOT, "scripts/bench-read-client.mjs"), *args]).strip().splitlines()[-1]


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dd_mbps(path):
    seconds = timed(lambda: run(["dd", f"if={path}", "of=/dev/null", "bs=1M"]))
    return SIZE_MIB * 1.048576 / seconds


def setup_server():
    if "S3_ENDPOINT" not in ENV:
        out = run(["bash", os.path.join(ROOT, "scripts/s3-server.sh"), "start", "7590", os.path.join(WORK, "s3")])
        for line in out.splitlines():
            m = re.match(r"(?:export )?(\w+)=(.*)", line)
            if m:
                ENV[m.group(1)] = m.group(2).strip("'\"")
    if not shutil.which("s3fs") or not shutil.which("rclone"):
        run("apt-get install -y s3fs rclone")


class Mount:
    """One mounted filesystem under test; `kind` is bucketfs, s3fs, rclone or ceiling."""

    def __init__(self, kind, cache_dir=None, extra=()):
        self.kind, self.dir, self.pid = kind, tempfile.mkdtemp(dir=WORK, prefix=f"{kind}-"), None
        self.cache_dir = cache_dir or tempfile.mkdtemp(dir=WORK, prefix=f"{kind}-cache-")
        if kind == "bucketfs":
            out = run([NODE, os.path.join(ROOT, "bin/bucketfs.js"), "mount", f"s3://{BUCKET}", self.dir, "--endpoint", ENV["S3_ENDPOINT"], "--cache-dir", self.cache_dir, *extra])
            self.pid = int(re.search(r"daemon pid (\d+)", out).group(1))
        elif kind == "s3fs":
            passwd = os.path.join(WORK, "s3fs.passwd")
            with open(passwd, "w") as f:
                f.write(f"{ENV['AWS_ACCESS_KEY_ID']}:{ENV['AWS_SECRET_ACCESS_KEY']}\n")
            os.chmod(passwd, 0o600)
            run(["s3fs", BUCKET, self.dir, "-o", f"url={ENV['S3_ENDPOINT']},use_path_request_style,passwd_file={passwd},endpoint=us-east-1", *extra])
        elif kind == "rclone":
            ENV.update(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Ceph", RCLONE_CONFIG_BENCH_ENDPOINT=ENV["S3_ENDPOINT"],
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ENV["AWS_ACCESS_KEY_ID"], RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=ENV["AWS_SECRET_ACCESS_KEY"])
            # rclone cannot use AWS_CA_BUNDLE with its own HTTP transport (LoadCustomCABundleError).
            env = {k: v for k, v in ENV.items() if k != "AWS_CA_BUNDLE"}
            run(["rclone", "mount", f"bench:{BUCKET}", self.dir, "--daemon", "--vfs-cache-mode", "full", "--cache-dir", self.cache_dir, *extra], env=env)
        else:
            self.proc = subprocess.Popen([NODE, os.path.join(ROOT, "scripts/fuse-ceiling.mjs"), self.dir, str(SIZE_MIB)], stdout=subprocess.PIPE, text=True)
            self.proc.stdout.readline()
            self.pid = self.proc.pid
        for _ in range(100):
            if os.path.ismount(self.dir):
                break
            time.sleep(0.1)

    def path(self, name):
        return os.path.join(self.dir, "data" if self.kind == "ceiling" else name)

    def peak_rss_mib(self):
        with open(f"/proc/{self.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024

    def stop(self):
        if self.kind == "bucketfs":
            run([NODE, os.path.join(ROOT, "bin/bucketfs.js"), "unmount", self.dir])
        elif self.kind == "ceiling":
            self.proc.terminate()
            self.proc.wait()
        else:
            run(["fusermount", "-u", self.dir])
            time.sleep(0.5)


def slide_offsets():
    rnd = random.Random(42)
    return [rnd.randrange(0, SIZE_MIB * 1024 * 1024 - SLIDE_READ) for _ in range(SLIDE_READS)]


def slide_seconds(path):
    def go():
        with open(path, "rb", buffering=0) as f:
            for offset in slide_offsets():
                f.seek(offset)
                assert len(f.read(SLIDE_READ)) == SLIDE_READ
    return timed(go)


def ls_seconds(directory):
    return timed(lambda: run(["ls", "-l", directory]))


class Results:
    def __init__(self):
        self.values = {}

    def add(self, name, value):
        self.values.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)

    def median(self, name):
        return statistics.median(self.values[name]) if name in self.values else float("nan")


def one_run(r, local_file, local_dir):
    ranges_file = os.path.join(WORK, "ranges.txt")
    with open(ranges_file, "w") as f:
        f.write("\n".join(f"{o} {SLIDE_READ}" for o in slide_offsets()))
    r.add("sdk parallel GET MB/s", float(client("parallel-get", BUCKET, "big")))
    r.add("sdk 200 range GETs s", float(client("ranges", BUCKET, "big", ranges_file)))
    slide_seconds(local_file)
    r.add("local slide warm s", slide_seconds(local_file))
    r.add("local ls -l s", ls_seconds(local_dir))

    # bucketfs: cold (empty cache, fresh mount), then warm from disk after a remount.
    m = Mount("bucketfs")
    r.add("bucketfs cold MB/s", dd_mbps(m.path("big")))
    r.add("bucketfs peak RSS MiB", m.peak_rss_mib())
    m.stop()
    drop_caches()
    m = Mount("bucketfs", m.cache_dir)
    r.add("bucketfs warm (disk cache, remount) MB/s", dd_mbps(m.path("big")))
    m.stop()
    m = Mount("bucketfs")
    r.add("bucketfs slide cold s", slide_seconds(m.path("big")))
    r.add("bucketfs slide warm s", slide_seconds(m.path("big")))
    r.add("bucketfs ls -l cold s", ls_seconds(m.path("many")))
    r.add("bucketfs ls -l warm s", ls_seconds(m.path("many")))
    m.stop()

    m = Mount("ceiling")  # a new mount starts with an empty page cache for its file
    r.add("FUSE ceiling MB/s", dd_mbps(m.path("data")))
    m.stop()

    for kind in ("s3fs", "rclone"):
        m = Mount(kind)
        r.add(f"{kind} cold MB/s", dd_mbps(m.path("big")))
        m.stop()
        m = Mount(kind)
        r.add(f"{kind} slide cold s", slide_seconds(m.path("big")))
        r.add(f"{kind} slide warm s", slide_seconds(m.path("big")))
        r.add(f"{kind} ls -l cold s", ls_seconds(m.path("many")))
        r.add(f"{kind} ls -l warm s", ls_seconds(m.path("many")))
        m.stop()


def cap_check():
    """Reads 2x the cap of distinct data through a mount with a small cap; samples the cache dir."""
    cap = CAP_MIB * 1024 * 1024
    m = Mount("bucketfs", extra=["--cache-size", f"{CAP_MIB}M"])
    cache = os.path.join(m.cache_dir, "read-cache")
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            out = subprocess.run(["du", "-s", "--block-size=1", cache], capture_output=True, text=True).stdout.split()
            if out:
                peak = max(peak, int(out[0]))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    run(["dd", f"if={m.path('big')}", "of=/dev/null", "bs=1M", f"count={2 * CAP_MIB}"])
    done.set()
    sampler.join()
    m.stop()
    return cap, peak, index_cost(m.cache_dir)


def index_cost(cache_dir):
    """The daemon logs its SQLite index cost when it closes the cache."""
    for name in os.listdir(os.path.join(cache_dir, "logs")):
        with open(os.path.join(cache_dir, "logs", name)) as f:
            for line in f:
                if "read cache closed" in line:
                    return json.loads(line)
    return {}


def table(r, cap, peak, index):
    m = r.median
    rows = [
        ("cold sequential 1 GiB, bucketfs vs SDK parallel ranged GETs", m("bucketfs cold MB/s"), m("sdk parallel GET MB/s"), "MB/s", ">= 0.9x"),
        ("cold sequential, bucketfs vs s3fs", m("bucketfs cold MB/s"), m("s3fs cold MB/s"), "MB/s", ">= 2x"),
        ("cold sequential, bucketfs vs rclone (full cache)", m("bucketfs cold MB/s"), m("rclone cold MB/s"), "MB/s", ">= 2x"),
        ("warm after remount (disk cache, page cache dropped) vs FUSE ceiling", m("bucketfs warm (disk cache, remount) MB/s"), m("FUSE ceiling MB/s"), "MB/s", ">= 0.8x"),
        ("slide 200 x 256 KiB cold, bucketfs vs 200 sequential SDK range GETs", m("bucketfs slide cold s"), m("sdk 200 range GETs s"), "s", "<= 3x"),
        ("slide warm, bucketfs vs local file (in page cache)", m("bucketfs slide warm s"), m("local slide warm s"), "s", "<= 1.5x"),
        ("slide cold, s3fs vs SDK range GETs", m("s3fs slide cold s"), m("sdk 200 range GETs s"), "s", ""),
        ("slide warm, s3fs vs local", m("s3fs slide warm s"), m("local slide warm s"), "s", ""),
        ("slide cold, rclone vs SDK range GETs", m("rclone slide cold s"), m("sdk 200 range GETs s"), "s", ""),
        ("slide warm, rclone vs local", m("rclone slide warm s"), m("local slide warm s"), "s", ""),
        ("ls -l 2,000 objects cold, bucketfs vs local dir", m("bucketfs ls -l cold s"), m("local ls -l s"), "s", ""),
        ("ls -l warm, bucketfs vs local dir", m("bucketfs ls -l warm s"), m("local ls -l s"), "s", ""),
        ("ls -l cold, s3fs vs local dir", m("s3fs ls -l cold s"), m("local ls -l s"), "s", ""),
        ("ls -l warm, s3fs vs local dir", m("s3fs ls -l warm s"), m("local ls -l s"), "s", ""),
        ("ls -l cold, rclone vs local dir", m("rclone ls -l cold s"), m("local ls -l s"), "s", ""),
        ("ls -l warm, rclone vs local dir", m("rclone ls -l warm s"), m("local ls -l s"), "s", ""),
    ]
    print(f"\n| measurement (median of {RUNS}) | value | baseline | ratio | target |\n|---|---|---|---|---|")
    for name, value, base, unit, target in rows:
        print(f"| {name} | {value:.3f} {unit} | {base:.3f} {unit} | {value / base:.2f}x | {target} |")
    print(f"| daemon peak RSS during the cold 1 GiB read (VmHWM) | {m('bucketfs peak RSS MiB'):.0f} MiB | 300 MB | | <= 300 MB |")
    print(f"| cache dir peak while reading {2 * CAP_MIB} MiB with --cache-size {CAP_MIB}M (du, sampled every 50 ms) | {peak / 2**20:.1f} MiB | {cap / 2**20:.0f} MiB cap | {peak / cap:.2f}x | <= 1.0x |")
    if index:
        print(f"| SQLite index writes during that read (batched, on the event loop) | {index.get('indexMillis')} ms in {index.get('indexBatches')} batches | {index.get('indexRows')} row changes | | off the hot path |")


def main():
    setup_server()
    print(f"bench-read: {SIZE_MIB} MiB object, {RUNS} runs, server {ENV['S3_ENDPOINT']}, work dir {WORK}", flush=True)
    if not os.environ.get("BENCH_BUCKET"):  # BENCH_BUCKET: reuse the objects of an earlier run
        client("put", BUCKET, "big", str(SIZE_MIB))
        client("put-many", BUCKET, "many", str(LS_OBJECTS))
    local_file, local_dir = os.path.join(WORK, "local.bin"), os.path.join(WORK, "local-dir")
    m = Mount("bucketfs", extra=["--cache-size", "0"])
    run(["cp", m.path("big"), local_file])
    m.stop()
    os.makedirs(local_dir)
    for i in range(LS_OBJECTS):
        with open(os.path.join(local_dir, f"f{i:05d}"), "w") as f:
            f.write(f"object {i}\n")
    r = Results()
    for i in range(RUNS):
        print(f"run {i + 1}/{RUNS}", flush=True)
        one_run(r, local_file, local_dir)
    cap, peak, index = cap_check()
    table(r, cap, peak, index)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
