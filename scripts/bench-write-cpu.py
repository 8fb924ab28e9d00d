#!/usr/bin/env python3
"""Sequential-write A/B benchmark: `dd if=SRC of=MNT/f bs=1M` (close returns once the object is in
the bucket) through one or more bucketfs builds and s3fs, interleaved, on one S3 server in one run.
Reports per configuration the median MB/s, the daemon's CPU-seconds per GiB (utime+stime from
/proc/PID/stat, delta over the dd) and that CPU split by thread name (/proc/PID/task/*/stat).

    python3 scripts/bench-write-cpu.py SRC BUCKET CONFIG...

CONFIG is LABEL=s3fs, or LABEL=TREE[,EXTRA MOUNT ARGS...] where TREE is a directory holding
bin/bucketfs.js and its dist/ (a private build: `npx tsc -p . --outDir TREE/dist`, so builds by
others in the checkout do not change what is measured). Env: RUNS (3), S3_ENDPOINT, AWS_* (the
server's), WATCH="name=PID,..." (other processes whose
CPU over each dd is shown too, e.g. the S3 server's), NODE_ENV_<LABEL> (extra environment for that bucketfs, "K=V K=V"). Needs root (FUSE).
"""
from bench_proc import CLK, find_pid, stat_cpu
import os, shutil, statistics, subprocess, sys, tempfile, time

RUNS = int(os.environ.get("RUNS", "3"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw).stdout


def threads(pid):
    """{"total": the process's CPU-seconds (exited threads included), "name/tid": each live thread's}."""
    total, out = stat_cpu(f"/proc/{pid}/stat")[1], {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name, cpu = stat_cpu(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        out[int(tid)] = (name, cpu)
    # Node's threads are all named "node": the first four after the main thread are V8's platform
    # workers (GC, compilation), the next four libuv's pool (fs, crypto); later ones are named.
    ranked = sorted(t for t, (name, _) in out.items() if t != pid and name == "node")
    groups = {"total": total}
    for tid, (name, cpu) in out.items():
        group = "main" if tid == pid else ("v8" if ranked.index(tid) < 4 else "uv" if ranked.index(tid) < 8 else "node") if name == "node" else name
        groups[group] = groups.get(group, 0) + cpu
    return groups


def mount(label, spec, bucket, work):
    mnt = tempfile.mkdtemp(dir=work, prefix=f"mnt-{label}-")
    cache = tempfile.mkdtemp(dir=work, prefix=f"cache-{label}-")
    endpoint = os.environ["S3_ENDPOINT"]
    if spec == "s3fs":
        passwd = os.path.join(work, "s3fs.passwd")
        with open(os.open(passwd, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}\n")
        run(["s3fs", bucket, mnt, "-o", f"passwd_file={passwd},url={endpoint},use_path_request_style,endpoint=us-east-1"])
    else:
        tree, *extra = spec.split(",")
        env = dict(os.environ)
        env.update(kv.split("=", 1) for kv in os.environ.get(f"NODE_ENV_{label}", "").split())
        pidfile = os.path.join(work, f"{label}.pid")
        run(["node", os.path.join(tree, "bin/bucketfs.js"), "mount", f"s3://{bucket}", mnt, "--endpoint", endpoint,
             "--cache-dir", cache, "--pid-file", pidfile, "--fuse-binding", "native", *extra], env=env)
    for _ in range(100):
        if os.path.ismount(mnt):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"{label} did not mount")
    pid = find_pid("s3fs", mnt) if spec == "s3fs" else int(open(pidfile).read().strip())
    return mnt, pid


def unmount(mnt, pid):
    for attempt in range(40):
        try:
            run(["fusermount3", "-u", mnt])
            break
        except subprocess.CalledProcessError:
            time.sleep(0.5)
    for _ in range(600):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)


def main():
    src, bucket, *configs = sys.argv[1:]
    # A fresh machine has no s3fs: install it from apt, as bench-dataplane.py does.
    if any(c.split("=", 1)[1] == "s3fs" for c in configs) and not shutil.which("s3fs"):
        run(["apt-get", "install", "-y", "-q", "s3fs"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    size = os.path.getsize(src)
    gib = size / (1 << 30)
    work = tempfile.mkdtemp(prefix="bench-write-cpu-")
    results = {}
    subprocess.run(["cat", src], check=True, stdout=subprocess.DEVNULL)  # the source in the page cache
    for n in range(RUNS):
        for config in configs:
            label, spec = config.split("=", 1)
            mnt, pid = mount(label, spec, bucket, work)
            try:
                watched = [w.split("=") for w in os.environ.get("WATCH", "").split(",") if w]
                w0 = [stat_cpu(f"/proc/{p}/stat")[1] for _, p in watched]
                t0, cpu0 = time.perf_counter(), threads(pid)
                run(["dd", f"if={src}", f"of={mnt}/f-{label}-{n}", "bs=1M"])
                seconds, cpu1 = time.perf_counter() - t0, threads(pid)
                w1 = [stat_cpu(f"/proc/{p}/stat")[1] for _, p in watched]
                by_thread = {k: cpu1[k] - cpu0.get(k, 0) for k in cpu1 if cpu1[k] - cpu0.get(k, 0) >= 0.01}
                cpu = by_thread.pop("total")
                r = {"mbps": size / 1e6 / seconds, "cpu_gib": cpu / gib, "threads": by_thread}
                results.setdefault(label, []).append(r)
                split = " ".join(f"{k}={v:.2f}" for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1]))
                split += "".join(f" | {name}={(b - a) / gib:.2f}" for (name, _), a, b in zip(watched, w0, w1))
                print(f"{time.strftime('%T')} run {n + 1} {label:10} {r['mbps']:7.1f} MB/s  {r['cpu_gib']:5.2f} CPU-s/GiB  [{split}]", flush=True)
                os.unlink(f"{mnt}/f-{label}-{n}")
            finally:
                unmount(mnt, pid)
    shutil.rmtree(work, ignore_errors=True)
    print("median:")
    for label, rs in results.items():
        print(f"  {label:10} {statistics.median(r['mbps'] for r in rs):7.1f} MB/s  {statistics.median(r['cpu_gib'] for r in rs):5.2f} CPU-s/GiB")


if __name__ == "__main__":
    main()
