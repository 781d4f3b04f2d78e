#!/usr/bin/env python3
"""What the job's own relay (`dbxcred exec --sdk`) adds to an SDK token fetch, against the daemon's
own metadata-service endpoint (docs/BENCHMARKS.md "The exec relay"). Issue 22's target: at most
1 ms more at the median.

Starts the emulator and a daemon with `listen.metadata_service`, then runs, under
`dbxcred exec --sdk`, a CMD that fetches the token N times from the relay (its
DATABRICKS_METADATA_SERVICE_URL) and N times from the daemon's endpoint (`dbxcred env --sdk`), in
alternating blocks so that drift on a shared machine hits both alike. Each side once over one
keep-alive connection (what the SDKs' HTTP clients do) and once with a new connection per fetch.
Prints p50/p90/p99 in microseconds, never a token. Exit 1 when the relay's p50 is more than 1 ms
above the direct one (keep-alive).

Usage: python3 tests/bench/relay_latency.py [--n 2000] [--bin BUILD_DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

TARGET_US = 1000  # issue 22: the relay adds at most 1 ms p50

MEASURE = textwrap.dedent(r"""
    import http.client, json, os, sys, time, urllib.parse
    direct_url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    relay_url = os.environ["DATABRICKS_METADATA_SERVICE_URL"]
    headers = {"X-Databricks-Metadata-Version": "1",
               "X-Databricks-Host": os.environ["DATABRICKS_HOST"]}
    class Side:
        def __init__(self, url):
            u = urllib.parse.urlsplit(url)
            self.host, self.port, self.path = u.hostname, u.port, u.path
            self.conn = None
            self.keep, self.fresh = [], []
        def fetch(self, reuse):
            t0 = time.perf_counter_ns()
            if not reuse or self.conn is None:
                if self.conn is not None:
                    self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request("GET", self.path, headers=headers)
            r = self.conn.getresponse()
            body = r.read()
            dt = (time.perf_counter_ns() - t0) / 1000.0
            if r.status != 200 or b"access_token" not in body:
                raise SystemExit("fetch failed: %d" % r.status)
            if not reuse:
                self.conn.close()
                self.conn = None
            (self.keep if reuse else self.fresh).append(dt)
    relay, direct = Side(relay_url), Side(direct_url)
    for side in (relay, direct):  # warm-up: connections, the daemon's caches
        for _ in range(20):
            side.fetch(True)
        side.keep.clear()
    block = 50
    for start in range(0, n, block):
        for reuse in (True, False):
            for side in ((relay, direct) if (start // block) % 2 == 0 else (direct, relay)):
                for _ in range(min(block, n - start)):
                    side.fetch(reuse)
    with open(out, "w") as f:
        json.dump({"relay": {"keep": relay.keep, "fresh": relay.fresh},
                   "direct": {"keep": direct.keep, "fresh": direct.fresh}}, f)
""")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="fetches per side and connection mode")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build"))
    args = ap.parse_args()
    os.environ["DBXCRED_BIN_DIR"] = os.path.abspath(args.bin)
    import harness  # noqa: E402 (reads DBXCRED_BIN_DIR)
    from emulator import Emulator  # noqa: E402
    from test_sdk import free_port  # noqa: E402

    with tempfile.TemporaryDirectory(prefix="dbxcred-relay-bench-") as tmp, Emulator() as emu:
        secret = "sec-bench-relay"
        emu.add_principal(client_id="sp-client", client_secret=secret)
        emu.add_principal("sp-client", workspace_user=True)
        path = os.path.join(tmp, "sp.secret")
        with open(path, "w") as f:
            f.write(secret + "\n")
        os.chmod(path, 0o600)
        port = free_port()
        d = harness.Daemon(emu, os.path.join(tmp, "d"),
                           {"sp": {"type": "client_secret", "tenant_id": "tenant-1",
                                   "client_id": "sp-client", "client_secret_file": path}},
                           {"prod": {"credential": "sp", "host": "https://" + emu.host}},
                           # The relay's requests are socket requests of the caller, under the
                           # per-uid rate limit; this loop asks far more often than an SDK does.
                           {"listen": {"metadata_service": {"port": port}},
                            "limits": {"requests_per_second_per_uid": 0},
                            "log": {"level": "warn"}})
        os.makedirs(d.tmp, exist_ok=True)
        d.start()
        try:
            env = d.cli("env", "--sdk", "--shell", "json")
            if env.returncode != 0:
                raise SystemExit(env.stderr)
            direct_url = json.loads(env.stdout)["DATABRICKS_METADATA_SERVICE_URL"]
            script = os.path.join(tmp, "measure.py")
            out = os.path.join(tmp, "out.json")
            with open(script, "w") as f:
                f.write(MEASURE)
            r = d.cli("exec", "--sdk", "--", sys.executable, script, direct_url, str(args.n), out,
                      timeout=3600)
            if r.returncode != 0:
                raise SystemExit("measurement failed: " + r.stderr[-2000:])
            with open(out) as f:
                res = json.load(f)
        finally:
            d.stop()

    print("token fetch latency, %d fetches per row (microseconds)" % args.n)
    print("%-28s %8s %8s %8s" % ("", "p50", "p90", "p99"))
    p50 = {}
    for mode, label in (("keep", "keep-alive"), ("fresh", "new connection")):
        for side in ("direct", "relay"):
            v = res[side][mode]
            p50[(side, mode)] = pct(v, 50)
            print("%-28s %8.0f %8.0f %8.0f" % ("%s, %s" % (side, label), pct(v, 50), pct(v, 90),
                                               pct(v, 99)))
    added = {m: p50[("relay", m)] - p50[("direct", m)] for m in ("keep", "fresh")}
    print("relay adds at p50: %.0f us keep-alive, %.0f us with a new connection (target <= %d us)"
          % (added["keep"], added["fresh"], TARGET_US))
    return 0 if added["keep"] <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
