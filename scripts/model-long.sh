#!/usr/bin/env bash
# model-long.sh — the long model-based runs: the filesystem core vs a local directory (many
# thousands of random sequences, no network), then the same through a real mount.
#   scripts/model-long.sh [CORE_RUNS=5000] [MOUNT_RUNS=100]
# A failure prints the shrunk counterexample and its seed (BUCKETFS_MODEL_SEED replays it); pin
# it as a named regression test in test/unit/model-fs.spec.ts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
BUCKETFS_MODEL_RUNS=${1:-5000} npx vitest run test/unit/model-fs.spec.ts
npx tsc -p .
BUCKETFS_MOUNT_MODEL_RUNS=${2:-100} npx vitest run test/fuse/model.fuse.spec.ts
