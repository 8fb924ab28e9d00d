#!/usr/bin/env python3
"""Data-plane benchmark: bucketfs (native and fuse-native bindings) against s3fs, rclone, the raw
SDK and the local disk, all on one loopback S3 server in one run (the machine is shared, so only
ratios within a run mean anything). Every cell is the median of RUNS runs: MB/s and the serving
process's CPU-seconds per GiB (utime+stime from /proc/PID/stat, delta over the operation).

    npx tsc -p . && sudo python3 scripts/bench-dataplane.py [--json results.json]
    SIZE_MIB=256 RUNS=1 COLUMNS=fuse-native,s3fs SKIP_ROWS=6,latency python3 scripts/bench-dataplane.py

Env: RUNS (3), SIZE_MIB (1024), COLUMNS (native,fuse-native,s3fs,rclone,sdk,local), SKIP_ROWS
(row numbers or names: cold,remount,hot,write,rss,slides,latency,requests), S3_PORT (7620) for
the server it starts unless S3_ENDPOINT and AWS_* are set. Needs root: it drops the page cache
and installs s3fs/rclone with apt-get when missing. Mounts are driven by dd and this Python
process, never by Node (a Node process must not do file I/O on a mount served by Node).
Everything it creates (mounts, proxy, bucket, server, temp dirs) is removed on exit or Ctrl-C.
"""
from bench_proc import find_pid, proc_cpu
import json, select, os, random, re, resource, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin/bucketfs.js")
NODE = shutil.which("node") or "node"
RUNS = int(os.environ.get("RUNS", "3"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
GIB = SIZE_MIB / 1024
ALL_COLUMNS = ["native", "fuse-native", "s3fs", "rclone", "sdk", "local"]
COLUMNS = [c for c in os.environ.get("COLUMNS", ",".join(ALL_COLUMNS)).split(",") if c]
BUCKETFS = ("native", "fuse-native")  # column name = value of --fuse-binding
MOUNTS = BUCKETFS + ("s3fs", "rclone")
ROWS = ["cold", "remount", "hot", "write", "rss", "slides", "latency", "requests"]
SKIP = {ROWS[int(s) - 1] if s.isdigit() else s for s in os.environ.get("SKIP_ROWS", "").split(",") if s}
SLIDE_READS, SLIDE_READ, LATENCY_MS = 200, 256 * 1024, 20
ENV = dict(os.environ, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING="1", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="true")
WORK = BUCKET = None
CLEANUPS = []  # undo actions, run last-in first-out by cleanup_all()

# The SDK baselines and bucket chores, run as `node --input-type=module -e` from ROOT so that
# @aws-sdk resolves from the project's node_modules. Prints one JSON line.
SDK_JS = r"""
import { S3Client, CreateBucketCommand, GetObjectCommand, HeadObjectCommand, DeleteObjectCommand, DeleteBucketCommand,
  ListObjectsV2Command, ListMultipartUploadsCommand, AbortMultipartUploadCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
const [cmd, Bucket, Key, arg] = process.argv.slice(1);
const s3 = new S3Client({ endpoint: process.env.S3_ENDPOINT, region: process.env.AWS_REGION ?? "us-east-1", forcePathStyle: true,
  requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
const MiB = 1 << 20, sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const size = () => s3.send(new HeadObjectCommand({ Bucket, Key })).then((h) => h.ContentLength, () => -1);
async function measure(fn) {  // this process's own CPU, like the daemons' (utime+stime)
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  await fn();
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, rss: process.resourceUsage().maxRSS / 1024 };
}
const commands = {
  mkbucket: () => s3.send(new CreateBucketCommand({ Bucket })),
  async put() {  // random bytes, every 8 MiB piece distinct, so no layer can dedupe or compress
    const block = randomBytes(8 * MiB);
    async function* pieces() { for (let i = 0; i < Number(arg); i += 8) { const p = Buffer.from(block); p.writeUInt32LE(i); yield p.subarray(0, Math.min(8, Number(arg) - i) * MiB); } }
    await new Upload({ client: s3, params: { Bucket, Key, Body: Readable.from(pieces()) }, partSize: 16 * MiB, queueSize: 4 }).done();
  },
  async get() {  // 8 MiB ranged GETs, 8 in flight, into memory
    const total = await size();
    let next = 0;
    const worker = async () => { while (next < total) { const start = next; next += 8 * MiB;
      const out = await s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${Math.min(start + 8 * MiB, total) - 1}` }));
      await out.Body.transformToByteArray(); } };
    return measure(() => Promise.all(Array.from({ length: 8 }, worker)));
  },
  async upload() {  // lib-storage from memory, 8 MiB parts, 4 in flight
    const body = Buffer.alloc(Number(arg) * MiB, 7);
    return measure(() => new Upload({ client: s3, params: { Bucket, Key, Body: body }, partSize: 8 * MiB, queueSize: 4 }).done());
  },
  async "wait-size"() {  // started before a write; prints the wall-clock time the bucket has it all
    for (const end = Date.now() + 900_000; Date.now() < end; await sleep(50)) if ((await size()) === Number(arg)) return { at: Date.now() / 1000 };
    throw new Error(`${Key} never reached ${arg} bytes`);
  },
  rm: () => s3.send(new DeleteObjectCommand({ Bucket, Key })),
  async rmbucket() {
    for (let page; (page = await s3.send(new ListObjectsV2Command({ Bucket }))).KeyCount > 0;)
      for (const o of page.Contents) await s3.send(new DeleteObjectCommand({ Bucket, Key: o.Key }));
    for (const u of (await s3.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [])
      await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
  },
};
console.log(JSON.stringify((await commands[cmd]()) ?? {}));
"""


def run(cmd, env=None, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} … failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-600:]}")
    return r.stdout


