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

# shellcheck source=lib/emulator.sh
source "$HERE/lib/emulator.sh"
usage() { sed -n '5,8p' "$0" >&2; exit 2; }

cmd_start() {
  local port=${1:-10000}
  local state=${2:-${TMPDIR:-/tmp}/bucketfs-azurite-$port}
  mkdir -p "$state/data"
  state=$(cd "$state" && pwd)
  emu_refuse_if_running "$state"
  [[ -x $AZURITE ]] || { echo "azurite is not installed: run npm ci (it is a devDependency)" >&2; exit 1; }
  # --skipApiVersionCheck: the SDK may be newer than the emulator's API version list.
  # --disableProductStyleUrl: 127.0.0.1 is never an account host; the account is in the path.
  nohup "$AZURITE" --blobHost 127.0.0.1 --blobPort "$port" --location "$state/data" \
    --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry >"$state/azurite.log" 2>&1 &
  emu_record_and_wait azurite "$state" $! "$state/azurite.log" 'successfully listens'
  echo "AZURITE_BLOB_ENDPOINT=http://127.0.0.1:$port"
  echo "AZURITE_ACCOUNT=$DEV_ACCOUNT"
  echo "AZURITE_KEY=$DEV_KEY"
}

emu_main "$@"
