"""Figures and checks of the fleet benchmark (tests/bench/fleet.py's OUT/pat.json, OUT/oauth.json):
writes OUT/summary.md, OUT/summary.json, OUT/pats.dat, OUT/oauth.dat (for tests/bench/fleet.gp);
exits 1 when a check fails (every check is listed in summary.md, met or not).
Usage: fleet_report.py OUT_DIR [--smoke]"""
import json
import math
import os
import statistics
import sys

MIN_SERVE = 40          # daemon/cache/refresh_policy.h kMinServeValidity
MAX_LEAD = 1200         # kMaxRefreshLead: refresh min(TTL/2, 20 min) before expiry
REAL_TTL = 3600         # a real Databricks OAuth / Entra token lives ~1 h
REAL_PAT = (3600, 1200)  # the default PAT policy: lifetime 1h, rotate_before 20m

out = sys.argv[1]
smoke = "--smoke" in sys.argv[2:]
md, summary, checks = [], {}, []


def check(what, ok, figure):
    checks.append({"check": what, "ok": bool(ok), "figure": figure})


def load(mode):
    path = os.path.join(out, mode + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def refresh_interval(ttl):
    """The refresh engine's interval between calls for tokens of `ttl` s (jitter averages out)."""
    return ttl - min(ttl / 2, MAX_LEAD)


def in_window(r, rows, key="t"):
    w0, w1 = r["window"]
    return [x for x in rows if w0 <= x[key] <= w1]


def delta(r, key):
    """Per daemon: metric `key` at the end of the window minus at its start."""
    return {n: r["metrics_end"][n][key] - r["metrics_start"][n][key] for n in r["metrics_end"]}


def rates(times_by_daemon, t_end, every):
    """From each daemon's call times (up to t_end): the rate against the minimum (one call per
    `every` s) — the minimum interval over the mean interval between a daemon's calls, overall and
    per daemon. Counts in a window are off by up to one call at either end, and daemons started
    together are in phase, so a count would be biased; intervals are not."""
    per, span, gaps = {}, 0.0, 0
    for name, ts in times_by_daemon.items():
        ts = sorted(t for t in ts if t <= t_end)
        if len(ts) < 2:
            continue
        per[name] = every * (len(ts) - 1) / (ts[-1] - ts[0])
        span += ts[-1] - ts[0]
        gaps += len(ts) - 1
    return (every * gaps / span if span else float("nan")), per


def peak_burst(times_ms, width=1.0):
    """Most calls in any `width` s (a sliding window over the sorted call times)."""
    ts = sorted(t / 1000.0 for t in times_ms)
    best, j = 0, 0
    for i, t in enumerate(ts):
        while ts[j] < t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def pctl(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(math.ceil(p * len(v))) - 1)] if v else float("nan")


def answers_summary(r, default_min_valid):
    """Answers by outcome, and any token served with less than the effective min_valid."""
    by, short = {}, 0
    for a in r["answers"]:
        k = "200" if a["status"] == 200 else "%s %s" % (a["status"], a.get("code"))
        by[k] = by.get(k, 0) + 1
        if a["status"] == 200 and "left" in a:
            need = max(a["min_valid"] or default_min_valid, MIN_SERVE)
            if a["left"] < need - 1:  # expires_at is whole seconds
                short += 1
    lat = [a["latency"] for a in r["answers"] if a["status"] == 200 and not a.get("cli")]
    return by, short, lat


def rss_line(r):
    peak = max(r["rss"], key=lambda x: x["sum_kib"]) if r["rss"] else {"sum_kib": 0, "n": 1}
    return (f"RSS of the {r['daemons']} daemons: {peak['sum_kib'] / 1024:.1f} MiB at most "
            f"({peak['sum_kib'] / max(peak['n'], 1) / 1024:.1f} MiB each)"), peak["sum_kib"]