def sdk(*args):
    return json.loads(run([NODE, "--no-warnings", "--input-type=module", "-e", SDK_JS, *args], cwd=ROOT).strip().splitlines()[-1])


def defer(fn):
    CLEANUPS.append(fn)
    return fn


def settle(fn):
    """Runs a deferred undo action now (and forgets it)."""
    CLEANUPS.remove(fn)
    fn()


def cleanup_all():
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not leave mounts behind
    while CLEANUPS:
        try:
            CLEANUPS.pop()()
        except Exception as e:  # keep going: the rest still needs undoing
            print(f"cleanup: {e}", file=sys.stderr)


def drop_caches(rewarm=True):
    """Drops the page cache, then reads the object once through the SDK: RGW runs on this machine,
    and every client should meet a server as warm as the one the SDK baseline meets."""
    run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"])
    if rewarm:
        sdk("get", BUCKET, "big")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


class Mount:
    """One mounted filesystem under test (`with Mount(...) as m`); its unmount is registered as an
    undo action while it lives, so Ctrl-C or a crash unmounts it too."""

    def __init__(self, col, cache, endpoint=None):
        self.col, self.cache, self.metrics_port = col, cache, None
        self.dir = tempfile.mkdtemp(dir=WORK, prefix=f"mnt-{col}-")
        endpoint = endpoint or ENV["S3_ENDPOINT"]
        if col in BUCKETFS:
            self.metrics_port = free_port()
            out = run([NODE, BIN, "mount", f"s3://{BUCKET}", self.dir, "--endpoint", endpoint, "--cache-dir", cache,
                       "--fuse-binding", col, "--metrics-addr", f"127.0.0.1:{self.metrics_port}"])
            found = re.search(r"daemon pid (\d+)", out)
            self.pid = int(found.group(1)) if found else json.loads(run([NODE, BIN, "status", "--json", self.dir]))[0]["pid"]
        elif col == "s3fs":
            passwd = os.path.join(WORK, "s3fs.passwd")
            with open(os.open(passwd, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
                f.write(f"{ENV['AWS_ACCESS_KEY_ID']}:{ENV['AWS_SECRET_ACCESS_KEY']}\n")
            run(["s3fs", BUCKET, self.dir, "-o", f"url={endpoint},use_path_request_style,passwd_file={passwd},endpoint=us-east-1,use_cache={cache}"])
        else:
            # rclone cannot use AWS_CA_BUNDLE with its own HTTP transport (LoadCustomCABundleError).
            env = {k: v for k, v in ENV.items() if k != "AWS_CA_BUNDLE"}
            env.update(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Ceph", RCLONE_CONFIG_BENCH_ENDPOINT=endpoint,
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ENV["AWS_ACCESS_KEY_ID"], RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=ENV["AWS_SECRET_ACCESS_KEY"])
            run(["rclone", "mount", f"bench:{BUCKET}", self.dir, "--daemon", "--vfs-cache-mode", "full", "--cache-dir", cache], env=env)
        self.undo = defer(self._stop)
        try:
            for _ in range(100):
                if os.path.ismount(self.dir):
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"{col} did not mount {self.dir}")
            if col not in BUCKETFS:
                self.pid = find_pid(col, self.dir)
        except BaseException:
            settle(self.undo)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *_):
        settle(self.undo)

    def path(self, name):
        return os.path.join(self.dir, name)

    def fuse_reads(self):
        """FUSE read requests so far: JavaScript-served reads plus those the native binding serves
        without JavaScript; None when neither counter is exported."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        js = [float(v) for labels, v in re.findall(r'^bucketfs_fuse_operations_total\{([^}]*)\} (\S+)$', text, re.M) if 'op="read"' in labels]
        native = [float(v) for v in re.findall(r'^bucketfs_fuse_native_reads_total(?:\{[^}]*\})? (\S+)$', text, re.M)]
        return sum(js) + sum(native) if js or native else None

    def _stop(self):
        if self.col in BUCKETFS:
            run([NODE, BIN, "unmount", self.dir], timeout=900)  # returns once the daemon has exited
        else:
            for attempt in range(20 if os.path.ismount(self.dir) else 0):
                try:
                    run(["fusermount", "-u", self.dir])
                    break
                except RuntimeError:
                    if attempt == 19:
                        run(["fusermount", "-uz", self.dir])
                    time.sleep(0.5)  # busy just after a close
            for _ in range(600):  # the cache dir is reused next: wait until the daemon let go of it
                if not os.path.exists(f"/proc/{self.pid}"):
                    break
                time.sleep(0.1)
        os.rmdir(self.dir)


def measured(pid, fn):
    """Runs fn(); returns (seconds, CPU-seconds of pid over it). pid None = fn's child processes."""
    usage = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
    cpu0, t0 = proc_cpu(pid) if pid else usage(), time.perf_counter()
    end = fn()
    seconds = (end or time.perf_counter()) - t0
    return seconds, (proc_cpu(pid) if pid else usage()) - cpu0


