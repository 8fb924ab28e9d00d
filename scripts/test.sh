#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh Debian machine: installs what is missing
# (apt packages, npm dependencies, native addons), builds, and runs every tier with vitest.
# The vitest global setup starts the real servers it needs on loopback (Ceph RGW via
# scripts/s3-server.sh) and stops them at the end. Then the ordinary-tools e2e suite runs again
# on the native FUSE binding built with AddressSanitizer (scripts/asan-tools.sh).
#   scripts/test.sh                 # everything
#   scripts/test.sh test/unit       # a subset (any vitest filter); no ASan run unless BUCKETFS_TEST_ASAN=1
# A full run starts with scripts/lint.sh (types, layers, format); BUCKETFS_TEST_LINT=0|1 overrides.
# BUCKETFS_TEST_ASAN=0 skips the ASan run. Everything the tests put in the temporary directory
# goes into a private TMPDIR that is removed at the end; a mount left behind there fails the run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-test.XXXXXX")
# Search permission for everyone (not listing): the --allow-other tests open files on mounts
# below it as another user, who must be able to reach the mountpoint.
chmod 0711 "$run_tmp"
results=$run_tmp/results
mkdir -p "$results"
# Mounts still under the run's TMPDIR (FUSE mounts, a test's tmpfs): reported, then detached
# lazily before the directory is removed (never delete through a mount).
leftover_mounts() {
  awk -v dir="$run_tmp/" 'index($2, dir) == 1 { print $2 }' /proc/mounts
}
cleanup() {
  local mp
  for mp in $(leftover_mounts); do
    umount -l "$mp" 2>/dev/null || fusermount3 -u -z "$mp" 2>/dev/null || true
  done
  rm -rf --one-file-system "$run_tmp"
}
trap cleanup EXIT
export TMPDIR=$run_tmp
# After TMPDIR: the build's bundler step (tsx) keeps its cache in the temporary directory too.
npm run --silent build

statuses=()
status=0
# The static checks (types, layers, format: scripts/lint.sh) on a full run; a lint failure counts
# as one failed suite in the closing line. BUCKETFS_TEST_LINT=1 adds them to a subset run, 0 skips.
lint=${BUCKETFS_TEST_LINT:-$(( $# == 0 ))}
if [[ $lint == 1 ]]; then
  lint_status=0
  bash scripts/lint.sh || lint_status=$?
  statuses+=("lint=$lint_status")
  (( lint_status == 0 )) || status=1
fi

vitest_status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results/main.json" "$@" || vitest_status=$?
statuses+=("main.json=$vitest_status")
(( vitest_status == 0 )) || status=$vitest_status

asan=${BUCKETFS_TEST_ASAN:-$(( $# == 0 ))}
if [[ $asan == 1 ]]; then
  asan_status=0
  bash scripts/asan-tools.sh --json "$results/asan.json" || asan_status=$?
  statuses+=("asan.json=$asan_status")
  (( asan_status == 0 )) || status=1
fi

left=$(leftover_mounts)
if [[ -n $left ]]; then
  printf 'test.sh: mounts left behind by the tests:\n%s\n' "$left" >&2
  statuses+=("leftover-mounts=1")
  status=1
fi

# One plain closing line that any CI can read. vitest reports a failed beforeAll's tests as
# skipped and a file that failed to load as no tests at all: every failed suite (a file or a
# describe block) that no failed test accounts for counts as one failure, and so does a run that
# exited nonzero with nothing failed in its report (an unhandled error, an ASan report).
line=$(node - "$results" "${statuses[@]}" <<'EOF'
const { readFileSync } = require("node:fs");
const [dir, ...runs] = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
for (const run of runs) {
  const [name, code] = run.split("=");
  let own = 0;
  if (name.endsWith(".json")) {
    let r;
    try {
      r = JSON.parse(readFileSync(`${dir}/${name}`, "utf8"));
    } catch {
      console.error(`test.sh: ${name}: no readable vitest report`);
      failed++;
      continue;
    }
    passed += r.numPassedTests;
    skipped += r.numPendingTests + r.numTodoTests;
    own += r.numFailedTests;
    // Suites that failed through a failed test: its file and each describe block around it.
    const explained = new Set();
    for (const file of r.testResults) {
      for (const t of file.assertionResults) {
        if (t.status !== "failed") continue;
        explained.add(file.name);
        t.ancestorTitles.forEach((_, i) => explained.add(`${file.name}\0${t.ancestorTitles.slice(0, i + 1).join("\0")}`));
      }
    }
    const unloaded = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0);
    for (const f of unloaded) console.error(`test.sh: ${f.name} failed without running a test: ${f.message}`);
    own += Math.max(r.numFailedTestSuites - explained.size, unloaded.length, 0);
  }
  if (own === 0 && Number(code) !== 0) own = 1;
  failed += own;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
EOF
) || true
[[ $line == tests:* ]] || line="tests: 0 passed, 1 failed, 0 skipped"
echo "$line"
[[ $line == *", 0 failed,"* ]] || status=1
exit "$status"
