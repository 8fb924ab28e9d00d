#!/usr/bin/env bash
# faults-long.sh — the fault-injection suite at full size: 256 MiB objects per fault round and
# a 1 GiB read and 1 GiB upload across an S3 server restart (its own RGW on port 7560).
#   scripts/faults-long.sh [FAULT_MIB=256] [RESTART_MIB=1024]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
npx tsc -p .
BUCKETFS_FAULT_MIB=${1:-256} BUCKETFS_RESTART_MIB=${2:-1024} npx vitest run test/fuse/faults.fuse.spec.ts
