"""Turns the JSON lines of scripts/bench.sh into summary.json, summary.md (the table of
docs/BENCHMARKS.md, with each target met or missed) and latency.dat (for tests/bench/latency.gp).
Usage: report.py RESULTS.jsonl OUT_DIR"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
out = sys.argv[2]


def kind(k):
    return [r for r in rows if r["kind"] == k]


def med(values):
    return statistics.median(values) if values else float("nan")


summary = {"http": {}, "targets": []}
md = []

# 1. throughput and latency: medians over rounds, per server and connection count.
http = kind("http")
conns = sorted({r["connections"] for r in http})
md.append("| connections | dbxcredd rps | nginx rps | rps ratio | dbxcredd p50 µs | nginx p50 µs "
          "| p50 ratio | dbxcredd p99 µs | nginx p99 µs | p99 ratio |")
md.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
dat = ["# connections dbxcredd_p50 dbxcredd_p99 nginx_p50 nginx_p99 dbxcredd_rps nginx_rps"]
for c in conns:
    m = {}
    for server in ("dbxcredd", "nginx"):
        rs = [r for r in http if r["server"] == server and r["connections"] == c]
        m[server] = {k: med([r[k] for r in rs]) for k in ("rps", "p50_us", "p99_us")}
        m[server]["errors"] = sum(r["errors"] for r in rs)
        m[server]["rounds"] = len(rs)
    d, n = m["dbxcredd"], m["nginx"]
    ratio = {k: d[k] / n[k] for k in ("rps", "p50_us", "p99_us")}
    summary["http"][c] = {"dbxcredd": d, "nginx": n, "ratio": ratio}
    md.append(f"| {c} | {d['rps']:,.0f} | {n['rps']:,.0f} | **{ratio['rps']:.2f}×** "
              f"| {d['p50_us']:.1f} | {n['p50_us']:.1f} | **{ratio['p50_us']:.2f}×** "
              f"| {d['p99_us']:.1f} | {n['p99_us']:.1f} | **{ratio['p99_us']:.2f}×** |")
    dat.append(f"{c} {d['p50_us']} {d['p99_us']} {n['p50_us']} {n['p99_us']} {d['rps']} {n['rps']}")
    if c in (8, 64):
        summary["targets"].append((f"throughput ≥ 1.0× nginx at {c} connections",
                                   f"{ratio['rps']:.2f}×", ratio["rps"] >= 1.0))
    if c == 1:
        summary["targets"].append(("p50 at 1 connection ≤ 1.1× nginx", f"{ratio['p50_us']:.2f}×",
                                   ratio["p50_us"] <= 1.1))
    if c == 64:
        summary["targets"].append(("p99 at 64 connections ≤ nginx", f"{ratio['p99_us']:.2f}×",
                                   ratio["p99_us"] <= 1.0))
with open(f"{out}/latency.dat", "w") as f:
    f.write("\n".join(dat) + "\n")

# 2. CLI vs curl.
ex = kind("exec")
cli = med([r["median_ms"] for r in ex if r["tool"] == "dbxcred"])
curl = med([r["median_ms"] for r in ex if r["tool"] == "curl"])
summary["exec"] = {"dbxcred_ms": cli, "curl_ms": curl, "ratio": cli / curl}
summary["targets"].append(("`dbxcred pat` wall time ≤ 0.5× curl",
                           f"{cli:.2f} ms vs {curl:.2f} ms = {cli / curl:.2f}×", cli / curl <= 0.5))

# 3. RSS and idle CPU.
rss = {r["when"]: r for r in kind("rss")}
mib = {k: v["kib"] / 1024 for k, v in rss.items()}
summary["rss_mib"] = mib
summary["targets"].append(("RSS ≤ 8 MiB idle with one workspace", f"{mib['startup']:.1f} MiB",
                           mib["startup"] <= 8))
held = rss["idle_connections"]
summary["targets"].append((f"RSS ≤ 48 MiB with 10,000 idle connections",
                           f"{mib['idle_connections']:.1f} MiB with {held['held']:,} of "
                           f"{held['opened']:,} connections held open",
                           mib["idle_connections"] <= 48 and held["held"] >= 10000))
summary["targets"].append(("RSS after simulated rotations (no growth)",
                           f"{mib['rotations_start']:.1f} → {mib['rotations_end']:.1f} MiB",
                           mib["rotations_end"] <= max(8.0, mib["rotations_start"] * 1.1)))
idle = kind("idle_cpu")[0]
cpu_ms_per_min = idle["cpu_ns"] / 1e6 * 60 / idle["seconds"]
summary["idle_cpu_ms_per_min"] = cpu_ms_per_min
summary["targets"].append(("idle CPU < 10 ms per minute",
                           f"{cpu_ms_per_min:.3f} ms/min over {idle['seconds']} s",
                           cpu_ms_per_min < 10))

# 4. socket ready.
ready = med([r["ready_ms"] for r in kind("ready")])
first = med([r.get("first_answer_ms", float("nan")) for r in kind("ready")])
summary["ready_ms"], summary["first_answer_ms"] = ready, first
summary["targets"].append(("socket ready ≤ 50 ms after exec",
                           f"{ready:.1f} ms (median; first answer {first:.1f} ms)", ready <= 50))

# 5. upstream economy. Minimum: a PAT per (lifetime - rotate_before); an AAD token per TTL/2 (the
# refresh rule min(TTL/2, 20 min) for tokens under 40 min; the strict floor, one per TTL, too).
eco = kind("economy")[0]
secs, cnt = eco["seconds"], eco["counters"]
pat_min = secs / eco["pat_every"]
aad_min = secs / (eco["aad_ttl"] / 2)
aad_floor = secs / eco["aad_ttl"]
summary["economy"] = {"seconds": secs, "counters": cnt, "pat_min": pat_min, "aad_min": aad_min,
                      "aad_floor": aad_floor}


# Counts over a window of a few minutes are off by up to one call at either end (a call just
# inside or just outside it: ±20 % with five calls). The rate is exact: the minimum interval over
# the mean interval between the window's calls (1.00× = one call per minimum interval).
def rate(times, minimum_interval_s):
    if len(times) < 3:
        return None
    mean_s = (times[-1] - times[0]) / 1000 / (len(times) - 1)
    return minimum_interval_s / mean_s, mean_s


def economy_target(label, count, minimum, times, minimum_interval_s, extra=""):
    by_count = count / minimum if minimum else 0.0
    r = rate(times, minimum_interval_s)
    if r is None:
        return (label, f"{count} vs {minimum:.1f} = {by_count:.2f}×{extra}", by_count <= 1.1)
    return (label, f"{r[0]:.2f}× (one call per {r[1]:.1f} s, minimum {minimum_interval_s:.0f} s; "
                   f"count {count} vs {minimum:.1f}){extra}", r[0] <= 1.1)


summary["targets"].append(economy_target("PAT mints within 10% of the minimum",
                                         cnt["token_create"], pat_min,
                                         cnt.get("token_create_times", []), eco["pat_every"]))
summary["targets"].append(economy_target("AAD calls within 10% of the minimum (refresh at TTL/2)",
                                         cnt["aad"], aad_min, cnt.get("aad_times", []),
                                         eco["aad_ttl"] / 2,
                                         f"; strict floor one per TTL: {aad_floor:.1f}"))

machine = kind("machine")[0]
size = kind("size")[0]
summary["machine"], summary["size"] = machine, size

md.append("")
md.append("| target | measured | met |")
md.append("|---|---|:-:|")
for name, value, ok in summary["targets"]:
    md.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
md.append("")
md.append(f"- CLI: `dbxcred pat` {cli:.2f} ms, `curl --unix-socket` {curl:.2f} ms (medians).")
md.append(f"- RSS: start-up {mib['startup']:.1f} MiB; {held['held']:,} idle connections "
          f"{mib['idle_connections']:.1f} MiB; after the load {mib['after_load']:.1f} MiB; "
          f"rotation daemon {mib['rotations_start']:.1f} → {mib['rotations_end']:.1f} MiB over "
          f"{rss['rotations_end']['seconds']} s.")
per_day = 86400 / secs
md.append(f"- Upstream over {secs:.0f} s: AAD {cnt['aad']}, token/create {cnt['token_create']}, "
          f"token/list {cnt['token_list']}, token/delete {cnt['token_delete']}; minimum "
          f"AAD {aad_min:.1f} (floor {aad_floor:.1f}), PATs {pat_min:.1f}.")
md.append(f"- Binaries: dbxcredd {size['dbxcredd'] / 1024:.0f} KiB, dbxcred "
          f"{size['dbxcred'] / 1024:.0f} KiB.")
md.append(f"- Machine: {machine['nproc']} × {machine['cpu']}, kernel {machine['kernel']}, "
          f"{machine['nginx']}, {machine['curl']}, load average at the end {machine['load']}.")
_ = per_day

with open(f"{out}/summary.md", "w") as f:
    f.write("\n".join(md) + "\n")
with open(f"{out}/summary.json", "w") as f:
    json.dump(summary, f, indent=1, default=str)