def pat_mode(r):
    n, p = r["daemons"], r["pat"]
    life, rb = p["lifetime"], min(p["rotate_before"], p["lifetime"] / 2)
    every = life - rb
    steady = math.ceil(life / every) + 1
    bound = n * p["max_active"]
    t0 = r["t0"]
    peak = max(r["samples"], key=lambda s: s["ours"])
    window = in_window(r, r["samples"])
    mean_ours = statistics.mean(s["ours"] for s in window) if window else 0
    max_agent = max(s["max_agent"] for s in r["samples"])
    quota_errors = sum(m["pat_quota_errors"] for m in r["metrics_end"].values())
    w = r["window"][1] - r["window"][0]
    mints = delta(r, "pat_mints")
    by_agent = {}
    for agent, t in r["mint_times"]:
        by_agent.setdefault(agent, []).append(t)
    mint_ratio, _ = rates(by_agent, r["window"][1], every)
    # A mint sooner than 90 % of the interval after the agent's previous one was forced by a
    # client's min_valid (an early rotation), not by the schedule.
    early = sum(1 for ts in by_agent.values() for a, b in zip(ts, ts[1:]) if b - a < 0.9 * every)
    c = r["counters"]
    aad_every = refresh_interval(r["aad_lifetime"])
    aad_times = {k: [e - r["aad_lifetime"] for e in v] for k, v in r["expiries"].items()}
    aad_ratio, _ = rates(aad_times, r["window"][1], aad_every)
    by, short, lat = answers_summary(r, 300)
    scale = REAL_PAT[0] / life
    rss_text, rss_sum = rss_line(r)
    with open(os.path.join(out, "pats.dat"), "w") as f:
        f.write("# seconds_since_start ours ours_plus_foreign max_per_agent\n")
        for s in r["samples"]:
            f.write(f"{s['t'] - t0:.1f} {s['ours']} {s['ours'] + s['foreign']} {s['max_agent']}\n")
    fig = {"daemons": n, "quota": r["quota"], "others": r["others"], "bound": bound,
           "steady_estimate": n * steady, "peak": peak["ours"], "peak_at": peak["t"] - t0,
           "mean_in_window": mean_ours, "max_per_agent": max_agent, "quota_errors": quota_errors,
           "create_400": r["create_400"], "mints_ratio": mint_ratio, "early_rotations": early,
           "mints_total": len(r["mint_times"]),
           "mints_per_sim_hour": mint_ratio * 3600 / (REAL_PAT[0] - REAL_PAT[1]),
           "aad_ratio": aad_ratio, "answers": by, "short_tokens": short,
           "rate_limited": sum(m["pat_rate_limited"] for m in r["metrics_end"].values()),
           "token_create_burst_1s": peak_burst(c["times"]["token_create"]),
           "token_list_per_daemon_min": c["token_list"] / n / w * 60,
           "rss_sum_kib": rss_sum, "window_seconds": w, "scale": scale,
           "p50_ms": pctl(lat, 0.5) * 1000, "p99_ms": pctl(lat, 0.99) * 1000,
           "start_seconds": r["start_seconds"]}
    summary["pat"] = fig
    md.append(f"### PAT mode: {n} daemons, one principal, PATs of {life} s rotated {rb:.0f} s "
              f"before expiry (a PAT every {every:.0f} s), max_active {p['max_active']}")
    md.append(f"- window {w:.0f} s after a {r['warmup_seconds']:.0f} s start-up = "
              f"{w * scale / 60:.0f} simulated minutes (x{scale:.0f}: the default 1h/20m policy "
              f"rotates every 40 min); quota {r['quota']} = {n} x {p['max_active']} + "
              f"{r['others']} foreign PATs")
    md.append(f"- **peak active PATs of the fleet {peak['ours']}** at {peak['t'] - t0:.0f} s "
              f"(rule: N x max_active = {bound}; steady-state estimate N x {steady} = {n * steady});"
              f" mean over the window {mean_ours:.1f}; most held by one agent: {max_agent}")
    md.append(f"- QUOTA_EXCEEDED: {quota_errors} (daemons' counters), token/create 400 at the "
              f"emulator: {r['create_400']}")
    md.append(f"- mints: {sum(mints.values())} in the window; rate {mint_ratio:.2f}x the minimum "
              f"(one per {every:.0f} s per daemon) = {fig['mints_per_sim_hour']:.2f} per "
              f"simulated hour per daemon (minimum 1.5); {early} of the run's "
              f"{len(r['mint_times'])} mints were early rotations forced by a min_valid; most "
              f"token/create in one second: {fig['token_create_burst_1s']}")
    md.append(f"- Entra calls {c['aad']} in the window (rate {aad_ratio:.2f}x the minimum, one per "
              f"{aad_every:.0f} s)"
              f"; token/list {fig['token_list_per_daemon_min']:.2f} per daemon per minute; "
              f"token/delete {c['token_delete']}")
    md.append(f"- answers: {json.dumps(by)}; rate_limited (forced early rotations over the "
              f"per-uid budget) {fig['rate_limited']}; tokens with less than min_valid: {short}; "
              f"socket p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms")
    md.append("- " + rss_text)
    check("PAT: zero QUOTA_EXCEEDED", quota_errors == 0 and r["create_400"] == 0,
          f"{quota_errors} / {r['create_400']}")
    check("PAT: fleet peak <= N x max_active", peak["ours"] <= bound, f"{peak['ours']} <= {bound}")
    check("PAT: no agent above max_active", max_agent <= p["max_active"],
          f"{max_agent} <= {p['max_active']}")
    check("PAT: every token served had min_valid left", short == 0, f"{short} short")
    check("PAT: every agent minted (all daemons served)",
          len([m for m in r["metrics_end"].values() if m["pat_mints"] > 0]) == n, "")
    check("PAT: no transport error on the socket", "0 None" not in by and
          not any(k.startswith("0 ") for k in by), json.dumps(by))
    check("PAT: daemons exited 0", all(v == 0 for v in r["stop_rc"].values()), "")


