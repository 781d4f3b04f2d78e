#!/usr/bin/env bash
# The package under a real systemd: boots a Debian 12 container (systemd-nspawn -b, host network),
# installs the freshly built dbxcred .deb in it and runs tests/systemd/inside.sh there against a
# dbxcred-emulator on the host's 127.0.0.1. Run as root; called by .ci/run (see systemd/README.md).
#
#   1. rootfs: a debootstrap'd bookworm minbase with what the test needs, cached in
#      $DBXCRED_CI_ROOTFS (default /var/cache/dbxcred-ci/bookworm; rebuilt when its package list
#      changes). Built in the background while the package compiles. The cache is never booted
#      itself: the container runs on an --ephemeral copy.
#   2. the .deb: scripts/package.sh (or $DBXCRED_DEB, an existing one).
#   3. the emulator from ${DBXCRED_BIN_DIR:-build} (built there if missing), on an ephemeral port.
#   4. the container boots with /mnt/ci bound to a work dir (package, config, CA, secret); the checks
#      run inside through nsenter; the host tries to bind the loopback port while the daemon is stopped.
# Exit 0 when every check passes; 1 on a failed check; 0 with "SKIP" when this machine cannot boot a
# container at all (not root, or systemd never came up: the reason and nspawn's last lines are
# printed). DBXCRED_SYSTEMD_CI_REQUIRE=1 turns the skip into a failure. Nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
rootfs=${DBXCRED_CI_ROOTFS:-/var/cache/dbxcred-ci/bookworm}
bin_dir=${DBXCRED_BIN_DIR:-$repo/build}
# Everything the checks use inside; the package itself needs only libc6 (dpkg-deb -f … Depends).
rootfs_pkgs=systemd,systemd-sysv,dbus,procps,curl,ca-certificates,bash-completion,logrotate
rootfs_stamp="dbxcred-ci rootfs v1: bookworm minbase + $rootfs_pkgs"

