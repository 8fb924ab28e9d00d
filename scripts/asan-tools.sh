#!/usr/bin/env bash
# asan-tools.sh — the ordinary-tools e2e suite (test/fuse/tools.fuse.spec.ts) on the native FUSE
# binding built with AddressSanitizer: S3 only, `--fuse-binding native`.
#
#   scripts/asan-tools.sh [--json FILE] [vitest args…]
#
# The sanitized addon is built in a private copy (bin/, dist/ and native/ copied, node_modules
# linked) under a temporary directory, so native/build/Release stays the normal build for anyone
# using this checkout meanwhile; the copy is removed on exit, pass or fail. bucketfs commands run
# from the copy with LD_PRELOAD=libasan (an instrumented addon in an uninstrumented node needs the
# runtime loaded first) and ASAN_OPTIONS=detect_leaks=0:abort_on_error=1; the daemon, a child of
# `bucketfs mount`, inherits both, and the spec checks its /proc/PID/maps for libasan and the
# copy's addon. ASan reports go to files (log_path); any report fails the run and is printed.
# Needs `npm run build` first (dist/) and root (FUSE); scripts/test.sh runs it after the main run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[asan-tools] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

json=""
if [[ ${1:-} == --json ]]; then
  json=${2:?--json needs a file}
  shift 2
fi

[[ -f dist/cli/main.js ]] || die "dist/ is missing: run npm run build first"
libasan=$(gcc -print-file-name=libasan.so)
[[ $libasan == /* && -e $libasan ]] || die "libasan.so not found (gcc -print-file-name=libasan.so gave '$libasan'); install libasan8 / gcc"

work=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-asan.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$work/native" "$work/reports"

log "building the addon with AddressSanitizer in $work/native"
cp -r native/binding.gyp native/build-addon.cjs native/src "$work/native/"
BUCKETFS_ASAN=1 node "$work/native/build-addon.cjs" --force >&2 || die "the AddressSanitizer build failed"
addon=$work/native/build/Release/bucketfs_fuse.node
[[ $(nm -D "$addon") == *__asan_* ]] || die "$addon is not instrumented (no __asan_ symbols)"
cp -r bin dist package.json "$work/"
ln -s "$ROOT/node_modules" "$work/node_modules"

export BUCKETFS_TEST_BIN=$work/bin/bucketfs.js
export BUCKETFS_TEST_LD_PRELOAD=$libasan
export BUCKETFS_TEST_ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$work/reports/asan"
export BUCKETFS_TEST_EXPECT_ASAN=1 BUCKETFS_TEST_BACKENDS=s3 BUCKETFS_TEST_FUSE_BINDINGS=native

reporters=(--reporter=default)
[[ -n $json ]] && reporters+=(--reporter=json "--outputFile.json=$json")
status=0
npx vitest run test/fuse/tools.fuse.spec.ts "${reporters[@]}" "$@" || status=$?

shopt -s nullglob
reports=("$work"/reports/asan.*)
if (( ${#reports[@]} )); then
  log "AddressSanitizer reported errors:"
  cat "${reports[@]}" >&2
  status=1
fi
(( status == 0 )) && log "passed: no AddressSanitizer reports" || log "FAILED (status $status)"
exit "$status"