def oauth_mode(r):
    n, ttl = r["daemons"], r["oauth_lifetime"]
    every = refresh_interval(ttl)
    w = r["window"][1] - r["window"][0]
    c = r["counters"]
    per = delta(r, "token_fetches")
    calls = {k: [e - ttl for e in v] for k, v in r["expiries"].items()}
    ratio, per_ratio = rates(calls, r["window"][1], every)
    count_ratio = c["oidc_token"] / (n * w) * every
    real_min = REAL_TTL / refresh_interval(REAL_TTL)
    per_h = sorted(v * real_min for v in per_ratio.values()) or [float("nan")]
    scale = refresh_interval(REAL_TTL) / every
    pats_seen = max((s["ours"] + s["foreign"] for s in r["samples"]), default=0)
    # refresh_policy.h default_min_valid: half the lifetime as received (whole seconds, so a 150 s
    # token received a few ms after issue lived 149 s: 74 s) under 10 minutes, never below 40 s.
    default_mv = max((ttl - 1) // 2, MIN_SERVE) if ttl < 600 else 300
    by, short, lat = answers_summary(r, default_mv)
    kinds = {a.get("token_kind") for a in r["answers"] if a["status"] == 200 and "left" in a}
    burst = peak_burst(c["times"]["oidc_token"])
    rss_text, rss_sum = rss_line(r)
    with open(os.path.join(out, "oauth.dat"), "w") as f:
        f.write("# rank calls_per_simulated_hour (per daemon, sorted)\n")
        for i, v in enumerate(per_h):
            f.write(f"{i + 1} {v:.3f}\n")
    fig = {"daemons": n, "oauth_lifetime": ttl, "interval_min": every, "window_seconds": w,
           "oidc_calls": c["oidc_token"], "ratio": ratio, "per_sim_hour": ratio * real_min,
           "count_ratio": count_ratio, "daemons_measured": len(per_ratio),
           "per_daemon_sim_hour": {"min": per_h[0], "median": statistics.median(per_h),
                                   "max": per_h[-1]},
           "minimum_per_sim_hour": real_min, "pats_seen": pats_seen, "answers": by,
           "short_tokens": short, "oidc_burst_1s": burst, "mean_per_s": n / every,
           "discovery": c["oidc_discovery"], "aad": c["aad"], "rss_sum_kib": rss_sum,
           "p50_ms": pctl(lat, 0.5) * 1000, "p99_ms": pctl(lat, 0.99) * 1000, "scale": scale}
    summary["oauth"] = fig
    md.append(f"### OAuth mode: {n} daemons, databricks_oauth (M2M), tokens of {ttl} s, PATs off")
    md.append(f"- window {w:.0f} s = {w * scale / 60:.0f} simulated minutes (x{scale:.0f}: a 1 h "
              f"token is refreshed every 40 min, a {ttl} s one every {every:.0f} s)")
    md.append(f"- **PATs of the principal at any sample: {pats_seen}**")
    md.append(f"- /oidc/v1/token calls: {c['oidc_token']} in the window ({count_ratio:.2f}x the "
              f"minimum by count); rate **{ratio:.2f}x the minimum** = {fig['per_sim_hour']:.2f} "
              f"per daemon per simulated hour (minimum {real_min:.1f}); per daemon "
              f"({len(per_ratio)} measured) min/median/max {per_h[0]:.2f}/"
              f"{statistics.median(per_h):.2f}/{per_h[-1]:.2f}; discovery calls in the window "
              f"{c['oidc_discovery']}; Entra calls {c['aad']}")
    md.append(f"- most /oidc/v1/token calls in one second: {burst} (mean {n / every:.2f}/s)")
    md.append(f"- answers: {json.dumps(by)}; tokens with less than min_valid: {short}; "
              f"socket p50 {fig['p50_ms']:.1f} ms, p99 {fig['p99_ms']:.1f} ms")
    md.append("- " + rss_text)
    check("OAuth: zero PATs", pats_seen == 0, f"{pats_seen}")
    check("OAuth: every token served had min_valid left", short == 0, f"{short} short")
    check("OAuth: every answer a 200 with an OAuth token",
          set(by) == {"200"} and kinds <= {"oauth"}, json.dumps(by))
    # Each daemon: at most one call per refresh interval plus one at either end of the window
    # (a per-request or per-client fetch, the SDKs' failure mode, is hundreds).
    most = max(per.values())
    allowed = math.floor(w / every) + 2
    check("OAuth: no daemon above one call per refresh interval (+1 at each end)",
          most <= allowed, f"{most} <= {allowed}")
    if not smoke:
        check("OAuth: fleet within 10% of the minimum (rate)", ratio <= 1.10, f"{ratio:.2f}x")
        check("OAuth: every daemon measured (>= 2 calls)", len(per_ratio) == n,
              f"{len(per_ratio)}")
    check("OAuth: daemons exited 0", all(v == 0 for v in r["stop_rc"].values()), "")


for mode, fn in (("pat", pat_mode), ("oauth", oauth_mode)):
    r = load(mode)
    if r:
        fn(r)
md.append("")
md.append("| check | figure | met |")
md.append("|---|---|:-:|")
for c in checks:
    md.append(f"| {c['check']} | {c['figure']} | {'yes' if c['ok'] else '**NO**'} |")
summary["checks"] = checks
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
sys.exit(0 if checks and all(c["ok"] for c in checks) else 1)
