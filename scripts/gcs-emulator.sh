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

# shellcheck source=lib/emulator.sh
source "$HERE/lib/emulator.sh"
usage() { sed -n '6,9p' "$0" >&2; exit 2; }

cmd_start() {
  local port=${1:-9230}
  local state=${2:-${TMPDIR:-/tmp}/bucketfs-gcs-$port}
  mkdir -p "$state/tmp"
  state=$(cd "$state" && pwd)
  emu_refuse_if_running "$state"
  # Own TMPDIR: the emulator keeps blobs under $TMPDIR/firebase/storage/blobs and wipes them on stop.
  TMPDIR="$state/tmp" nohup node "$HERE/gcs-emulator.cjs" --host 127.0.0.1 --port "$port" >"$state/emulator.log" 2>&1 &
  emu_record_and_wait "the gcs emulator" "$state" $! "$state/emulator.log" '^READY'
  echo "STORAGE_EMULATOR_HOST=http://127.0.0.1:$port"
}

emu_main "$@"