def dd_read(path, pid=None):
    seconds, cpu = measured(pid, lambda: run(["dd", f"if={path}", "of=/dev/null", "bs=1M"]))
    return {"mbps": SIZE_MIB * 1.048576 / seconds, "cpu_gib": cpu / GIB}


def dd_write(directory, key, pid=None):
    """1 MiB writes + fsync + close; for a mount, timed until a HEAD shows the whole object (rclone
    uploads after close returns). The waiter starts first so its startup is off the clock."""
    waiter = None
    if pid:
        waiter = subprocess.Popen([NODE, "--no-warnings", "--input-type=module", "-e", SDK_JS, "wait-size", BUCKET, key, str(SIZE_MIB << 20)],
                                  cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
        undo = defer(waiter.kill)

    def write():
        run(["dd", "if=/dev/zero", f"of={os.path.join(directory, key)}", "bs=1M", f"count={SIZE_MIB}", "conv=fsync"])
        if waiter:
            out, _ = waiter.communicate(timeout=900)
            settle(undo)
            if waiter.returncode != 0:
                raise RuntimeError(f"{key} never reached the bucket")
            return json.loads(out.strip().splitlines()[-1])["at"] - time.time() + time.perf_counter()
    seconds, cpu = measured(pid, write)
    return {"mbps": SIZE_MIB * 1.048576 / seconds, "cpu_gib": cpu / GIB}


def slides(path):
    """OpenSlide-style: 200 random 256 KiB reads, one after another (tile decoding is serial);
    the same offsets every time (seeded)."""
    rnd = random.Random(42)
    offsets = [rnd.randrange(0, (SIZE_MIB << 20) - SLIDE_READ) for _ in range(SLIDE_READS)]
    fd = os.open(path, os.O_RDONLY)
    try:
        t0 = time.perf_counter()
        for offset in offsets:
            assert len(os.pread(fd, SLIDE_READ, offset)) == SLIDE_READ
        return time.perf_counter() - t0
    finally:
        os.close(fd)


class Results:
    def __init__(self):
        self.raw, self.errors = {}, {}

    def add(self, row, col, **values):
        for k, v in values.items():
            self.raw.setdefault(row, {}).setdefault(col, {}).setdefault(k, []).append(v)
        print(f"  {time.strftime('%T')} {row:9} {col:12} " + ", ".join(f"{k}={v:.3f}" if v is not None else f"{k}=n/a" for k, v in values.items()), flush=True)

    def fail(self, where, error):
        """where: a column (all its rows) or (column, row)."""
        self.errors[where] = str(error).replace("\n", " ")[-400:]
        print(f"  {where}: unavailable: {self.errors[where]}", flush=True)

    def get(self, row, col, key):
        values = [v for v in self.raw.get(row, {}).get(col, {}).get(key, []) if v is not None]
        return statistics.median(values) if values else None


def want(*rows):
    return any(r not in SKIP for r in rows)


def mount_column(R, col, run_no, proxy_endpoint):
    """Every row for one mounted filesystem, each from the state the row needs."""
    cache = tempfile.mkdtemp(dir=WORK, prefix=f"cache-{col}-")
    try:
        if want("cold", "rss", "requests", "remount", "hot"):  # fresh mount, empty disk cache
            with Mount(col, cache) as m:
                drop_caches()
                before = m.fuse_reads() if m.metrics_port else None
                R.add("cold", col, **dd_read(m.path("big"), m.pid))
                R.add("rss", col, mib=peak_rss_mib(m.pid))
                if m.metrics_port:
                    after = m.fuse_reads()
                    R.add("requests", col, per_gib=(after - (before or 0)) / GIB if after is not None else None)
        if want("remount", "hot", "write"):  # same disk cache, new daemon, page cache dropped
            with Mount(col, cache) as m:
                drop_caches()
                if want("remount", "hot"):
                    R.add("remount", col, **dd_read(m.path("big"), m.pid))
                    R.add("hot", col, **dd_read(m.path("big"), m.pid))
                if want("write"):
                    key = f"w-{col}-{run_no}"
                    R.add("write", col, **dd_write(m.dir, key, m.pid))
                    os.unlink(m.path(key))
        shutil.rmtree(cache)
        if want("slides"):
            cache = tempfile.mkdtemp(dir=WORK, prefix=f"cache-{col}-")
            with Mount(col, cache) as m:
                drop_caches()
                cold = slides(m.path("big"))
                R.add("slides", col, cold=cold, warm=slides(m.path("big")))
            shutil.rmtree(cache)
        if want("latency") and col in ("native", "fuse-native", "s3fs") and (col, "latency") not in R.errors:
            cache = tempfile.mkdtemp(dir=WORK, prefix=f"cache-{col}-")
            try:  # a failure here is this row's, not the column's
                with Mount(col, cache, endpoint=proxy_endpoint) as m:
                    drop_caches()
                    R.add("latency", col, **dd_read(m.path("big"), m.pid))
            except RuntimeError as e:
                R.fail((col, "latency"), e)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def local_column(R, local_file):
    """The cache's disk without FUSE; CPU is dd's own (no daemon)."""
    if want("cold", "remount"):
        drop_caches(rewarm=False)
        r = dd_read(local_file)
        R.add("cold", "local", **r)
        R.add("remount", "local", **r)  # the same measurement: a local file with the page cache dropped
    if want("hot"):
        dd_read(local_file)
        R.add("hot", "local", **dd_read(local_file))
    if want("write"):
        R.add("write", "local", **dd_write(WORK, "local-write.bin"))
        os.unlink(os.path.join(WORK, "local-write.bin"))
    if want("slides"):
        drop_caches(rewarm=False)
        cold = slides(local_file)
        R.add("slides", "local", cold=cold, warm=slides(local_file))


def sdk_column(R, run_no):
    if want("cold", "rss"):
        r = sdk("get", BUCKET, "big")
        R.add("cold", "sdk", mbps=SIZE_MIB * 1.048576 / r["seconds"], cpu_gib=r["cpu"] / GIB)
        R.add("rss", "sdk", mib=r["rss"])
    if want("write"):
        r = sdk("upload", BUCKET, f"sdk-{run_no}", str(SIZE_MIB))
        R.add("write", "sdk", mbps=SIZE_MIB * 1.048576 / r["seconds"], cpu_gib=r["cpu"] / GIB)
        sdk("rm", BUCKET, f"sdk-{run_no}")


def proxy_main(port, target, delay_ms):
    """`--proxy PORT HOST:PORT MS`: a TCP proxy that holds the first byte of every HTTP request
    (the first client bytes after the server last spoke) for MS, like a WAN round trip. A separate
    process so that its work never waits on this script's GIL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench's Ctrl-C reaches it too: the bench terminates it
    host, tport = target.rsplit(":", 1)
    server = socket.create_server(("127.0.0.1", int(port)))
    print("ready", flush=True)

    def move(src, dst, upstream):
        """One piece of this direction; the bulk (responses) moves by splice through a pipe, so the
        proxy's own CPU does not cap the transfer (copying through Python did, at ~70 MB/s)."""
        if upstream:
            data = src.recv(1 << 20)
            dst.sendall(data)
            return len(data)
        n = os.splice(src.fileno(), pipe_w[dst], 1 << 20)
        left = n
        while left:
            left -= os.splice(pipe_r[dst], dst.fileno(), left)
        return n

    pipe_r, pipe_w = {}, {}

    def pipe(src, dst, state, upstream):
        try:
            if not upstream:
                pipe_r[dst], pipe_w[dst] = os.pipe()
            while True:
                if upstream and state["idle"]:
                    # Wait for the request's first bytes, then hold them: a WAN round trip.
                    select.select([src], [], [])
                    time.sleep(float(delay_ms) / 1000)
                if move(src, dst, upstream) == 0:
                    break
                state["idle"] = not upstream
            dst.shutdown(socket.SHUT_WR)  # pass the end of this direction on, like a real hop
        except OSError:  # a reset: end both directions
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            if not upstream:
                os.close(pipe_r.pop(dst))
                os.close(pipe_w.pop(dst))

    while True:
        client, _ = server.accept()
        try:
            up = socket.create_connection((host, int(tport)))
        except OSError:
            client.close()
            continue
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = {"idle": True}
        threading.Thread(target=pipe, args=(client, up, state, True), daemon=True).start()
        threading.Thread(target=pipe, args=(up, client, state, False), daemon=True).start()


def start_proxy():
    port, target = free_port(), ENV["S3_ENDPOINT"].split("://", 1)[1].rstrip("/")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--proxy", str(port), target, str(LATENCY_MS)], stdout=subprocess.PIPE, text=True)
    defer(lambda: (proc.terminate(), proc.wait()))
    proc.stdout.readline()
    return f"http://127.0.0.1:{port}"


def setup():
    global WORK, BUCKET
    WORK = tempfile.mkdtemp(prefix="bench-dataplane-")
    defer(lambda: shutil.rmtree(WORK, ignore_errors=True))
    missing = [p for p in ("s3fs", "rclone") if p in COLUMNS and not shutil.which(p)]
    if missing:
        run(["apt-get", "install", "-y", "-q", *missing], env=dict(ENV, DEBIAN_FRONTEND="noninteractive"))
    if "S3_ENDPOINT" not in ENV:
        data = os.path.join(WORK, "s3")
        defer(lambda: run(["bash", os.path.join(ROOT, "scripts/s3-server.sh"), "stop", data, "--purge"]))
        out = run(["bash", os.path.join(ROOT, "scripts/s3-server.sh"), "start", os.environ.get("S3_PORT", "7620"), data])
        ENV.update(m.groups() for m in re.finditer(r"^(?:export )?(\w+)=['\"]?([^'\"\n]*)", out, re.M))
    BUCKET = f"bench-dp-{int(time.time())}-{os.getpid()}"
    sdk("mkbucket", BUCKET)
    defer(lambda: sdk("rmbucket", BUCKET))
    sdk("put", BUCKET, "big", str(SIZE_MIB))
    local_file = os.path.join(WORK, "local.bin")  # on the disk that holds the caches
    run(["dd", "if=/dev/urandom", f"of={local_file}", "bs=1M", f"count={SIZE_MIB}", "conv=fsync"])
    return local_file


def cell(R, row, col):
    g = lambda key: R.get(row, col, key)
    if (col, row) in R.errors or (col in R.errors and not R.raw.get(row, {}).get(col)):
        return "unavailable"
    if row in ("cold", "remount", "hot", "write") and g("mbps") is not None:
        return f"{g('mbps'):.0f} MB/s, {g('cpu_gib'):.2f} CPU-s/GiB"
    if row == "rss" and g("mib") is not None:
        return f"{g('mib'):.0f} MiB"
    if row == "slides" and g("cold") is not None:
        lc, lw = R.get("slides", "local", "cold"), R.get("slides", "local", "warm")
        ratio = lambda v, base: f" ({v / base:.2f}× local)" if base else ""
        return f"cold {g('cold'):.2f} s{ratio(g('cold'), lc)}, warm {g('warm'):.3f} s{ratio(g('warm'), lw)}"
    if row == "latency" and g("mbps") is not None:
        base = R.get("cold", col, "mbps")
        return f"{g('mbps'):.0f} MB/s" + (f" ({g('mbps') / base:.2f}× loopback)" if base else "")
    if row == "requests" and R.raw.get(row, {}).get(col):
        return f"{g('per_gib'):.0f} per GiB" if g("per_gib") is not None else "n/a"
    return "–"


LABELS = {"cold": "1. cold `dd bs=1M` read (fresh mount, empty caches)", "remount": "2. read after remount (disk cache warm, page cache dropped)",
          "hot": "3. hot re-read (page cache)", "write": "4. `dd bs=1M conv=fsync` write until in the bucket", "rss": "5. peak RSS during the cold read (VmHWM)",
          "slides": f"6. {SLIDE_READS} random 256 KiB reads", "latency": f"7. cold read, {LATENCY_MS} ms per request (proxy)", "requests": "8. FUSE read requests (cold read)"}


# Goal checks: (name, row, key, baseline column or None for an absolute value, passes).
# Baseline "self" is this column's own loopback cold read.
CHECKS = [
    ("CPU/GiB cold read ≤ s3fs", "cold", "cpu_gib", "s3fs", lambda v: v <= 1),
    ("CPU/GiB write ≤ s3fs", "write", "cpu_gib", "s3fs", lambda v: v <= 1),
    ("cold read ≥ 1.1× s3fs", "cold", "mbps", "s3fs", lambda v: v >= 1.1),
    ("cold read ≥ 1.0× SDK", "cold", "mbps", "sdk", lambda v: v >= 1.0),
    ("write ≥ 1.1× s3fs", "write", "mbps", "s3fs", lambda v: v >= 1.1),
    ("write ≥ 1.0× lib-storage", "write", "mbps", "sdk", lambda v: v >= 1.0),
    ("remount read ≥ 0.9× local dd", "remount", "mbps", "local", lambda v: v >= 0.9),
    ("hot re-read ≥ 3× s3fs", "hot", "mbps", "s3fs", lambda v: v >= 3),
    ("peak RSS ≤ 150 MiB", "rss", "mib", None, lambda v: v <= 150),
    ("slides cold ≤ 2× local", "slides", "cold", "local", lambda v: v <= 2),
    ("slides warm ≤ 1.3× local", "slides", "warm", "local", lambda v: v <= 1.3),
    (f"{LATENCY_MS} ms latency ≥ 0.8× loopback", "latency", "mbps", "self", lambda v: v >= 0.8),
    ("FUSE requests per GiB ≤ 1,100", "requests", "per_gib", None, lambda v: v <= 1100),
]


def checks(R, col):
    """[(name, ratio or absolute value, passed)] for one bucketfs column; None = not measured."""
    out = []
    for name, row, key, base_col, ok in CHECKS:
        value = R.get(row, col, key)
        if base_col:
            base = R.get("cold", col, key) if base_col == "self" else R.get(row, base_col, key)
            value = value / base if value is not None and base else None
        out.append((name, value, None if value is None else bool(ok(value))))
    return out


def report(R, json_path):
    cols = [c for c in ALL_COLUMNS if c in COLUMNS]
    print(f"\n### Data plane, {SIZE_MIB} MiB object, median of {RUNS} run(s); CPU = serving process (bucketfs daemon, s3fs, rclone, node for sdk, dd for local)\n")
    print("| row | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for row in ROWS:
        if row not in SKIP:
            print(f"| {LABELS[row]} | " + " | ".join(cell(R, row, c) for c in cols) + " |")
    for where, err in R.errors.items():
        print(f"\n{' '.join(where) if isinstance(where, tuple) else where}: unavailable: {err}")
    bfs = [c for c in BUCKETFS if c in cols and any(R.raw.get(r, {}).get(c) for r in ROWS)]
    results = {c: checks(R, c) for c in bfs}
    if bfs:
        print("\n| goal check | " + " | ".join(f"bucketfs {c}" for c in bfs) + " |\n|---|" + "---|" * len(bfs))
        for i, (name, _, _) in enumerate(results[bfs[0]]):
            show = lambda v, ok: "n/a" if v is None else f"{v:.2f}{'' if 'RSS' in name or 'requests' in name else '×'} {'PASS' if ok else 'FAIL'}"
            print(f"| {name} | " + " | ".join(show(*results[c][i][1:]) for c in bfs) + " |")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"size_mib": SIZE_MIB, "runs": RUNS, "columns": cols, "skipped_rows": sorted(SKIP), "raw": R.raw,
                       "errors": {" ".join(w) if isinstance(w, tuple) else w: e for w, e in R.errors.items()},
                       "medians": {row: {c: {k: R.get(row, c, k) for k in v} for c, v in by_col.items()} for row, by_col in R.raw.items()},
                       "checks": {c: [{"check": n, "value": v, "pass": ok} for n, v, ok in results[c]] for c in bfs}}, f, indent=2)
        print(f"\nJSON written to {json_path}")


