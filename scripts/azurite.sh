#!/usr/bin/env bash
# azurite.sh — an offline Azure Blob Storage server on loopback for bucketfs tests: Microsoft's
# Azurite emulator (the npm devDependency, blob service only), with its data under STATE_DIR.
#
# Usage:
#   azurite.sh start  [PORT=10000] [STATE_DIR]   start in the background; waits until ready
#   azurite.sh stop   STATE_DIR [--purge]        SIGTERM (SIGKILL after 10 s); --purge removes STATE_DIR
#   azurite.sh status STATE_DIR                  exit 0 if running
#
# `start` prints shell-sourceable lines on stdout: the blob endpoint (path-style, the account is
# the first path segment) and Azurite's well-known development account and key (public, documented
# by Microsoft; they protect nothing):
#   AZURITE_BLOB_ENDPOINT=http://127.0.0.1:PORT
#   AZURITE_ACCOUNT=devstoreaccount1
#   AZURITE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
# The default STATE_DIR is ${TMPDIR:-/tmp}/bucketfs-azurite-PORT. Logs: STATE_DIR/azurite.log.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AZURITE="$HERE/../node_modules/.bin/azurite-blob"
DEV_ACCOUNT=devstoreaccount1
DEV_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

usage() { sed -n '5,8p' "$0" >&2; exit 2; }
pid_alive() { [[ -f $1/pid ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

cmd_start() {
  local port=${1:-10000}
  local state=${2:-${TMPDIR:-/tmp}/bucketfs-azurite-$port}
  mkdir -p "$state/data"
  state=$(cd "$state" && pwd)
  if pid_alive "$state"; then echo "already running (pid $(cat "$state/pid"))" >&2; exit 1; fi
  [[ -x $AZURITE ]] || { echo "azurite is not installed: run npm ci (it is a devDependency)" >&2; exit 1; }
  # --skipApiVersionCheck: the SDK may be newer than the emulator's API version list.
  # --disableProductStyleUrl: 127.0.0.1 is never an account host; the account is in the path.
  nohup "$AZURITE" --blobHost 127.0.0.1 --blobPort "$port" --location "$state/data" \
    --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry >"$state/azurite.log" 2>&1 &
  echo $! >"$state/pid"
  for _ in $(seq 1 600); do
    if grep -q 'successfully listens' "$state/azurite.log" 2>/dev/null; then
      echo "AZURITE_BLOB_ENDPOINT=http://127.0.0.1:$port"
      echo "AZURITE_ACCOUNT=$DEV_ACCOUNT"
      echo "AZURITE_KEY=$DEV_KEY"
      return 0
    fi
    if ! pid_alive "$state"; then echo "azurite exited:" >&2; cat "$state/azurite.log" >&2; rm -f "$state/pid"; exit 1; fi
    sleep 0.1
  done
  echo "timeout waiting for azurite" >&2; cat "$state/azurite.log" >&2; exit 1
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
