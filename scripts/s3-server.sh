#!/usr/bin/env bash
# s3-server.sh — a REAL S3 server on loopback for bucketfs tests.
#
# Runs Ceph's RADOS Gateway (radosgw) from Debian's packages on a throw-away
# single-node RADOS cluster: 1 ceph-mon + 1 bluestore ceph-osd on a sparse file,
# no mgr, auth=none.  (Debian 12 ships Ceph 16 "pacific", whose radosgw has no
# stand-alone dbstore backend, so it needs a RADOS cluster underneath.)
#
# Usage:
#   s3-server.sh start   [PORT=7480] [DATA_DIR]   bootstrap (or restart an existing DATA_DIR)
#   s3-server.sh stop    DATA_DIR [--purge]       stop the daemons; --purge also deletes DATA_DIR
#   s3-server.sh restart DATA_DIR                 graceful stop + start (same port, data kept)
#   s3-server.sh status  DATA_DIR                 exit 0 if up (and print the env lines)
#
# `start`, `restart` and a healthy `status` print shell-sourceable lines on stdout:
#   S3_ENDPOINT=http://127.0.0.1:PORT  AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...
#   AWS_REGION=us-east-1  AWS_DEFAULT_REGION=us-east-1  S3_SERVER_DATA=/abs/DATA_DIR
# (the same lines are kept in DATA_DIR/s3.env).  Typical use:
#   set -a; eval "$(scripts/s3-server.sh start 7480 /tmp/s3data)"; set +a
# Clients: path-style addressing, region us-east-1 (any other makes CreateBucket
# fail with InvalidLocationConstraint).  AWS SDK v3: also set
# requestChecksumCalculation/responseChecksumValidation: 'WHEN_REQUIRED', or
# streamed uploads fail with 411.  curl: --aws-sigv4 aws:amz:us-east-1:s3 needs
# -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' and a known length (-T FILE, not -T -).
# Everything else (progress, errors) goes to stderr.  Daemon logs: DATA_DIR/log/.
#
# Ports (all bound to 127.0.0.1 only): PORT = S3 (HTTP), PORT+2 = mon,
# PORT+3..PORT+9 = OSD (it uses 4).  PORT+1 is unused.  The default DATA_DIR is
# ${TMPDIR:-/tmp}/bucketfs-s3-PORT.  The port, fsid and keys are recorded in
# DATA_DIR/state at bootstrap; later starts of the same DATA_DIR reuse them.
#
# Env overrides (read at bootstrap unless noted):
#   OSD_SIZE_GB        size of the sparse bluestore file, default 30 (space is only
#                      used as data is written, and bluestore never gives it back)
#   OSD_MEMORY_TARGET  bytes, default 1 GiB (read at every start)
#   S3_ACCESS_KEY / S3_SECRET_KEY   credentials of the S3 user
#   START_TIMEOUT      seconds to wait for each daemon, default 120
#   STOP_TIMEOUT       seconds between SIGTERM and SIGKILL on stop, default 20
#
# Debian packages: radosgw ceph-mon ceph-osd curl uuid-runtime (scripts/install-deps.sh).
set -euo pipefail

HOST=127.0.0.1
REGION=us-east-1
START_TIMEOUT=${START_TIMEOUT:-120}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
DAEMONS=(mon.a osd.0 client.rgw)     # ceph names of our daemons, in start order

log() { printf '[s3-server %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '9,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $(( t / 1000 )); }
T0=$(now_ms)
elapsed() { local ms=$(( $(now_ms) - T0 )); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# --- daemon bookkeeping (pid files written by the daemons themselves) ----------
# alive PID: the process exists and is not a zombie (in a container, PID 1 may not reap).
alive() { local _p _c st; read -r _p _c st _ 2>/dev/null <"/proc/$1/stat" && [[ $st != Z ]]; }
binary_of() { case $1 in mon.a) echo ceph-mon ;; osd.0) echo ceph-osd ;; client.rgw) echo radosgw ;; esac; }

# Print the pid of daemon $1 if it is running.  The command line must name our
# ceph.conf, so that a stale pid file whose pid now belongs to another process
# (perhaps a daemon of another s3-server.sh instance) is not mistaken for ours.
daemon_pid() {
  local f="$DATA/run/$1.pid" pid args
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $args == "$(binary_of "$1") -c $CONF "* ]] || return 1
  echo "$pid"
}

# stop_daemons SIGNAL: radosgw, then the OSD, then the mon (radosgw hangs on exit
# without its OSD; the OSD reports to the mon that it goes down); SIGKILL after STOP_TIMEOUT.
stop_daemons() {
  terminate "$1" client.rgw
  terminate "$1" osd.0
  terminate "$1" mon.a
}