def interrupt(signum, frame):
    raise KeyboardInterrupt  # unwinds through the finally blocks that unmount


def main():
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    if os.geteuid() != 0:
        sys.exit("bench-dataplane: must run as root (it writes /proc/sys/vm/drop_caches and may apt-get install s3fs/rclone); try: sudo -E python3 scripts/bench-dataplane.py")
    if unknown := set(COLUMNS) - set(ALL_COLUMNS):
        sys.exit(f"bench-dataplane: unknown COLUMNS {sorted(unknown)}; choose from {','.join(ALL_COLUMNS)}")
    if not os.path.exists(os.path.join(ROOT, "dist")):
        sys.exit("bench-dataplane: build first: npx tsc -p .")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    R = Results()
    try:
        local_file = setup()
        proxy = start_proxy() if want("latency") and set(COLUMNS) & {"native", "fuse-native", "s3fs"} else None
        print(f"bench-dataplane: {SIZE_MIB} MiB, {RUNS} run(s), columns {','.join(COLUMNS)}, server {ENV['S3_ENDPOINT']}, work dir {WORK}", flush=True)
        for run_no in range(RUNS):
            print(f"run {run_no + 1}/{RUNS}", flush=True)
            for col in COLUMNS:
                if col in R.errors:
                    continue
                try:
                    if col in MOUNTS:
                        mount_column(R, col, run_no, proxy)
                    elif col == "sdk":
                        sdk_column(R, run_no)
                    else:
                        local_column(R, local_file)
                except RuntimeError as e:  # e.g. the native addon is not built yet: report, go on
                    R.fail(col, e)
        report(R, json_path)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as e:  # setup failed (server, bucket, apt-get): no traceback needed
        print(f"bench-dataplane: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        cleanup_all()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--proxy":
        proxy_main(*sys.argv[2:])
    else:
        main()
