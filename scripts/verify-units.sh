#!/usr/bin/env bash
# Runs `systemd-analyze verify` on the units in systemd/. verify insists that ExecStart= names an
# existing executable, so the units are checked from a temporary copy whose ExecStart points at the
# built daemon ($DBXCREDD, else $BUILD_DIR/daemon/dbxcredd, else a stub). The sysusers and tmpfiles
# snippets are checked with --dry-run style parsers where the tools offer one.
# Exit 0: all clean; 1: a problem; 77: systemd-analyze missing (ctest counts that as skipped).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v systemd-analyze >/dev/null; then
  echo "verify-units: systemd-analyze not found (Debian: apt-get install systemd); skipping" >&2
  exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

daemon="${DBXCREDD:-${BUILD_DIR:-$root/build}/daemon/dbxcredd}"
if [[ ! -x "$daemon" ]]; then
  daemon="$tmp/dbxcredd"
  printf '#!/bin/sh\nexit 0\n' >"$daemon"
  chmod 0755 "$daemon"
fi
mkdir "$tmp/units"
sed "s|^ExecStart=/usr/sbin/dbxcredd|ExecStart=$daemon|" "$root/systemd/dbxcredd.service" \
  >"$tmp/units/dbxcredd.service"
cp "$root"/systemd/*.socket "$tmp/units/"

status=0
# verify prints warnings without failing on some of them: treat any output about our units as fatal.
out="$(cd "$tmp/units" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
  ./dbxcredd.socket ./dbxcredd-metadata-service.socket ./dbxcredd-managed-identity.socket \
  ./dbxcredd.service 2>&1)" || status=1
mine="$(printf '%s\n' "$out" | grep -E "dbxcredd(-[a-z-]+)?\.(service|socket)" || true)"
if [[ -n "$mine" ]]; then
  printf '%s\n' "$out" >&2
  status=1
elif [[ $status -ne 0 ]]; then
  printf '%s\n' "$out" >&2
fi

# sysusers.d / tmpfiles.d: parse into a throw-away root so nothing on this machine changes.
if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$tmp/root/etc"
  if ! systemd-sysusers --root="$tmp/root" "$root/systemd/dbxcred.sysusers.conf" 2>"$tmp/sysusers.err"; then
    cat "$tmp/sysusers.err" >&2
    status=1
  fi
fi
if command -v systemd-tmpfiles >/dev/null; then
  if ! systemd-tmpfiles --root="$tmp/root" --create "$root/systemd/dbxcred.tmpfiles.conf" \
      2>"$tmp/tmpfiles.err"; then
    cat "$tmp/tmpfiles.err" >&2
    status=1
  elif [[ "$(stat -c '%a %U' "$tmp/root/run/dbxcred" 2>/dev/null)" != "750 dbxcred" ]] &&
       [[ "$(stat -c '%a' "$tmp/root/run/dbxcred" 2>/dev/null)" != "750" ]]; then
    echo "verify-units: tmpfiles did not create run/dbxcred with mode 0750" >&2
    status=1
  fi
fi

if [[ $status -eq 0 ]]; then
  echo "verify-units: dbxcredd.service, dbxcredd.socket, sysusers and tmpfiles snippets OK"
fi
exit $status
