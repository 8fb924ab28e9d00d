#!/usr/bin/env bash
# install-deps.sh — install everything bucketfs needs to build, test and mount.
#
# Idempotent and quick (a few seconds) when everything is already in place:
#   1. Debian packages (FUSE, the Ceph RADOS Gateway used by scripts/s3-server.sh,
#      test tools), installed only if one of them is missing.
#   2. node_modules (npm ci, or npm install without a lockfile), only if it is
#      missing or older than the lockfile.
#   3. The native addons (better-sqlite3, fuse-native) must load; if they do not,
#      they are rebuilt.  better-sqlite3 is compiled from source with node-gyp
#      (about a minute) because its prebuilt-binary host may be unreachable.
#   4. /dev/fuse must exist (a warning otherwise: only mounting needs it).
# Usage: scripts/install-deps.sh        (as root, or with sudo available)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APT_PACKAGES=(libfuse2 fuse3 libfuse3-dev libcurl4-openssl-dev zlib1g-dev pkg-config gcc radosgw ceph-mon ceph-osd curl rsync attr uuid-runtime ca-certificates
  dcmtk python3-pydicom python3-numpy zstd  # IDC fixtures and e2e tests (dcmdump, pydicom, zstd parquet pages)
  systemd                                   # systemd-analyze verify of the shipped unit
  procps)                                   # ps and pgrep: the e2e tests find daemons by mountpoint

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
  if (( EUID == 0 )); then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root for: $*"
  fi
}

# --- 1. Debian packages ----------------------------------------------------------
# One dpkg-query call: packages reported "ii" are installed, everything else is missing.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null |
            awk '$1 == "ii" { print $2 }' || true)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
# A C++ toolchain is only needed to compile better-sqlite3; add it when absent.
for spec in make:make g++:g++ python3:python3; do
  command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
done
if (( ${#missing[@]} )); then
  log "installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  # Installs the whole list: packages already present are simply kept.
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    "${APT_PACKAGES[@]}" "${missing[@]}" >&2
else
  log "Debian packages: all present"
fi

# --- 2. node_modules ---------------------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm (Node.js >= 20) are required"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js >= 20 is required (found $(node --version))"

cd "$ROOT"
tmp_log=$(mktemp)
trap 'rm -f "$tmp_log"' EXIT

# Before npm may compile anything: node-gyp needs Node's headers; point it at the
# installed ones (Debian/NodeSource: /usr/include/node) instead of downloading them.
prepare_npm() {
  if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/common.gypi ]] &&
     ! npm config get nodedir 2>/dev/null | grep -q '^/'; then
    export npm_config_nodedir=/usr
  fi
}

# npm rewrites node_modules/.package-lock.json on every install: it is the stamp.
stamp=node_modules/.package-lock.json
if [[ -f package-lock.json ]]; then
  if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
    log "npm ci (node_modules missing or older than package-lock.json)"
    prepare_npm
    if ! npm ci --no-audit --no-fund >"$tmp_log" 2>&1; then
      # npm ci rejects a lockfile that lacks optional platform packages which the
      # registry (e.g. a filtered mirror) does not have; npm install accepts it.
      grep -m4 '^npm error' "$tmp_log" >&2 || true
      log "npm ci failed (see above); trying npm install"
      npm install --no-audit --no-fund >&2
    else
      tail -n 3 "$tmp_log" >&2
    fi
    touch "$stamp"              # in case npm install rewrote package-lock.json last
  else
    log "node_modules: up to date"
  fi
elif [[ ! -f $stamp || package.json -nt $stamp ]]; then
  log "npm install (no package-lock.json)"
  prepare_npm
  npm install --no-audit --no-fund >&2
else
  log "node_modules: up to date"
fi

# --- 3. native addons ----------------------------------------------------------------
# Requiring better-sqlite3 does not load its binary; opening a database does.
addons_load() {
  node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get(); require('fuse-native')" 2>&1
}
if err=$(addons_load); then
  log "native addons: better-sqlite3 and fuse-native load"
else
  log "native addons do not load; rebuilding them:"
  prepare_npm
  printf '%s\n' "$err" | grep -m3 -E 'Error|error' >&2 || true
  # npm only runs install scripts approved in package.json "allowScripts".
  # better-sqlite3: skip the prebuilt-binary download and compile (~1 min).
  npm_config_build_from_source=true npm rebuild better-sqlite3 >&2 || log "npm rebuild better-sqlite3 failed"
  # fuse-native ships prebuilt binaries (they need libfuse.so.2 from libfuse2).
  npm rebuild fuse-native >&2 || log "npm rebuild fuse-native failed"
  if err=$(addons_load); then
    log "native addons: rebuilt, and they load"
  else
    printf '%s\n' "$err" >&2
    die "native addons still do not load (see above).  Check that make, g++ and python3 work, that
  package.json \"allowScripts\" approves better-sqlite3 and fuse-native, and that libfuse2 is installed."
  fi
fi

# --- 3b. fuse-native utimens fix -----------------------------------------------------------
# fuse-native 2.2.6 drops mtime in utimens (rsync -a, cp -p, touch); rebuild it with the fix.
node native/patch-fuse-native.cjs >&2 || die "could not rebuild fuse-native with the utimens fix"

# --- 3c. the libfuse3 addon (native/) ---------------------------------------------------------
# Our own binding: 1 MiB requests, caller identity, cached reads without JavaScript.
node native/build-addon.cjs >&2 || die "could not build the libfuse3 addon in native/ (see above)"
node -e "require('./native/build/Release/bucketfs_fuse.node')" || die "the libfuse3 addon was built but does not load"

# --- 4. /dev/fuse ----------------------------------------------------------------------
if [[ ! -c /dev/fuse ]]; then
  log "WARNING: /dev/fuse does not exist, so bucketfs cannot mount here (everything else works)."
  log "  On a host: modprobe fuse.  In Docker: run with --device /dev/fuse --cap-add SYS_ADMIN"
  log "  (and possibly --security-opt apparmor:unconfined)."
elif [[ ! -r /dev/fuse || ! -w /dev/fuse ]]; then
  log "WARNING: /dev/fuse is not readable and writable by $(id -un); mounting needs root or the fuse group."
fi
log "done"
