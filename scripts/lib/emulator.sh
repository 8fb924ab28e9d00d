# emulator.sh — the start/stop/status plumbing shared by the loopback test servers
# (scripts/azurite.sh, scripts/gcs-emulator.sh). Sourced, never run. Each server script defines
# cmd_start (which launches its process in the background and calls emu_record_and_wait) and
# `usage`, then hands its arguments to emu_main.
# A server's state directory holds its pid file and its log; both scripts keep that layout.

emu_pid_alive() { [[ -f $1/pid ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

# emu_refuse_if_running STATE — a second start on the same state would share its data directory.
emu_refuse_if_running() {
  if emu_pid_alive "$1"; then echo "already running (pid $(cat "$1/pid"))" >&2; exit 1; fi
}

# emu_record_and_wait NAME STATE PID LOG READY_PATTERN — record the pid, then wait (up to 60 s)
# until the log shows READY_PATTERN. Returns 0 when ready; prints the log and exits 1 when the
# process dies or the wait times out, so a broken server never leaves a test waiting.
emu_record_and_wait() {
  local name=$1 state=$2 pid=$3 log=$4 pattern=$5
  echo "$pid" >"$state/pid"
  for _ in $(seq 1 600); do
    if grep -q "$pattern" "$log" 2>/dev/null; then return 0; fi
    if ! emu_pid_alive "$state"; then echo "$name exited:" >&2; cat "$log" >&2; rm -f "$state/pid"; exit 1; fi
    sleep 0.1
  done
  echo "timeout waiting for $name" >&2; cat "$log" >&2; exit 1
}

# emu_stop STATE [--purge] — SIGTERM, SIGKILL after 10 s; --purge also removes STATE.
emu_stop() {
  local state=$1
  if emu_pid_alive "$state"; then
    local pid; pid=$(cat "$state/pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$state/pid"
  if [[ ${2:-} == --purge ]]; then rm -rf "$state"; fi
  echo "stopped" >&2
}

# emu_main ARGS... — the start/stop/status command line both server scripts share.
emu_main() {
  case ${1:-} in
    start)  shift; cmd_start "$@" ;;
    stop)   shift; (( $# >= 1 )) || usage; emu_stop "$@" ;;
    status) shift; (( $# == 1 )) || usage
            if emu_pid_alive "$1"; then echo "running pid $(cat "$1/pid")"; else echo "not running"; exit 1; fi ;;
    *) usage ;;
  esac
}
