#!/usr/bin/env bash
# demo.sh — bucketfs in one command on a fresh Debian machine: installs what is missing,
# starts a real S3 server (Ceph RGW) on 127.0.0.1 with a sample bucket, mounts it, and shows
# ordinary programs reading and writing it. Everything lives under $DEMO_DIR.
#   scripts/demo.sh          # run the demo, then unmount and stop the server
#   scripts/demo.sh --keep   # leave the server running and the bucket mounted to play with
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KEEP=${1:-}
DEMO_DIR=${DEMO_DIR:-/tmp/bucketfs-demo}
PORT=${DEMO_PORT:-7470}
BUCKET=demo-bucket
MNT=$DEMO_DIR/mnt

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; bash -c "$*"; }

step "Installing what is missing (apt packages, npm modules) and building"
bash scripts/install-deps.sh
npm run --silent build

step "Starting a real S3 server (Ceph RADOS Gateway) on 127.0.0.1:$PORT"
mkdir -p "$DEMO_DIR"
set -a; eval "$(bash scripts/s3-server.sh start "$PORT" "$DEMO_DIR/s3")"; set +a
node scripts/demo-bucket.mjs seed "$BUCKET"

cleanup() {
  if [[ $KEEP != --keep ]]; then
    node bin/bucketfs.js unmount "$MNT" >/dev/null 2>&1 || true
    bash scripts/s3-server.sh stop "$DEMO_DIR/s3" --purge >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

step "Mounting s3://$BUCKET on $MNT"
mkdir -p "$MNT"
node bin/bucketfs.js unmount "$MNT" >/dev/null 2>&1 || true
show "node bin/bucketfs.js mount s3://$BUCKET $MNT --endpoint $S3_ENDPOINT --cache-dir $DEMO_DIR/cache"

step "Reading: the bucket is a directory tree"
show "ls -l $MNT $MNT/slides/patient-001"
show "cat $MNT/README.txt"

step "Writing: dd, cp -r, rsync, mv, append, chmod — each lands in the bucket"
show "dd if=/dev/urandom of=$DEMO_DIR/scan.bin bs=1M count=64 status=none && cp $DEMO_DIR/scan.bin $MNT/scan.bin"
show "cmp $DEMO_DIR/scan.bin $MNT/scan.bin && echo 'scan.bin: identical'"
show "cp -r $MNT/slides $MNT/slides-copy && rsync -a $MNT/results/ $MNT/results-backup/"
show "mv $MNT/slides-copy $MNT/slides-archive && echo 'patient-003,0' >> $MNT/results/summary.csv && chmod 600 $MNT/results/summary.csv"
show "sha256sum $MNT/slides/patient-001/* $MNT/slides-archive/patient-001/*"
show "ls -l $MNT $MNT/results"

step "What the bucket really holds (listed with the AWS SDK, not through the mount)"
node scripts/demo-bucket.mjs list "$BUCKET"

step "Unmount and mount again: everything is still there"
show "node bin/bucketfs.js unmount $MNT"
show "node bin/bucketfs.js mount s3://$BUCKET $MNT --endpoint $S3_ENDPOINT --cache-dir $DEMO_DIR/cache"
show "cat $MNT/results/summary.csv && stat -c '%A %n' $MNT/results/summary.csv"

if [[ $KEEP == --keep ]]; then
  step "Left running"
  echo "bucket mounted on $MNT; S3 server at $S3_ENDPOINT (keys in $DEMO_DIR/s3/s3.env)"
  echo "stop: node bin/bucketfs.js unmount $MNT && bash scripts/s3-server.sh stop $DEMO_DIR/s3 --purge"
else
  step "Done: unmounting and stopping the S3 server (run with --keep to leave them running)"
fi
