"""Fleet benchmark driver (docs/BENCHMARKS.md "Fleet"): N dbxcredd on this machine, one emulator,
one workspace, one service principal, lifetimes scaled down, clients asking every daemon.

  PAT mode:   Entra client secret, PATs on; samples the principal's live PATs at the emulator.
  OAuth mode: databricks_oauth (M2M), PATs off; counts /oidc/v1/token calls per daemon.

Writes OUT/MODE.json (raw figures: samples, answers, counters, per-daemon metrics); the report and
the checks are tests/bench/fleet_report.py. Python 3 stdlib only; never prints a token or secret.
Usage: fleet.py --bin BUILD_DIR --out DIR --mode pat|oauth [--daemons N] [--seconds S] ...
"""
import argparse
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from emulator import Emulator  # noqa: E402
from harness import unix_get  # noqa: E402

SP = "fleet-sp"  # the Entra service principal (PAT mode)
OAUTH_SP = "6f1e2a9c-0000-4000-8000-00000000f1ee"  # its Databricks OAuth application id
WS = "fleet"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=("pat", "oauth"), required=True)
    p.add_argument("--daemons", type=int, default=50)
    p.add_argument("--seconds", type=float, default=360, help="measured window after warm-up")
    p.add_argument("--interval", type=float, default=3.0, help="mean seconds between requests")
    p.add_argument("--cli-share", type=float, default=0.1, help="share of requests via the CLI")
    # PAT policy (scaled: the default 1h/20m is 20x these) and the principal's quota.
    p.add_argument("--pat-lifetime", type=int, default=180)
    p.add_argument("--rotate-before", type=int, default=60)
    p.add_argument("--max-lifetime", type=int, default=300)
    p.add_argument("--max-active", type=int, default=4)
    p.add_argument("--others", type=int, default=20, help="foreign PATs of the principal")
    p.add_argument("--quota", type=int, default=0, help="0: N x max_active + others")
    # Token lifetimes at the emulator: Entra (PAT mode) and Databricks OAuth (OAuth mode).
    p.add_argument("--aad-lifetime", type=int, default=150)
    p.add_argument("--oauth-lifetime", type=int, default=150)
    # min_valid mix: "value:weight,…" (0 = the client does not ask).
    p.add_argument("--pat-mix", default="40:35,60:35,90:20,150:10")
    p.add_argument("--oauth-mix", default="40:40,60:40,0:20")
    return p.parse_args()


def mix(spec):
    pairs = [tuple(int(x) for x in item.split(":")) for item in spec.split(",")]
    return [v for v, _ in pairs], [w for _, w in pairs]


