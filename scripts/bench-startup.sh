#!/usr/bin/env bash
# bench-startup.sh — how fast the CLI starts: `bucketfs --version`, `bucketfs list`, and
# `bucketfs mount` until the mount is ready and listed (S3 bucket on the loopback server; IDC
# with its index already on disk), against `node -e 0` and s3fs (mount + ls) in the same run.
# Median of RUNS (default 7) for each, wall time and CPU-seconds (CPU varies far less with the
# machine's load); ratios against `node -e 0` in the same run so figures under different load
# compare. Then one counting pass (not timed) reports the modules each command
# loads (scripts/lib/count-modules.mjs). Uses S3_ENDPOINT if set, else starts RGW on port
# BENCH_PORT (default 7620).
#   scripts/bench-startup.sh [RUNS=7]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${1:-7}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bucketfs-bench-startup-XXXX")
export TMPDIR=$WORK # tsx (it makes the IDC fixtures) keeps its cache there, not in /tmp
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
BIN=(node "$ROOT/bin/bucketfs.js")

if [[ -z ${S3_ENDPOINT:-} ]]; then
  set -a; eval "$(bash scripts/s3-server.sh start "${BENCH_PORT:-7620}" "$WORK/s3")"; set +a
  STARTED_SERVER=1
fi
MNT=$WORK/mnt
mkdir -p "$MNT" "$WORK/modules"
cleanup() {
  "${BIN[@]}" unmount "$MNT" >/dev/null 2>&1 || fusermount -u "$MNT" >/dev/null 2>&1 || true
  [[ -n ${STARTED_SERVER:-} ]] && bash scripts/s3-server.sh stop "$WORK/s3" --purge >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

BUCKET=startup-$(date +%s)
node -e "
  const { S3Client, CreateBucketCommand, PutObjectCommand } = require('@aws-sdk/client-s3');
  const c = new S3Client({ endpoint: process.env.S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  (async () => {
    await c.send(new CreateBucketCommand({ Bucket: '$BUCKET' }));
    for (let i = 0; i < 10; i++) await c.send(new PutObjectCommand({ Bucket: '$BUCKET', Key: 'f' + i, Body: 'x' }));
  })().catch((e) => { console.error(e); process.exit(1); });"
npx tsx scripts/make-idc-fixtures.ts "$WORK/idc" --upload >/dev/null
PARQUET=$WORK/idc/idc_index.parquet
printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$WORK/s3fs.passwd"
chmod 600 "$WORK/s3fs.passwd"

calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
TICK=$(getconf CLK_TCK)
# CPU-seconds (user + system) a daemon has used so far, from /proc/PID/stat fields 14 and 15.
daemon_cpu() { awk -v t="$TICK" '{ sub(/.*\) /, ""); printf "%.3f", ($12 + $13) / t }' "/proc/$1/stat"; }
# Runs a command; sets WALL (elapsed seconds) and CPU (user + system of it and the children it waited for).
measure() {
  local TIMEFORMAT="%R %U %S" out
  out=$( { time "$@" >"$WORK/out" 2>&1; } 2>&1 )
  WALL=$(awk '{ print $1 }' <<<"$out"); CPU=$(awk '{ printf "%.3f", $2 + $3 }' <<<"$out")
}
# A mount: its CPU is the launching command's plus the daemon's until ready (it runs detached).
measure_mount() {
  measure "$@"
  local pid; pid=$(sed -n 's/.*daemon pid \([0-9]*\).*/\1/p' "$WORK/out")
  [[ -z $pid ]] && pid=$(pgrep -n -f "s3fs $BUCKET") || true
  [[ -n $pid ]] && CPU=$(calc "$CPU + $(daemon_cpu "$pid")")
  return 0
}

mount_s3() { "${BIN[@]}" mount "s3://$BUCKET" "$MNT" --endpoint "$S3_ENDPOINT" --cache-dir "$WORK/cache-s3" && ls "$MNT"; }
mount_idc() { "${BIN[@]}" mount idc "$MNT" --endpoint "$S3_ENDPOINT" --idc-index "$PARQUET" --cache-dir "$WORK/cache-idc" && ls "$MNT"; }
mount_s3fs() {
  s3fs "$BUCKET" "$MNT" -o url="$S3_ENDPOINT" -o use_path_request_style -o passwd_file="$WORK/s3fs.passwd" && ls "$MNT"
}
unmount_bucketfs() { "${BIN[@]}" unmount "$MNT" >/dev/null; }
unmount_s3fs() { fusermount -u "$MNT"; while mountpoint -q "$MNT"; do sleep 0.05; done; }

# Warm-up (not timed): the page cache holds node_modules, the IDC index is loaded into SQLite.
mount_idc >/dev/null; unmount_bucketfs
mount_s3 >/dev/null; unmount_bucketfs

NAMES=(node0 version list s3 idc s3fs)
declare -A wall cpu
record() { wall[$1]+="$WALL "; cpu[$1]+="$CPU "; }
for run in $(seq 1 "$RUNS"); do
  measure node -e 0; record node0
  measure "${BIN[@]}" --version; record version
  measure "${BIN[@]}" list; record list
  measure_mount mount_s3; record s3; unmount_bucketfs
  measure_mount mount_idc; record idc; unmount_bucketfs
  measure_mount mount_s3fs; record s3fs; unmount_s3fs
  line="run $run:"; for n in "${NAMES[@]}"; do w=(${wall[$n]}); c=(${cpu[$n]}); line+=" $n ${w[-1]}s/${c[-1]}cpu"; done
  echo "$line" >&2
done

# Counting pass: every module each process loads (the daemon's own file is named after its pid).
count_modules() { sort -u "$@" | grep -c .; }
counted() {
  rm -f "$WORK/modules"/*
  BUCKETFS_MODULE_LOG=$WORK/modules NODE_OPTIONS="--import=$ROOT/scripts/lib/count-modules.mjs" "$@" >"$WORK/out" 2>&1
}
counted "${BIN[@]}" --version; M_VERSION=$(count_modules "$WORK/modules"/*)
counted "${BIN[@]}" list; M_LIST=$(count_modules "$WORK/modules"/*)
daemon_modules() {
  local pid; pid=$(sed -n 's/.*daemon pid \([0-9]*\).*/\1/p' "$WORK/out")
  BUCKETFS_MODULE_LOG=$WORK/modules NODE_OPTIONS="--import=$ROOT/scripts/lib/count-modules.mjs" "${BIN[@]}" unmount "$MNT" >/dev/null
  count_modules "$WORK/modules/$pid.modules"
}
counted "${BIN[@]}" mount "s3://$BUCKET" "$MNT" --endpoint "$S3_ENDPOINT" --cache-dir "$WORK/cache-s3"; M_S3=$(daemon_modules)
counted "${BIN[@]}" mount idc "$MNT" --endpoint "$S3_ENDPOINT" --idc-index "$PARQUET" --cache-dir "$WORK/cache-idc"; M_IDC=$(daemon_modules)

med() { local -a v; read -ra v <<<"$1"; median "${v[@]}"; }
N0=$(med "${wall[node0]}"); C0=$(med "${cpu[node0]}")
row() {
  local w c; w=$(med "${wall[$2]}"); c=$(med "${cpu[$2]}")
  printf '%-42s %7.3f s %7.1fx %7.3f s %7.1fx %8s\n' "$1" "$w" "$(calc "$w / $N0")" "$c" "$(calc "$c / $C0")" "$3"
}
echo
echo "startup, median of $RUNS ($(node --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-42s %9s %8s %9s %8s %8s\n' "" "wall" "÷ node" "CPU" "÷ node" "modules"
row "node -e 0" node0 "-"
row "bucketfs --version" version "$M_VERSION"
row "bucketfs list" list "$M_LIST"
row "bucketfs mount s3:// + ls (until ready)" s3 "$M_S3"
row "bucketfs mount idc + ls (index on disk)" idc "$M_IDC"
row "s3fs mount + ls" s3fs "-"
echo "(CPU: user + system of the command and, for mounts, of the daemon until ready; modules: files"
echo " the process loads, for mounts the daemon's)"
