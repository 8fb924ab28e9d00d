#!/usr/bin/env bash
# lint.sh — the static checks (`npm run lint`; scripts/test.sh runs it on a full run):
#   1. types: tsc over src, test, scripts and vitest.config.ts, strict, no emit (tsconfig.check.json);
#   2. layers: imports only go down (.dependency-cruiser.cjs, drawn in ARCHITECTURE.md);
#   3. format: prettier --check over the whole tree (.prettierrc.json, .prettierignore).
# Every check runs even when an earlier one fails, so one run shows everything; the exit status is
# nonzero when any failed. BUCKETFS_LINT_FORMAT=0 skips the format check (it is on by default; turn
# it off only until the one-time `npm run format` of the tree has landed).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

failed=()
check() {
  local name=$1
  shift
  echo "lint: $name"
  "$@" || failed+=("$name")
}

check types npx --no-install tsc -p tsconfig.check.json
check layers npx --no-install depcruise src --config .dependency-cruiser.cjs --output-type err
if [[ ${BUCKETFS_LINT_FORMAT:-1} != 0 ]]; then
  check format npx --no-install prettier --check --log-level warn .
else
  echo "lint: format skipped (BUCKETFS_LINT_FORMAT=0)"
fi

if (( ${#failed[@]} > 0 )); then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: ok"
