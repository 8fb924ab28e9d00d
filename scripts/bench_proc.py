"""What the Python benchmarks read from /proc: a process's CPU time and the pid of a mount's daemon.
Imported by scripts/bench-dataplane.py and scripts/bench-write-cpu.py (Python puts the running
script's folder on sys.path, so `import bench_proc` finds this file)."""
import os

CLK = os.sysconf("SC_CLK_TCK")


def stat_cpu(path):
    """(name, utime+stime in seconds) from a /proc/PID/stat or /proc/PID/task/TID/stat file."""
    with open(path) as f:
        text = f.read()
    # The name in () may contain spaces and parentheses: the fields start after the last ")".
    fields = text[text.rindex(")") + 2:].split()
    return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / CLK


def proc_cpu(pid):
    """utime+stime of a whole process, in seconds."""
    return stat_cpu(f"/proc/{pid}/stat")[1]


def find_pid(program, directory):
    """s3fs and rclone daemonize: find the process by its name and the mountpoint in its argv."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == program and directory in argv:
            return int(pid)
    raise RuntimeError(f"no {program} process serves {directory}")
