#!/usr/bin/env bash
# The fleet benchmark (docs/BENCHMARKS.md "Fleet"): DAEMONS dbxcredd on this machine against one
# emulator, one workspace and one service principal, lifetimes scaled down, clients on every daemon.
#   PAT mode:   peak active PATs of the principal against docs/PAT_SIZING.md's rule
#               (N x max_active + others), with the quota set to exactly that: zero QUOTA_EXCEEDED.
#   OAuth mode: databricks_oauth with PATs off: zero PATs, /oidc/v1/token calls per daemon per
#               simulated hour against the minimum of the refresh rule.
# Usage: scripts/bench-fleet.sh [--smoke] [--out DIR] [--plot FILE.png] [--mode pat|oauth|both]
#   --smoke: 5 daemons, 24 s of PATs and 12 s of OAuth, the same checks (ctest bench.fleet_smoke).
# Environment: BUILD_DIR (default build; needs dbxcredd, dbxcred, dbxcred-emulator), DAEMONS (50),
#   PAT_SECONDS (360), OAUTH_SECONDS (300), INTERVAL (3: mean seconds between a client's requests);
#   FLEET_ARGS: more options for tests/bench/fleet.py (lifetimes, mixes, max_active, quota).
# Exits 1 when a check fails (the summary says which). Prints figures, never a token.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0 out="" plot="" mode=both
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out=$2; shift ;;
    --plot) plot=$2; shift ;;
    --mode) mode=$2; shift ;;
    *) echo "usage: $0 [--smoke] [--out DIR] [--plot FILE.png] [--mode pat|oauth|both]" >&2; exit 2 ;;
  esac
  shift
done

bin=$(cd "${BUILD_DIR:-build}" && pwd)
for b in daemon/dbxcredd client/dbxcred tests/emulator/dbxcred-emulator; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: build dbxcredd dbxcred dbxcred-emulator" >&2; exit 1; }
done

if ((smoke)); then
  # The sizing rule's worst case: PATs of 100 s, half the requests asking 95 s, so that every
  # daemon forces early rotations at once and its promised PATs pile up to max_active (3): the
  # fleet's peak is N x max_active, with the quota set to exactly that plus the foreign PATs.
  # OAuth tokens of 90 s (refreshed every 45 s): no daemon may call more than the schedule.
  : "${DAEMONS:=5}" "${PAT_SECONDS:=24}" "${OAUTH_SECONDS:=12}" "${INTERVAL:=1}"
  pat_args=(--pat-lifetime 100 --rotate-before 50 --max-lifetime 200 --max-active 3
            --pat-mix "40:50,95:50")
  oauth_args=(--oauth-lifetime 90 --oauth-mix "40:70,45:30")
  report_args=(--smoke)
else
  : "${DAEMONS:=50}" "${PAT_SECONDS:=360}" "${OAUTH_SECONDS:=300}" "${INTERVAL:=3}"
  pat_args=() oauth_args=() report_args=()
fi

work=$(mktemp -d /tmp/dbxcred-fleet.XXXXXX)
out=${out:-$work/results}
mkdir -p "$out"
cleanup() {
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# 50 daemons + their clients: a descriptor each for sockets, logs and pipes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

run() {  # run MODE SECONDS ARGS...
  local m=$1 s=$2
  shift 2
  printf '\033[1m== fleet %s: %s daemons, %s s\033[0m\n' "$m" "$DAEMONS" "$s" >&2
  # The driver's work dir (configs, state dirs, logs) goes under $work, the results under $out.
  python3 tests/bench/fleet.py --bin "$bin" --out "$work" --mode "$m" --daemons "$DAEMONS" \
    --seconds "$s" --interval "$INTERVAL" "$@" ${FLEET_ARGS:-}
  cp "$work/$m.json" "$out/$m.json"
}
[ "$mode" = oauth ] || run pat "$PAT_SECONDS" ${pat_args[@]+"${pat_args[@]}"}
[ "$mode" = pat ] || run oauth "$OAUTH_SECONDS" ${oauth_args[@]+"${oauth_args[@]}"}

rc=0
python3 tests/bench/fleet_report.py "$out" ${report_args[@]+"${report_args[@]}"} || rc=$?
if [ -n "$plot" ] && command -v gnuplot >/dev/null && [ -f "$out/pats.dat" ] && [ -f "$out/oauth.dat" ]; then
  vars=$(python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
p, o = s["pat"], s["oauth"]
print(f"n={p['daemons']}; bound={p['bound']}; quota={p['quota']}; steady={p['steady_estimate']}; "
      f"minimum={o['minimum_per_sim_hour']}")
PY
)
  gnuplot -e "pats='$out/pats.dat'; oauth='$out/oauth.dat'; out='$plot'; $vars" tests/bench/fleet.gp
  echo "plot: $plot" >&2
fi
[ "$out" = "$work/results" ] || echo "results in $out" >&2
exit "$rc"
