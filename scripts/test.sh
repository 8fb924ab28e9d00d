#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh Debian machine: installs what is missing
# (apt packages, npm dependencies, native addons), builds, and runs every tier with vitest.
# The vitest global setup starts the real servers it needs on loopback (Ceph RGW via
# scripts/s3-server.sh) and stops them at the end.
#   scripts/test.sh                 # everything
#   scripts/test.sh test/unit       # a subset (any vitest filter)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
npm run --silent build

results=$(mktemp --suffix=.json)
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?

# One plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || echo "tests: 0 passed, 1 failed"
exit "$status"
