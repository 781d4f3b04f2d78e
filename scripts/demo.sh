#!/usr/bin/env bash
# The dbxcred demo: an emulated Entra ID + Databricks workspace, the daemon with a generated config,
# and the CLI fetching tokens, calling the workspace, and watching a PAT rotate. Cleans up after
# itself. Runs as root on a fresh Debian 12 (installs what it lacks) or as any user with the deps.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
echo "building (first time: a few minutes)…"
# Only what the demo runs (the daemon, the CLI, the emulator), not the tests.
TARGETS="dbxcredd dbxcred dbxcred-emulator" BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh \
  >/tmp/dbxcred-demo-build.log 2>&1 ||
  { tail -n 40 /tmp/dbxcred-demo-build.log; exit 1; }
bin=$root/${BUILD_DIR:-build}

work=$(mktemp -d /tmp/dbxcred-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Tokens are shown shortened: the demo's are emulated, but a habit is a habit.
short() { sed -E 's/(dapi[0-9a-f]{6}|emu-aad-[0-9a-f]{6}|Bearer [A-Za-z0-9_.-]{6})[A-Za-z0-9_.-]*/\1…/g'; }

step "Starting dbxcred-emulator (Entra ID + Databricks, HTTPS with its own test CA)"
"$bin/tests/emulator/dbxcred-emulator" --state-dir "$work/emulator" --log-level warn >"$work/emulator.out" 2>"$work/emulator.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$work/emulator.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^ready //p' "$work/emulator.out")
ca=$work/emulator/ca.pem
echo "emulator at $url"
ctl() { curl -sS --fail --cacert "$ca" -H 'Content-Type: application/json' "$@"; }
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ctl -X POST "$url/_emulator/principals" -d "{\"client_id\":\"demo-sp\",\"client_secret\":\"$secret\",\"workspace_user\":true}" >/dev/null
install -m 600 /dev/null "$work/demo-sp.secret"
printf '%s\n' "$secret" >"$work/demo-sp.secret"

step "Writing a config for one workspace (PAT lifetime 2m, rotated when less than 1m50s is left)"
cat >"$work/config.json" <<JSON
{
  "socket": { "path": "$work/run/dbxcred.sock" },
  "state_dir": "$work/state",
  "instance": "demo",
  "endpoints": { "authority": "$url" },
  "tls": { "ca_file": "$ca" },
  "credentials": {
    "demo-sp": { "type": "client_secret", "tenant_id": "demo-tenant", "client_id": "demo-sp",
                 "client_secret_file": "demo-sp.secret" }
  },
  "workspaces": {
    "demo": { "credential": "demo-sp", "host": "$url",
              "pat": { "lifetime": "2m", "rotate_before": "1m50s", "max_lifetime": "10m", "max_active": 3 } }
  }
}
JSON
chmod 600 "$work/config.json"
"$bin/daemon/dbxcredd" --check-config --config "$work/config.json" | head -12; echo "  …"

step "Starting dbxcredd"
"$bin/daemon/dbxcredd" --config "$work/config.json" 2>"$work/dbxcredd.log" &
pids+=($!)
export DBXCRED_SOCKET=$work/run/dbxcred.sock
for _ in $(seq 100); do [ -S "$DBXCRED_SOCKET" ] && break; sleep 0.05; done
dbxcred() { "$bin/client/dbxcred" "$@"; }

step "dbxcred workspaces"
dbxcred workspaces
step "dbxcred aad   (an Entra ID token for the Azure Databricks resource)"
dbxcred aad --min-valid 1m | short
step "dbxcred headers --format http"
dbxcred headers --format http | short
step "Calling the workspace with a PAT: curl -H \"Authorization: Bearer \$(dbxcred pat)\" …/api/2.0/clusters/list"
pat=$(dbxcred pat --min-valid 60s)
echo "PAT: ${pat:0:10}…"
curl -sS --cacert "$ca" -H "Authorization: Bearer $pat" "$url/api/2.0/clusters/list"; echo
first_id=$(dbxcred -w demo status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workspaces"][0]["pat"]["current_token_id"])')

step "Waiting for the PAT to rotate (about a minute: never before half its lifetime)"
for i in $(seq 60); do
  id=$(dbxcred status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workspaces"][0]["pat"]["current_token_id"])')
  [ "$id" != "$first_id" ] && [ "$id" != "None" ] && break
  sleep 1; printf '.'
done
echo
echo "token id before: $first_id   after: $id"
pat2=$(dbxcred pat --min-valid 60s)
echo "new PAT: ${pat2:0:10}…   old PAT still works until it expires:"
curl -sS -o /dev/null -w '  old PAT -> HTTP %{http_code}\n' --cacert "$ca" -H "Authorization: Bearer $pat" "$url/api/2.0/clusters/list"
curl -sS -o /dev/null -w '  new PAT -> HTTP %{http_code}\n' --cacert "$ca" -H "Authorization: Bearer $pat2" "$url/api/2.0/clusters/list"

step "dbxcred status"
dbxcred status

step "What the daemon logged (fingerprints and token ids only, never a token)"
tail -n 8 "$work/dbxcredd.log"
echo
echo "Demo done; cleaning up $work."