# terminate SIGNAL NAME...: signal the running daemons NAME... and wait for them.
terminate() {
  local sig=$1 n pid i; shift
  local -A pids=()
  for n in "$@"; do
    if pid=$(daemon_pid "$n"); then pids[$n]=$pid; kill "-$sig" "$pid" 2>/dev/null || true; fi
  done
  for (( i = 0; i < STOP_TIMEOUT * 10; i++ )); do
    for n in "${!pids[@]}"; do
      if ! alive "${pids[$n]}"; then
        log "stopped $n (pid ${pids[$n]}) after $(elapsed)"
        unset "pids[$n]"
      fi
    done
    (( ${#pids[@]} )) || break
    sleep 0.1
  done
  for n in "${!pids[@]}"; do
    log "$n (pid ${pids[$n]}) still running ${STOP_TIMEOUT}s after SIG$sig; sending SIGKILL"
    kill -KILL "${pids[$n]}" 2>/dev/null || true
    while alive "${pids[$n]}"; do sleep 0.1; done
  done
  for n in "$@"; do rm -f "$DATA/run/$n.pid"; done
}

# wait_until DESCRIPTION CMD... : poll CMD until it succeeds or START_TIMEOUT passes.
wait_until() {
  local what=$1 deadline=$(( $(now_ms) + START_TIMEOUT * 1000 )); shift
  until "$@" >/dev/null 2>&1; do
    (( $(now_ms) < deadline )) || die "timed out after ${START_TIMEOUT}s waiting for $what"
    sleep 0.2
  done
}

set_data_dir() {
  [[ -n ${1:-} ]] || usage
  DATA=$1
  [[ -d $DATA ]] && DATA=$(cd "$DATA" && pwd)
  CONF=$DATA/ceph.conf
}

print_env() {
  cat "$DATA/s3.env"
}

check_binaries() {
  local spec bin pkg
  for spec in ceph-mon:ceph-mon monmaptool:ceph-base ceph-osd:ceph-osd radosgw:radosgw \
              radosgw-admin:ceph-common /usr/bin/ceph:ceph-common curl:curl uuidgen:uuid-runtime; do
    bin=${spec%%:*} pkg=${spec#*:}
    command -v "$bin" >/dev/null 2>&1 ||
      die "'$bin' not found: apt-get install -y --no-install-recommends $pkg  (or run scripts/install-deps.sh)"
  done
  # The `ceph` CLI is Python and needs Debian's python3 with the rados module
  # (a pyenv/venv python3 earlier in PATH would not have it, hence the full path).
  /usr/bin/python3 -c 'import rados' 2>/dev/null ||
    die "/usr/bin/python3 cannot import rados: apt-get install -y --no-install-recommends python3-rados"
}

write_ceph_conf() {
  local osd_bytes=$(( OSD_SIZE_GB * 1024 * 1024 * 1024 ))
  cat >"$CONF" <<EOF
# Generated by scripts/s3-server.sh on every start; edits are overwritten.
[global]
fsid = $FSID
mon_host = v2:$HOST:$((PORT + 2))
# Loopback only: without cluster_addr some OSD listeners bind 0.0.0.0.
public_addr = $HOST
cluster_addr = $HOST
public_network = 127.0.0.0/8
cluster_network = 127.0.0.0/8
ms_bind_ipv6 = false
ms_bind_msgr1 = false
ms_bind_msgr2 = true
# OSD listeners (default 6800-7300) are confined to our port block.
ms_bind_port_min = $((PORT + 3))
ms_bind_port_max = $((PORT + 9))
# auth=none.  Daemons default to the "secure" messenger mode, which needs cephx:
# radosgw would then hang for minutes in "failed to fetch mon config".
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
keyring = /dev/null
client_mount_timeout = 30
# Everything lives in DATA_DIR.
run_dir = $DATA/run
pid_file = $DATA/run/\$name.pid
admin_socket = $DATA/run/\$name.asok
log_file = $DATA/log/\$name.log
log_to_stderr = false
err_to_stderr = false
crash_dir = $DATA/crash
# One OSD: size-1 pools, few PGs (radosgw creates ~8 pools; 8x32 PGs would
# exceed the per-OSD PG limit), no autoscaler (there is no mgr anyway).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Pool creation is a series of paxos rounds: propose quickly (16 s -> ~6 s bootstrap).
paxos_propose_interval = 0.1
paxos_min_wait = 0.01

[mon]
mon_data = $DATA/mon/\$id
mon_allow_pool_delete = true

[osd]
osd_data = $DATA/osd/\$id
osd_objectstore = bluestore
bluestore_block_path = $DATA/osd/\$id/block.file
bluestore_block_create = true
bluestore_block_size = $osd_bytes
bluestore_block_db_create = false
bluestore_block_wal_create = false
osd_memory_target = $OSD_MEMORY_TARGET
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 2

[client.rgw]
# tcp_nodelay: without it small GETs/LISTs take ~40 ms (Nagle + delayed ACK).
rgw_frontends = beast endpoint=$HOST:$PORT tcp_nodelay=1
rgw_enable_usage_log = false
# Reclaim space of deleted objects within a minute, not hours: benchmarks write and delete
# tens of GiB, and RGW stops answering writes once its OSD is full.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
debug_rgw = 1
EOF
}

# --- start ---------------------------------------------------------------------
cmd_start() {
  local port_arg=${1:-}
  if [[ -n $port_arg ]]; then
    [[ $port_arg =~ ^[1-9][0-9]{3,4}$ ]] && (( port_arg >= 1024 && port_arg <= 65526 )) ||
      die "bad PORT '$port_arg' (need 1024..65526; PORT..PORT+9 are used)"
  fi
  PORT=${port_arg:-7480}
  set_data_dir "${2:-${TMPDIR:-/tmp}/bucketfs-s3-$PORT}"
  check_binaries

  # A DATA_DIR keeps its port (it is baked into the monmap).
  local recorded_port='' fresh=1
  [[ -f $DATA/state ]] && recorded_port=$(. "$DATA/state" && echo "$PORT")
  if [[ -n $recorded_port ]]; then
    [[ -z $port_arg || $port_arg == "$recorded_port" ]] ||
      die "$DATA was created for port $recorded_port, not $port_arg (use another DATA_DIR, or omit PORT)"
    PORT=$recorded_port
  fi
  [[ -f $DATA/.bootstrapped ]] && fresh=0
  # Refuse to scribble into (and later --purge) a directory that is not ours.
  if [[ -d $DATA && ! -f $DATA/.bucketfs-s3-server && -n $(ls -A "$DATA") ]]; then
    die "$DATA exists, is not empty and was not created by $0"
  fi

  # If nothing of ours is running, the whole port block must be free.
  local n p running=0
  for n in "${DAEMONS[@]}"; do daemon_pid "$n" >/dev/null && running=1; done
  if (( running && fresh )); then         # leftovers of an interrupted bootstrap
    stop_daemons KILL
    running=0
  fi
  if (( ! running )); then
    for (( p = PORT; p <= PORT + 9; p++ )); do
      if (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
        die "port $p on $HOST is already in use (this server needs $PORT..$((PORT + 9)))"
      fi
    done
  fi

  if (( fresh )); then
    mkdir -p "$DATA"
    DATA=$(cd "$DATA" && pwd) CONF=$DATA/ceph.conf
    touch "$DATA/.bucketfs-s3-server"
    FSID=$(uuidgen)
    ACCESS_KEY=${S3_ACCESS_KEY:-BUCKETFSTESTKEY00001}
    SECRET_KEY=${S3_SECRET_KEY:-bucketfs-test-secret-0123456789abcdefghij}
    OSD_SIZE_GB=${OSD_SIZE_GB:-30}
    # Keep s3.env plain KEY=value (sourceable without quoting).
    [[ $ACCESS_KEY =~ ^[A-Za-z0-9._~-]+$ ]] || die "S3_ACCESS_KEY may only contain A-Z a-z 0-9 . _ ~ -"
    [[ $SECRET_KEY =~ ^[A-Za-z0-9/+=._~-]+$ ]] || die "S3_SECRET_KEY may only contain A-Z a-z 0-9 / + = . _ ~ -"
    [[ $OSD_SIZE_GB =~ ^[1-9][0-9]*$ ]] || die "OSD_SIZE_GB must be a positive integer"
    declare -p PORT FSID ACCESS_KEY SECRET_KEY OSD_SIZE_GB | sed 's/^declare -- //' >"$DATA/state"
  else
    # shellcheck source=/dev/null
    source "$DATA/state"          # PORT FSID ACCESS_KEY SECRET_KEY OSD_SIZE_GB
  fi
  OSD_MEMORY_TARGET=${OSD_MEMORY_TARGET:-1073741824}

  # From here on, a failure (or Ctrl-C) stops what we started and shows the daemon logs.
  trap 'on_start_failure' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if (( fresh )); then
    log "bootstrapping a new cluster in $DATA (S3 on $HOST:$PORT)"
    rm -rf "$DATA"/{mon,osd,run,log,crash,monmap,s3.env}
    mkdir -p "$DATA"/{mon/a,osd/0,run,log}
    write_ceph_conf
    monmaptool --create --fsid "$FSID" --addv a "[v2:$HOST:$((PORT + 2))]" "$DATA/monmap" >/dev/null
    ceph-mon -c "$CONF" -i a --mkfs --monmap "$DATA/monmap" >/dev/null
  else
    log "starting the existing cluster in $DATA (S3 on $HOST:$PORT)"
    mkdir -p "$DATA"/{run,log}
    write_ceph_conf
  fi
  local ceph=(/usr/bin/python3 /usr/bin/ceph -c "$CONF" --connect-timeout 10)

  # mon.  Ceph daemons fork into the background and write their own pid files.
  daemon_pid mon.a >/dev/null || ceph-mon -c "$CONF" -i a
  wait_until "ceph-mon" "${ceph[@]}" mon stat
  log "mon up after $(elapsed)"

  # osd.  A fresh OSD is registered with the mon, then formatted.
  if (( fresh )); then
    local osd_uuid osd_id
    osd_uuid=$(uuidgen)
    osd_id=$("${ceph[@]}" osd new "$osd_uuid")
    [[ $osd_id == 0 ]] || die "mon allocated osd id '$osd_id', expected 0"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DATA/log/osd-mkfs.log" 2>&1 ||
      die "ceph-osd --mkfs failed, see $DATA/log/osd-mkfs.log"
  fi
  daemon_pid osd.0 >/dev/null || ceph-osd -c "$CONF" -i 0
  osd_up() { "${ceph[@]}" osd dump 2>/dev/null | grep -q '^osd\.0 up'; }
  wait_until "ceph-osd to be up" osd_up
  log "osd up after $(elapsed)"

  # radosgw.  On first start it creates its pools and the default zone.
  daemon_pid client.rgw >/dev/null || radosgw -c "$CONF" -n client.rgw
  wait_until "radosgw on $HOST:$PORT" curl -sf -o /dev/null --max-time 5 "http://$HOST:$PORT/"
  log "radosgw answers after $(elapsed)"

  if (( fresh )); then
    radosgw-admin -c "$CONF" -n client.admin user create --uid=bucketfs \
      --display-name="bucketfs tests" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
      --max-buckets=100000 >/dev/null 2>"$DATA/log/user-create.log" ||
      die "radosgw-admin user create failed, see $DATA/log/user-create.log"
  fi

  cat >"$DATA/s3.env" <<EOF
S3_ENDPOINT=http://$HOST:$PORT
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
AWS_DEFAULT_REGION=$REGION
S3_SERVER_DATA=$DATA
EOF
  touch "$DATA/.bootstrapped"
  trap - EXIT INT TERM
  log "ready after $(elapsed)"
  print_env
}

on_start_failure() {
  local f
  log "start failed; stopping what was started.  Log tails:"
  for f in "$DATA"/log/*.log; do
    [[ -s $f ]] || continue
    echo "----- $f" >&2
    tail -n 15 "$f" >&2
  done
  STOP_TIMEOUT=5 stop_daemons TERM
}

# --- stop / restart / status ---------------------------------------------------
cmd_stop() {
  set_data_dir "${1:-}"
  local purge=0
  case ${2:-} in
    '') ;;
    --purge) purge=1 ;;
    *) usage ;;
  esac
  [[ -d $DATA ]] || { log "$DATA does not exist; nothing to stop"; return 0; }
  [[ -f $DATA/.bucketfs-s3-server ]] || die "$DATA was not created by $0; not touching it"
  # When the data is about to be deleted there is nothing to shut down cleanly.
  if (( purge )); then stop_daemons KILL; else stop_daemons TERM; fi
  if (( purge )); then
    rm -rf -- "$DATA"
    log "deleted $DATA"
  fi
}

cmd_restart() {
  set_data_dir "${1:-}"
  [[ -f $DATA/state ]] || die "$DATA has no state file; use 'start' to create a server"
  local port
  port=$(. "$DATA/state" && echo "$PORT")
  cmd_stop "$DATA"
  T0=$(now_ms)
  cmd_start "$port" "$DATA"
}

cmd_status() {
  set_data_dir "${1:-}"
  local n pid ok=1
  for n in mon.a osd.0 client.rgw; do
    if pid=$(daemon_pid "$n"); then log "$n running (pid $pid)"; else log "$n NOT running"; ok=0; fi
  done
  [[ -f $DATA/s3.env ]] || return 1
  local endpoint
  endpoint=$(sed -n 's/^S3_ENDPOINT=//p' "$DATA/s3.env")
  if curl -sf -o /dev/null --max-time 5 "$endpoint/"; then log "$endpoint answers"; else log "$endpoint does not answer"; ok=0; fi
  (( ok )) && print_env
}

case ${1:-} in
  start)   shift; (( $# <= 2 )) || usage; cmd_start "$@" ;;
  stop)    shift; (( $# >= 1 && $# <= 2 )) || usage; cmd_stop "$@" ;;
  restart) shift; (( $# == 1 )) || usage; cmd_restart "$@" ;;
  status)  shift; (( $# == 1 )) || usage; cmd_status "$@" ;;
  *) usage ;;
esac