class Fleet:
    def __init__(self, args, emu, work):
        self.a, self.emu, self.work = args, emu, work
        self.daemons = []  # dicts: name, dir, socket, proc
        self.secret_file = os.path.join(work, "sp.secret")

    def credential(self):
        if self.a.mode == "pat":
            return {"type": "client_secret", "tenant_id": "fleet-tenant", "client_id": SP,
                    "client_secret_file": self.secret_file}
        return {"type": "databricks_oauth", "client_id": OAUTH_SP,
                "client_secret_file": self.secret_file}

    def pat_policy(self):
        if self.a.mode == "oauth":
            return False
        return {"lifetime": "%ds" % self.a.pat_lifetime,
                "rotate_before": "%ds" % self.a.rotate_before,
                "max_lifetime": "%ds" % self.a.max_lifetime, "max_active": self.a.max_active}

    def start(self, i):
        name = "fleet-%02d" % i
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        cfg = {
            "socket": {"path": os.path.join(d, "run", "dbxcred.sock"), "mode": "0660"},
            "state_dir": os.path.join(d, "state"),
            "instance": name,
            "log": {"level": "warn"},
            "endpoints": {"authority": self.emu.url},
            "tls": {"ca_file": self.emu.ca_file},
            "credentials": {"fleet": self.credential()},
            "workspaces": {WS: {"credential": "fleet", "host": self.emu.url,
                                "pat": self.pat_policy()}},
        }
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        os.chmod(path, 0o600)
        err = open(os.path.join(d, "dbxcredd.log"), "wb")
        proc = subprocess.Popen([os.path.join(self.a.bin, "daemon", "dbxcredd"), "--config", path],
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        self.daemons.append({"name": name, "dir": d, "socket": cfg["socket"]["path"],
                             "proc": proc})

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        for d in self.daemons:
            while True:
                if d["proc"].poll() is not None:
                    raise SystemExit("%s exited with %s" % (d["name"], d["proc"].returncode))
                try:
                    if unix_get(d["socket"], "/healthz", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline:
                    raise SystemExit("%s did not become ready" % d["name"])
                time.sleep(0.05)

    def stop(self):
        rcs = {}
        for d in self.daemons:
            if d["proc"].poll() is None:
                d["proc"].terminate()
        for d in self.daemons:
            try:
                rcs[d["name"]] = d["proc"].wait(timeout=20)
            except subprocess.TimeoutExpired:
                d["proc"].kill()
                rcs[d["name"]] = "killed"
        return rcs


def metrics(sock):
    """The daemon's counters that matter here, from /metrics."""
    status, text = unix_get(sock, "/metrics", timeout=10)
    out = {"token_fetches": 0, "oidc_calls": 0, "pat_mints": 0, "pat_quota_errors": 0,
           "pat_rate_limited": 0, "pat_active": 0, "pat_deletions": 0}
    if status != 200:
        return out
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{[^}]*\})? (\S+)$", line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        key = {"dbxcred_token_fetches_total": "token_fetches",
               "dbxcred_pat_mints_total": "pat_mints",
               "dbxcred_pat_quota_errors_total": "pat_quota_errors",
               "dbxcred_pat_rate_limited_total": "pat_rate_limited",
               "dbxcred_pat_active": "pat_active",
               "dbxcred_pat_deletions_total": "pat_deletions"}.get(name)
        if name == "dbxcred_upstream_calls_total" and 'upstream="databricks_oidc"' in labels:
            key = "oidc_calls"
        if key:
            out[key] += int(value)
    return out


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Clients:
    """One thread per daemon: requests at exponential intervals with a min_valid mix; records each
    answer (time, min_valid, status, error code, seconds left on the token served)."""

    def __init__(self, args, fleet, stop):
        self.a, self.fleet, self.stop = args, fleet, stop
        self.values, self.weights = mix(args.pat_mix if args.mode == "pat" else args.oauth_mix)
        self.kind = "pat" if args.mode == "pat" else "token"
        self.answers = []
        self.lock = threading.Lock()
        self.cli = os.path.join(args.bin, "client", "dbxcred")

    def ask(self, d, rng):
        mv = rng.choices(self.values, self.weights)[0]
        t = time.time()
        via_cli = rng.random() < self.a.cli_share
        rec = {"t": t, "daemon": d["name"], "min_valid": mv, "cli": via_cli}
        if via_cli:
            argv = [self.cli, "--socket", d["socket"], "-w", WS, self.kind]
            if mv:
                argv += ["--min-valid", "%ds" % mv]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            rec["status"] = 200 if r.returncode == 0 else r.returncode
            rec["code"] = None if r.returncode == 0 else (r.stderr.strip().split(":")[0])[:60]
        else:
            path = "/v1/workspaces/%s/%s" % (WS, self.kind) + ("?min_valid=%d" % mv if mv else "")
            status, body = unix_get(d["socket"], path, timeout=60)
            rec["status"] = status
            if status == 200:
                rec["left"] = body["expires_at"] - t
                if self.kind == "token":
                    rec["token_kind"] = body["kind"]
            else:
                rec["code"] = body.get("error", {}).get("code") if isinstance(body, dict) else None
        rec["latency"] = time.time() - t
        with self.lock:
            self.answers.append(rec)

    def run(self, d, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            try:
                self.ask(d, rng)
            except Exception as e:  # a failed request is a figure, not a crash of the driver
                with self.lock:
                    self.answers.append({"t": time.time(), "daemon": d["name"], "status": 0,
                                         "code": type(e).__name__})
            self.stop.wait(rng.expovariate(1.0 / self.a.interval))


def sample(emu, fleet, stop, samples, rss, minted, period=1.0):
    """Every `period` s: the principal's live PATs at the emulator (ours per agent, foreign; each
    PAT's creation time by agent into `minted`); every 10 s the RSS of every daemon."""
    last_rss = 0.0
    while not stop.is_set():
        t = time.time()
        try:
            pats = emu.pats()
        except Exception:
            pats = None
        if pats is not None:
            per_agent = {}
            foreign = 0
            for p in pats:
                c = p.get("comment", "")
                if c.startswith("dbxcred:"):
                    agent = c.split(":")[1]
                    per_agent[agent] = per_agent.get(agent, 0) + 1
                    minted[p["token_id"]] = (agent, p["creation_time"] / 1000.0)
                else:
                    foreign += 1
            samples.append({"t": t, "ours": sum(per_agent.values()), "foreign": foreign,
                            "max_agent": max(per_agent.values(), default=0),
                            "agents": len(per_agent)})
        if t - last_rss >= 10:
            last_rss = t
            kib = [rss_kib(d["proc"].pid) for d in fleet.daemons]
            rss.append({"t": t, "sum_kib": sum(kib), "max_kib": max(kib, default=0),
                        "n": len([k for k in kib if k])})
        stop.wait(max(0.0, period - (time.time() - t)))


def poll_fetches(fleet, stop, fetched, period=5.0):
    """Every `period` s, each daemon's cached token expiry from /v1/status: a new expiry is one
    upstream call, made at expiry - lifetime (the per-daemon call times; the emulator cannot tell
    the daemons apart)."""
    while not stop.is_set():
        t = time.time()
        for d in fleet.daemons:
            try:
                status, body = unix_get(d["socket"], "/v1/status", timeout=10)
            except OSError:
                continue
            if status != 200:
                continue
            for c in body.get("credentials", []):
                for tok in c.get("tokens", []):
                    if tok.get("expires_at"):
                        fetched.setdefault(d["name"], set()).add(tok["expires_at"])
        stop.wait(max(0.0, period - (time.time() - t)))


def main():
    a = parse_args()
    a.bin = os.path.abspath(a.bin)
    os.environ["DBXCRED_BIN_DIR"] = a.bin  # where emulator.py finds the emulator
    work = os.path.join(a.out, "work-" + a.mode)
    os.makedirs(os.path.join(work, "emulator"), exist_ok=True)
    quota = a.quota or a.daemons * a.max_active + a.others
    result = {"mode": a.mode, "daemons": a.daemons, "seconds": a.seconds, "interval": a.interval,
              "pat": {"lifetime": a.pat_lifetime, "rotate_before": a.rotate_before,
                      "max_lifetime": a.max_lifetime, "max_active": a.max_active},
              "others": a.others if a.mode == "pat" else 0, "quota": quota,
              "aad_lifetime": a.aad_lifetime, "oauth_lifetime": a.oauth_lifetime,
              "mix": a.pat_mix if a.mode == "pat" else a.oauth_mix}
    with Emulator(state_dir=os.path.join(work, "emulator")) as emu:
        sec = "fleet-" + secrets.token_hex(16)
        with open(os.open(os.path.join(work, "sp.secret"), os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(sec + "\n")
        emu.settings(aad_token_lifetime=a.aad_lifetime, pat_quota=quota)
        if a.mode == "pat":
            emu.add_principal(SP, client_secret=sec, workspace_user=True)
            if a.others:
                emu.add_foreign_pats(SP, count=a.others)
        else:
            emu.add_oauth_client(OAUTH_SP, sec)
            emu.oidc_settings(m2m_lifetime=a.oauth_lifetime)
        fleet = Fleet(a, emu, work)
        stop_sampling, stop_clients = threading.Event(), threading.Event()
        samples, rss, minted, fetched = [], [], {}, {}
        sampler = threading.Thread(target=sample,
                                   args=(emu, fleet, stop_sampling, samples, rss, minted))
        poller = threading.Thread(target=poll_fetches, args=(fleet, stop_sampling, fetched))
        started = time.time()
        sampler.start()
        for i in range(a.daemons):
            fleet.start(i)
        fleet.wait_ready()
        result["start_seconds"] = time.time() - started
        poller.start()
        clients = Clients(a, fleet, stop_clients)
        threads = [threading.Thread(target=clients.run, args=(d, i))
                   for i, d in enumerate(fleet.daemons)]
        for t in threads:
            t.start()
        # Warm-up: until every daemon has served its first token; then the measured window.
        deadline = time.time() + 60
        while time.time() < deadline:
            with clients.lock:
                served = {r["daemon"] for r in clients.answers if r["status"] == 200}
            if len(served) == a.daemons:
                break
            time.sleep(0.2)
        result["warmup_seconds"] = time.time() - started
        base = {d["name"]: metrics(d["socket"]) for d in fleet.daemons}
        emu.reset_counters()
        w0 = time.time()
        stop_clients.wait(a.seconds)
        w1 = time.time()
        counters = emu.counters()
        end = {d["name"]: metrics(d["socket"]) for d in fleet.daemons}
        stop_clients.set()
        for t in threads:
            t.join(timeout=90)
        stop_sampling.set()
        sampler.join()
        poller.join()
        final_pats = emu.pats()
        result["stop_rc"] = fleet.stop()
        logs = {}
        for d in fleet.daemons:
            with open(os.path.join(d["dir"], "dbxcredd.log"), errors="replace") as f:
                text = f.read()
            logs[d["name"]] = len([ln for ln in text.splitlines() if " error" in ln.lower()])
            if sec in text:
                raise SystemExit("the secret appeared in %s's log" % d["name"])
    with open(os.path.join(work, "emulator", "emulator.log"), errors="replace") as f:
        create_400 = sum(1 for ln in f if "/api/2.0/token/create 400" in ln)
    result.update({
        "t0": started, "window": [w0, w1], "samples": samples, "rss": rss,
        "answers": clients.answers, "counters": counters, "create_400": create_400,
        "mint_times": sorted(minted.values(), key=lambda x: x[1]),
        "expiries": {n: sorted(v) for n, v in fetched.items()},
        "metrics_start": base, "metrics_end": end, "error_log_lines": logs,
        "final_ours": sum(1 for p in final_pats if p.get("comment", "").startswith("dbxcred:")),
    })
    path = os.path.join(a.out, a.mode + ".json")
    with open(path, "w") as f:
        json.dump(result, f)
    print("fleet %s: %d daemons, %.0f s window, results in %s" % (a.mode, a.daemons, w1 - w0,
                                                                 path), file=sys.stderr)


if __name__ == "__main__":
    main()
