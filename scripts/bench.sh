#!/usr/bin/env bash
# The dbxcred benchmark (docs/BENCHMARKS.md), one run, side by side with nginx and curl:
#   1. cached PAT requests to dbxcredd vs nginx serving the same body from a file (1/8/64 connections,
#      rounds alternating the servers, medians), the access check (peer credentials + allow) on;
#   2. `dbxcred pat` vs `curl --unix-socket`, wall time (process start included), median of 50 runs;
#   3. daemon RSS after start-up, with 10,000 idle connections, after simulated rotations; idle CPU;
#   4. time from exec to socket ready;
#   5. upstream economy: AAD calls and PAT mints against the minimum the lifetimes allow.
# Usage: scripts/bench.sh [--smoke] [--no-build] [--out DIR] [--plot FILE.png]
#   --smoke: a few seconds of each step, asserts only that the benchmark works (ctest bench.smoke).
# Environment: BUILD_DIR (default build-release, built -O2 without debug info unless --no-build),
#   ROUNDS, DURATION (s per load run), EXEC_RUNS, IDLE_SECONDS, HOLD, ECON_SECONDS; AUDIT=0 runs
#   the daemon without an audit file (audit is on by default, as the targets require);
#   BENCH_ALLOW (as root): the workspace's allow list (default {"groups": ["nogroup"]}).
# Runs as root (then the clients run as `nobody`, so the allow check is not root's shortcut) or as
# any user with the deps installed. Prints rates and sizes, never a token.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

smoke=0 build=1 out="" plot=""
while (($#)); do
  case "$1" in
    --smoke) smoke=1; build=0 ;;
    --no-build) build=0 ;;
    --out) out=$2; shift ;;
    --plot) plot=$2; shift ;;
    *) echo "usage: $0 [--smoke] [--no-build] [--out DIR] [--plot FILE.png]" >&2; exit 2 ;;
  esac
  shift
done

if ((smoke)); then
  : "${ROUNDS:=1}" "${DURATION:=0.3}" "${EXEC_RUNS:=3}" "${IDLE_SECONDS:=1}" "${HOLD:=50}"
  : "${ECON_SECONDS:=12}" "${CONNS:=1 8}" "${READY_RUNS:=1}"
else
  : "${ROUNDS:=3}" "${DURATION:=5}" "${EXEC_RUNS:=50}" "${IDLE_SECONDS:=60}" "${HOLD:=10000}"
  : "${ECON_SECONDS:=240}" "${CONNS:=1 8 64}" "${READY_RUNS:=7}"
fi

if ((build)); then
  scripts/install-deps.sh --bench
  export BUILD_DIR=${BUILD_DIR:-build-release}
  echo "building into $BUILD_DIR (Release)…" >&2
  # -O2, no debug info: GCC 12 at -O3 (CMake's Release default) trips -Werror=restrict false
  # positives (GCC bug 105329); docs/BENCHMARKS.md compares -O2 with RelWithDebInfo.
  BUILD_TYPE=Release scripts/build.sh "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    >/tmp/dbxcred-bench-build.log 2>&1 ||
    { tail -n 40 /tmp/dbxcred-bench-build.log; exit 1; }
fi
bin=$(cd "${BUILD_DIR:-build-release}" && pwd)
load=$bin/tests/bench/dbxcred-load
for b in "$bin/daemon/dbxcredd" "$bin/client/dbxcred" "$load" "$bin/tests/emulator/dbxcred-emulator"; do
  [ -x "$b" ] || { echo "missing $b: build first" >&2; exit 1; }
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx" ] || ! command -v curl >/dev/null; then
  echo "nginx and curl are needed: scripts/install-deps.sh --bench" >&2
  exit 77
fi

work=$(mktemp -d /tmp/dbxcred-bench.XXXXXX)
chmod 755 "$work"
out=${out:-$work/results}
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# Clients run as `nobody` when we are root: uid 0 passes every allow list without looking at it.
if [ "$(id -u)" -eq 0 ]; then
  as_client=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  allow=${BENCH_ALLOW:-'{"groups": ["nogroup"]}'}
  sock_group=', "group": "nogroup"'
  chmod 755 "$bin" "$bin/tests" "$bin/tests/bench" "$bin/client" 2>/dev/null || true
