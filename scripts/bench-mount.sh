#!/usr/bin/env bash
# bench-mount.sh — the foundation's figure: a 1 GiB file written with dd into a bucketfs mount
# (until close returns, i.e. until it is in the bucket) and read back with dd from a fresh
# mount, next to the same transfers done `aws s3 cp`-style with the AWS SDK in the same run.
# Median of RUNS (default 3). Uses S3_ENDPOINT if set, else starts its own RGW on port 7600.
#   scripts/bench-mount.sh [SIZE_MIB=1024] [RUNS=3]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
WORK=$(mktemp -d /tmp/bucketfs-bench-XXXX)
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

if [[ -z ${S3_ENDPOINT:-} ]]; then
  set -a; eval "$(bash scripts/s3-server.sh start 7600 "$WORK/s3")"; set +a
  STARTED_SERVER=1
fi
MNT=$WORK/mnt
cleanup() {
  node bin/bucketfs.js unmount "$MNT" >/dev/null 2>&1 || true
  [[ -n ${STARTED_SERVER:-} ]] && bash scripts/s3-server.sh stop "$WORK/s3" --purge >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
BUCKET=bench-$(date +%s)
node -e "
  const { S3Client, CreateBucketCommand } = require('@aws-sdk/client-s3');
  new S3Client({ endpoint: process.env.S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true })
    .send(new CreateBucketCommand({ Bucket: '$BUCKET' })).catch((e) => { console.error(e); process.exit(1); });"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/src.bin"
mkdir -p "$MNT"

calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); calc "$t1 - $t0"; }
mount_fresh() {
  node bin/bucketfs.js unmount "$MNT" >/dev/null 2>&1 || true
  rm -rf "$WORK/cache"
  node bin/bucketfs.js mount "s3://$BUCKET" "$MNT" --endpoint "$S3_ENDPOINT" --cache-dir "$WORK/cache" >/dev/null
}

declare -a sdk_up sdk_down fs_up fs_down
for run in $(seq 1 "$RUNS"); do
  sdk_up+=("$(node scripts/bench-sdk-transfer.mjs upload "$BUCKET" "sdk-$run.bin" "$WORK/src.bin")")
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  sdk_down+=("$(node scripts/bench-sdk-transfer.mjs download "$BUCKET" "sdk-$run.bin" "$WORK/down.bin")")
  mount_fresh
  fs_up+=("$(seconds dd if="$WORK/src.bin" of="$MNT/fs-$run.bin" bs=1M status=none)")
  mount_fresh
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  fs_down+=("$(seconds dd if="$MNT/fs-$run.bin" of="$WORK/down.bin" bs=1M status=none)")
  cmp -s "$WORK/src.bin" "$WORK/down.bin" || { echo "read-back mismatch in run $run" >&2; exit 1; }
  echo "run $run: sdk up ${sdk_up[-1]}s down ${sdk_down[-1]}s | mount write ${fs_up[-1]}s read ${fs_down[-1]}s" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate() { awk "BEGIN { printf \"%.0f\", $SIZE_MIB / $1 }"; }
SU=$(median "${sdk_up[@]}"); SD=$(median "${sdk_down[@]}"); FU=$(median "${fs_up[@]}"); FD=$(median "${fs_down[@]}")
printf '\n%-44s %10s %10s %8s\n' "1 GiB transfer (median of $RUNS)" "bucketfs" "SDK" "ratio"
printf '%-44s %7s MiB/s %5s MiB/s %7.2fx\n' "write: dd into the mount vs lib-storage Upload" "$(rate "$FU")" "$(rate "$SU")" "$(calc "$SU / $FU")"
printf '%-44s %7s MiB/s %5s MiB/s %7.2fx\n' "read: dd from a fresh mount vs ranged GETs" "$(rate "$FD")" "$(rate "$SD")" "$(calc "$SD / $FD")"