t0=$SECONDS
phase_start=$SECONDS
say() { echo "=== systemd-ci: $*" >&2; }
took() { say "$1 took $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
skip() {
  say "SKIP: $*"
  if [ "${DBXCRED_SYSTEMD_CI_REQUIRE:-0}" = 1 ]; then exit 1; fi
  exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, systemd-nspawn)"
[ -d /sys/fs/cgroup ] || skip "no /sys/fs/cgroup: systemd cannot run in a container here"

work=$(mktemp -d /tmp/dbxcred-systemd-ci.XXXXXX)
chmod 0755 "$work"
mkdir -p "$work/ci/out"
emu_pid='' nspawn_pid='' rootfs_job='' watcher_pid='' package_pid='' inside_pid=''
cleanup() {
  local rc=$?
  set +e
  [ -n "$watcher_pid" ] && kill "$watcher_pid" 2>/dev/null
  [ -n "$inside_pid" ] && kill "$inside_pid" 2>/dev/null
  [ -n "$package_pid" ] && kill -TERM -- "-$package_pid" 2>/dev/null
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM to nspawn: the container's systemd halts cleanly, then nspawn removes the copy.
    kill -TERM "$nspawn_pid"
    for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      [ -n "${container_pid:-}" ] && kill -KILL "$container_pid" 2>/dev/null
      kill -KILL "$nspawn_pid" 2>/dev/null
    fi
    wait "$nspawn_pid" 2>/dev/null
  fi
  # A killed nspawn leaves its --ephemeral copy (".#machine.NAME…" beside the cache) behind.
  local copy
  copy=$(sed -n 's/^Spawning container .* on \(.*\)\.$/\1/p' "$work/nspawn.log" 2>/dev/null)
  if [ -n "$copy" ] && [ "$(dirname "$copy")" = "$(dirname "$rootfs")" ] &&
     [[ $(basename "$copy") == .#machine.* ]] && [ -e "$copy" ]; then
    rm -rf --one-file-system "$copy" "$(dirname "$copy")/.#$(basename "$copy").lck"
  fi
  if [ -n "$emu_pid" ]; then kill -TERM "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null; fi
  if [ -n "$rootfs_job" ] && kill -0 "$rootfs_job" 2>/dev/null; then
    kill -TERM -- "-$rootfs_job" 2>/dev/null; wait "$rootfs_job" 2>/dev/null
  fi
  rm -rf --one-file-system "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/install-deps.sh --systemd-ci >&2
took "host packages (debootstrap, systemd-container, dpkg-dev, lintian)"

# ---- 1. the rootfs cache (in the background) -----------------------------------------------------
mirror() {
  # The host's Debian mirror (deb822 .sources first, then one-line lists), for suite bookworm.
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |\n|$)/ && !/bookworm-security/ {
                 if (match($0, /URIs: *[^ \n]+/)) { s = substr($0, RSTART, RLENGTH);
                   sub(/URIs: */, "", s); print s; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  uri=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}
build_rootfs() {
  local new m
  new="$(dirname "$rootfs")/.$(basename "$rootfs").new"
  m=$(mirror)
  umount -R "$new" 2>/dev/null || true
  rm -rf --one-file-system "$new"
  echo "debootstrap bookworm from $m" >&2
  local t=$SECONDS
  debootstrap --variant=minbase --include="$rootfs_pkgs" bookworm "$new" "$m"
  echo "deb $m bookworm main" >"$new/etc/apt/sources.list"
  rm -f "$new"/var/cache/apt/archives/*.deb
  echo "$rootfs_stamp" >"$new/.dbxcred-ci"
  umount -R "$new/proc" "$new/sys" 2>/dev/null || true
  if [ -e "$rootfs" ]; then rm -rf --one-file-system "$rootfs"; fi
  mv "$new" "$rootfs"
  echo "rootfs built in $((SECONDS - t)) s"
}
mkdir -p "$(dirname "$rootfs")"
if [ "$(cat "$rootfs/.dbxcred-ci" 2>/dev/null)" = "$rootfs_stamp" ]; then
  say "rootfs: cached in $rootfs"
else
  say "rootfs: building $rootfs in the background (log: $work/rootfs.log)"
  setsid bash -c "$(declare -f mirror build_rootfs); rootfs='$rootfs' rootfs_pkgs='$rootfs_pkgs' \
    rootfs_stamp='$rootfs_stamp' build_rootfs" >"$work/rootfs.log" 2>&1 &
  rootfs_job=$!
fi

# ---- 2. the package, 3. the emulator -------------------------------------------------------------
if [ -n "${DBXCRED_DEB:-}" ]; then
  cp "$DBXCRED_DEB" "$work/ci/dbxcred.deb"
else
  # In the background so that a signal interrupts the wait (cleanup then ends the build).
  setsid scripts/package.sh >"$work/package.out" &
  package_pid=$!
  wait "$package_pid"
  package_pid=''
  cp "$(tail -1 "$work/package.out")" "$work/ci/dbxcred.deb"
fi
took "package ($(dpkg-deb -f "$work/ci/dbxcred.deb" Version))"
emulator=$bin_dir/tests/emulator/dbxcred-emulator
if [ ! -x "$emulator" ]; then
  BUILD_DIR=$bin_dir TARGETS=dbxcred-emulator scripts/build.sh >&2
  took "emulator build"
fi

if [ -n "$rootfs_job" ]; then
  if ! wait "$rootfs_job"; then
    rootfs_job=''
    tail -20 "$work/rootfs.log" >&2
    say "FAIL: debootstrap failed (above)"
    exit 1
  fi
  rootfs_job=''
  took "rootfs: $(tail -1 "$work/rootfs.log") (in parallel; waited for it after the package)"
fi

mkdir -p "$work/emu"
"$emulator" --state-dir "$work/emu" >"$work/emu/ready" 2>"$work/emu/emulator.log" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/emu/emulator.json" ] && break; sleep 0.1; done
[ -s "$work/emu/emulator.json" ] || { cat "$work/emu/emulator.log" >&2; say "FAIL: no emulator"; exit 1; }
port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$work/emu/emulator.json")
url=https://127.0.0.1:$port
cp "$work/emu/ca.pem" "$work/ci/ca.pem"
# The client secret: in files only (never an argv or a log line).
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/ci/ci-sp.secret")
(umask 077; printf '{"client_id":"ci-client","client_secret":"%s","workspace_user":true}' \
  "$(cat "$work/ci/ci-sp.secret")" >"$work/principal.json")
curl -sSf --cacert "$work/ci/ca.pem" -H 'Content-Type: application/json' \
  --data-binary @"$work/principal.json" "$url/_emulator/principals" >/dev/null
md_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "$url" >"$work/ci/host"
echo "$md_port" >"$work/ci/md_port"
cat >"$work/ci/config.json" <<EOF
{
  "log": { "level": "debug" },
  "endpoints": { "authority": "$url", "resource_manager": "$url", "imds": "$url" },
  "tls": { "ca_file": "/etc/dbxcred/ca.pem" },
  "credentials": {
    "ci-sp": { "type": "client_secret", "tenant_id": "tenant-1", "client_id": "ci-client",
               "client_secret_file": "ci-sp.secret" }
  },
  "listen": { "metadata_service": { "port": $md_port } },
  "audit": { "path": "/var/log/dbxcred/audit.jsonl" },
  "workspaces": { "prod": { "credential": "ci-sp", "host": "$url" } }
}
EOF
cp tests/systemd/inside.sh "$work/ci/inside.sh"
took "emulator on $url, config (metadata service on 127.0.0.1:$md_port)"

# ---- 4. boot -------------------------------------------------------------------------------------
# --register=no --keep-unit: no machined/D-Bus on the host needed (its PID 1 may not be systemd).
setsid systemd-nspawn -D "$rootfs" --ephemeral -b --register=no --keep-unit \
  --machine="dbxcred-ci-$$" --console=passive --bind="$work/ci:/mnt/ci" \
  >"$work/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
container_pid=''
for _ in $(seq 150); do
  container_pid=$(pgrep -P "$nspawn_pid" | head -1) && [ -n "$container_pid" ] &&
    [ "$(cat "/proc/$container_pid/comm" 2>/dev/null)" = systemd ] && break
  container_pid=''
  kill -0 "$nspawn_pid" 2>/dev/null || break
  sleep 0.2
done
inside() {
  nsenter -t "$container_pid" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 "$@"
}
state=''
if [ -n "$container_pid" ]; then
  # `is-system-running --wait` fails at once while systemd's private bus is not there yet.
  for _ in $(seq 150); do
    state=$(inside systemctl is-system-running 2>/dev/null) || true
    [ -n "$state" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$state" ] && { state=$(timeout 90 nsenter -t "$container_pid" -a /usr/bin/systemctl \
    is-system-running --wait 2>/dev/null) || true; }
fi
case "$state" in
  running) ;;
  degraded) say "container booted degraded:"; inside systemctl --failed --no-legend >&2 || true ;;
  *) echo "--- systemd-nspawn (last lines):" >&2; tail -15 "$work/nspawn.log" >&2
     skip "the container's systemd did not come up (state '${state:-none}')" ;;
esac
took "boot (systemd-nspawn -b, $state)"

# The host's half of "the port stays held while stopped": inside signals /mnt/ci/out/stopped.
(
  for _ in $(seq 1800); do
    if [ -e "$work/ci/out/stopped" ]; then
      python3 - "$md_port" >"$work/ci/out/bind-checked.tmp" <<'EOF'
import errno, socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    print("bound")  # nobody held it: an SDK secret could be collected here
except OSError as e:
    print("held" if e.errno == errno.EADDRINUSE else "error %d" % e.errno)
EOF
      mv "$work/ci/out/bind-checked.tmp" "$work/ci/out/bind-checked"
      exit 0
    fi
    sleep 0.1
  done
) &
watcher_pid=$!

rc=0
inside /bin/bash /mnt/ci/inside.sh &
inside_pid=$!
wait "$inside_pid" || rc=$?
inside_pid=''
took "checks inside the container"
if [ "$rc" != 0 ]; then
  # Written by inside.sh with the PAT, the client secret and the loopback secret replaced.
  echo "--- journal of dbxcredd* inside (redacted):" >&2
  cat "$work/ci/out/journal.txt" >&2 2>/dev/null || true
fi
say "total $((SECONDS - t0)) s; $([ "$rc" = 0 ] && echo PASS || echo FAIL)"
exit "$rc"