else
  as_client=()
  allow="{\"users\": [\"$(id -un)\"]}"
  sock_group=""
fi
# 10,000 idle connections need as many descriptors (the systemd unit sets LimitNOFILE=65536).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---- emulator + daemon -------------------------------------------------------------------------
"$bin/tests/emulator/dbxcred-emulator" --state-dir "$work/emulator" --log-level warn \
  >"$work/emulator.out" 2>"$work/emulator.err" &
pids+=($!)
for _ in $(seq 200); do grep -q '^ready' "$work/emulator.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^ready //p' "$work/emulator.out")
[ -n "$url" ] || { echo "emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }
ca=$work/emulator/ca.pem
ctl() { curl -sS --fail --cacert "$ca" -H 'Content-Type: application/json' "$@"; }
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ctl -X POST "$url/_emulator/principals" -d "{\"client_id\":\"bench-sp\",\"client_secret\":\"$secret\",\"workspace_user\":true}" >/dev/null
install -m 600 /dev/null "$work/bench-sp.secret"
printf '%s\n' "$secret" >"$work/bench-sp.secret"

# write_config FILE SOCKET STATE_DIR PAT_POLICY   (AUDIT=0: no audit file, to measure its cost)
write_config() {
  local audit_line='  "audit": { "path": "'"$(dirname "$3")/audit-$(basename "$3").jsonl"'" },'
  [ "${AUDIT:-1}" = 0 ] && audit_line=''

  cat >"$1" <<JSON
{
  "socket": { "path": "$2", "mode": "0660"$sock_group },
  "state_dir": "$3",
  "instance": "bench",
  "log": { "level": "warn" },
  "limits": { "max_connections": 12000, "max_connections_per_uid": 12000,
              "requests_per_second_per_uid": 0 },
$audit_line
  "endpoints": { "authority": "$url" },
  "tls": { "ca_file": "$ca" },
  "credentials": {
    "bench-sp": { "type": "client_secret", "tenant_id": "bench-tenant", "client_id": "bench-sp",
                  "client_secret_file": "$work/bench-sp.secret" }
  },
  "workspaces": {
    "bench": { "credential": "bench-sp", "host": "$url", "pat": $4, "allow": $allow }
  }
}
JSON
  chmod 600 "$1"
}
sock=$work/run/dbxcred.sock
write_config "$work/config.json" "$sock" "$work/state" '{ "lifetime": "1h", "rotate_before": "20m" }'
pat_path=/v1/workspaces/bench/pat

# proc_stat PID -> "rss_kib cpu_ns" (CPU: the scheduler's on-CPU time of every thread, in ns)
proc_stat() {
  local rss cpu=0 t
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
  for t in /proc/"$1"/task/*/schedstat; do cpu=$((cpu + $(cut -d' ' -f1 "$t"))); done
  echo "$rss $cpu"
}
result() { echo "$1" >>"$out/results.jsonl"; }
# wait_socket SOCKET: until a server answers on it.
wait_socket() {
  for _ in $(seq 500); do
    curl -sf -o /dev/null --unix-socket "$1" http://localhost/healthz 2>/dev/null && return 0
    curl -s -o /dev/null --unix-socket "$1" http://localhost/ 2>/dev/null && return 0
    sleep 0.02
  done
  echo "nothing answers on $1" >&2
  return 1
}

log "4. exec to socket ready (median of $READY_RUNS)"
for i in $(seq "$READY_RUNS"); do
  r=$("$load" ready --socket "$sock" -- "$bin/daemon/dbxcredd" --config "$work/config.json")
  result "{\"kind\":\"ready\",${r:1}"
done

rm -f "$sock"
"$bin/daemon/dbxcredd" --config "$work/config.json" 2>"$work/dbxcredd.log" &
daemon=$!
pids+=($daemon)
wait_socket "$sock"
# The first request waits for the first PAT; its body, with the token masked to the same length,
# is what nginx serves.
"${as_client[@]}" "$bin/client/dbxcred" --socket "$sock" -w bench pat --min-valid 60s >/dev/null
mkdir -p "$work/www/v1/workspaces/bench" "$work/nginx"
curl -sS --unix-socket "$sock" "http://localhost$pat_path" |
  python3 -c 'import json,sys,re; b=sys.stdin.read(); t=json.loads(b)["token"]; sys.stdout.write(b.replace(t, "dapi" + "x"*(len(t)-4)))' \
    >"$work/www/v1/workspaces/bench/pat"
chmod -R a+rX "$work/www"

sleep 1
read -r rss_start _ < <(proc_stat "$daemon")
result "{\"kind\":\"rss\",\"when\":\"startup\",\"kib\":$rss_start}"
log "3. RSS after start-up: $rss_start KiB; idle CPU over ${IDLE_SECONDS}s"
read -r _ cpu0 < <(proc_stat "$daemon")
sleep "$IDLE_SECONDS"
read -r _ cpu1 < <(proc_stat "$daemon")
result "{\"kind\":\"idle_cpu\",\"seconds\":$IDLE_SECONDS,\"cpu_ns\":$((cpu1 - cpu0))}"

# ---- nginx ----------------------------------------------------------------------------------------
nsock=$work/nginx/nginx.sock
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  default_type application/json;
  keepalive_timeout 60s;
  keepalive_requests 100000000;
  open_file_cache max=16;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen unix:$nsock;
    root $work/www;
    etag off;
    add_header Cache-Control no-store;
  }
}
CONF
(umask 000 && exec "$nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log") &
pids+=($!)
wait_socket "$nsock"
cmp -s <(curl -sS --unix-socket "$nsock" "http://localhost$pat_path" | wc -c) \
  <(curl -sS --unix-socket "$sock" "http://localhost$pat_path" | wc -c) ||
  { echo "nginx and dbxcredd bodies differ in size" >&2; exit 1; }

# ---- 1. throughput and latency ------------------------------------------------------------------
log "1. cached PAT requests: dbxcredd vs nginx, $ROUNDS round(s) of ${DURATION}s, connections: $CONNS"
for round in $(seq "$ROUNDS"); do
  # Alternate which server goes first in each round.
  if ((round % 2)); then order="dbxcredd nginx"; else order="nginx dbxcredd"; fi
  for c in $CONNS; do
    for server in $order; do
      s=$sock; [ "$server" = nginx ] && s=$nsock
      r=$("${as_client[@]}" "$load" http --socket "$s" --path "$pat_path" -c "$c" -d "$DURATION")
      result "{\"kind\":\"http\",\"server\":\"$server\",\"round\":$round,${r:1}"
      echo "  round $round  c=$c  $server  $r" >&2
    done
  done
done

# ---- 2. CLI vs curl -------------------------------------------------------------------------------
log "2. dbxcred pat vs curl --unix-socket, $EXEC_RUNS runs each"
for round in 1 2; do
  r=$("${as_client[@]}" "$load" exec -n "$EXEC_RUNS" -- "$bin/client/dbxcred" --socket "$sock" -w bench pat)
  result "{\"kind\":\"exec\",\"tool\":\"dbxcred\",\"round\":$round,${r:1}"
  r=$("${as_client[@]}" "$load" exec -n "$EXEC_RUNS" -- curl -sS --fail --unix-socket "$sock" "http://localhost$pat_path")
  result "{\"kind\":\"exec\",\"tool\":\"curl\",\"round\":$round,${r:1}"
done

# ---- 3. idle connections --------------------------------------------------------------------------
log "3. RSS with $HOLD idle connections"
fifo=$work/hold.out
"${as_client[@]}" "$load" hold --socket "$sock" -c "$HOLD" --seconds 8 >"$fifo" &
holder=$!
for _ in $(seq 600); do [ -s "$fifo" ] && break; sleep 0.1; done
r=$(cat "$fifo")
read -r rss_hold _ < <(proc_stat "$daemon")
result "{\"kind\":\"rss\",\"when\":\"idle_connections\",\"kib\":$rss_hold,${r:1}"
wait "$holder"
sleep 1
read -r rss_after _ < <(proc_stat "$daemon")
result "{\"kind\":\"rss\",\"when\":\"after_load\",\"kib\":$rss_after}"
kill "$daemon"
wait "$daemon" 2>/dev/null || true

# ---- 5. upstream economy + RSS after rotations ----------------------------------------------------
# Scaled lifetimes: AAD tokens live 150 s (refreshed at TTL/2 = 75 s before expiry), PATs 2m with
# rotate_before 1m50s, which the PAT manager caps at half the lifetime: a new PAT every 60 s, where
# the default policy (1h, rotate_before 20m) makes one every 40 min — 120 s here simulate 80 min of
# rotations. The AAD lifetime keeps the refresh lead above the 60 s of validity a Databricks call
# asks for (broker.cpp kDatabricksCallValidity), as real 1 h tokens (20 min lead) always do: with
# 90 s tokens (45 s lead) every PAT mint forced an early refresh — a scaling artefact, 1.13x.
aad_ttl=150
log "5. upstream economy over ${ECON_SECONDS}s (AAD lifetime ${aad_ttl}s, a PAT every 60 s)"
ctl -X POST "$url/_emulator/settings" -d "{\"aad_token_lifetime\":$aad_ttl}" >/dev/null
sock2=$work/run2/dbxcred.sock
write_config "$work/config2.json" "$sock2" "$work/state2" \
  '{ "lifetime": "2m", "rotate_before": "1m50s", "max_lifetime": "10m", "max_active": 3 }'
"$bin/daemon/dbxcredd" --config "$work/config2.json" 2>"$work/dbxcredd2.log" &
daemon2=$!
pids+=($daemon2)
wait_socket "$sock2"
"${as_client[@]}" "$bin/client/dbxcred" --socket "$sock2" -w bench pat --min-valid 40s >/dev/null
sleep 1
read -r rss2_start _ < <(proc_stat "$daemon2")
ctl -X DELETE "$url/_emulator/counters" >/dev/null
t0=$(date +%s.%N)
sleep "$ECON_SECONDS"
# The counts, and the times (ms) of the AAD and token/create calls for the rate between them.
counters=$(ctl "$url/_emulator/counters" | python3 -c 'import json,sys; c=json.load(sys.stdin); t=c.pop("times",{}); c["aad_times"]=t.get("aad",[]); c["token_create_times"]=t.get("token_create",[]); print(json.dumps(c))')
t1=$(date +%s.%N)
read -r rss2_end _ < <(proc_stat "$daemon2")
result "{\"kind\":\"economy\",\"seconds\":$(python3 -c "print(round($t1-$t0,3))"),\"aad_ttl\":$aad_ttl,\"pat_every\":60,\"counters\":$counters}"
result "{\"kind\":\"rss\",\"when\":\"rotations_start\",\"kib\":$rss2_start}"
result "{\"kind\":\"rss\",\"when\":\"rotations_end\",\"kib\":$rss2_end,\"seconds\":$ECON_SECONDS}"

# ---- sizes, machine, report ---------------------------------------------------------------------
result "{\"kind\":\"size\",\"dbxcredd\":$(stat -c %s "$bin/daemon/dbxcredd"),\"dbxcred\":$(stat -c %s "$bin/client/dbxcred")}"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
result "{\"kind\":\"machine\",\"nproc\":$(nproc),\"cpu\":\"$cpu_model\",\"kernel\":\"$(uname -r)\",\"nginx\":\"$("$nginx" -v 2>&1 | sed 's/.*: //')\",\"curl\":\"$(curl --version | head -1 | cut -d' ' -f1-2)\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
python3 tests/bench/report.py "$out/results.jsonl" "$out"
if [ -n "$plot" ] && command -v gnuplot >/dev/null; then
  gnuplot -e "data='$out/latency.dat'; out='$plot'" tests/bench/latency.gp
  echo "plot: $plot" >&2
fi
[ "$out" = "$work/results" ] || echo "results in $out" >&2
cat "$out/summary.md"
