#!/usr/bin/env bash
# gcs-emulator.sh — an offline GCS JSON API server on loopback for bucketfs tests: the
# firebase-tools storage emulator started by scripts/gcs-emulator.cjs (no Java, no download),
# with scripts/gcs-emulator-overlay.cjs filling the GCS features the stock emulator lacks.
#
# Usage:
#   gcs-emulator.sh start  [PORT=9230] [STATE_DIR]   start in the background; waits until ready
#   gcs-emulator.sh stop   STATE_DIR [--purge]       SIGTERM (SIGKILL after 10 s); --purge removes STATE_DIR
#   gcs-emulator.sh status STATE_DIR                 exit 0 if running
#
# `start` prints a shell-sourceable line on stdout:  STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT
#   set -a; eval "$(scripts/gcs-emulator.sh start 9230 /tmp/gcs)"; set +a
# The scheme is required: @google-cloud/storage mis-handles a bare host:port.
# Objects live in STATE_DIR/tmp (the emulator's TMPDIR) and metadata in memory: a stop loses all.
# The default STATE_DIR is ${TMPDIR:-/tmp}/bucketfs-gcs-PORT. Logs: STATE_DIR/emulator.log.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '6,9p' "$0" >&2; exit 2; }
pid_alive() { [[ -f $1/pid ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

cmd_start() {
  local port=${1:-9230}
  local state=${2:-${TMPDIR:-/tmp}/bucketfs-gcs-$port}
  mkdir -p "$state/tmp"
  state=$(cd "$state" && pwd)
  if pid_alive "$state"; then echo "already running (pid $(cat "$state/pid"))" >&2; exit 1; fi
  # Own TMPDIR: the emulator keeps blobs under $TMPDIR/firebase/storage/blobs and wipes them on stop.
  TMPDIR="$state/tmp" nohup node "$HERE/gcs-emulator.cjs" --host 127.0.0.1 --port "$port" >"$state/emulator.log" 2>&1 &
  echo $! >"$state/pid"
  for _ in $(seq 1 600); do
    if grep -q '^READY' "$state/emulator.log" 2>/dev/null; then
      echo "STORAGE_EMULATOR_HOST=http://127.0.0.1:$port"
      return 0
    fi
    if ! pid_alive "$state"; then echo "gcs emulator exited:" >&2; cat "$state/emulator.log" >&2; rm -f "$state/pid"; exit 1; fi
    sleep 0.1
  done
  echo "timeout waiting for the gcs emulator" >&2; cat "$state/emulator.log" >&2; exit 1
}

cmd_stop() {
  local state=$1
  if pid_alive "$state"; then
    local pid; pid=$(cat "$state/pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$state/pid"
  if [[ ${2:-} == --purge ]]; then rm -rf "$state"; fi
  echo "stopped" >&2
}

case ${1:-} in
  start)  shift; cmd_start "$@" ;;
  stop)   shift; (( $# >= 1 )) || usage; cmd_stop "$@" ;;
  status) shift; (( $# == 1 )) || usage; if pid_alive "$1"; then echo "running pid $(cat "$1/pid")"; else echo "not running"; exit 1; fi ;;
  *) usage ;;
esac
