"""Issue 22 part 2: `dbxcred exec --sdk|--azure -- CMD` runs a relay of its own on 127.0.0.1 (in the
caller's network namespace) for as long as CMD runs, with a fresh secret per exec, answering the
metadata-service and App Service managed-identity protocols through the daemon's socket. The daemon
here has NO `listen` section: no loopback port of its own.

Protocol edges are driven by a Python CMD; the real Databricks JS SDK and @azure/identity (from
tests/e2e/node_modules, `npm ci` as in test_sdk.py) list clusters / get tokens through the relay,
across a PAT rotation.

Run: cd tests/e2e && DBXCRED_BIN_DIR=<build dir> python3 -m unittest -v test_exec_relay
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import unittest
import urllib.parse

from emulator import DATABRICKS_RESOURCE
from harness import DBXCRED, E2ETestCase, poll_until, ensure_npm_clients
from test_databricks_cli import as_nobody, tcp_listeners_of

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node_modules")


def setUpModule():
    ensure_npm_clients()


def get(url, headers=None, timeout=10):
    """GET url (http://127.0.0.1:PORT/...); (status, JSON or text)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers or {})
        res = conn.getresponse()
        body = res.read().decode()
        try:
            return res.status, json.loads(body)
        except ValueError:
            return res.status, body
    finally:
        conn.close()


# The CMD of the protocol tests: probes the relay it was given, writes what it saw (statuses, the
# URL, never a token) to OUT, and exits with EXIT.
PROBE = textwrap.dedent(r"""
    import http.client, json, os, sys, urllib.parse
    out, code, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    def get(url, headers):
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers)
        r = c.getresponse()
        body = r.read().decode()
        try:
            body = json.loads(body)
        except ValueError:
            pass
        return r.status, body
    seen = {"pid": os.getpid(), "env": sorted(k for k in os.environ
                                            if k.startswith(("DATABRICKS_", "IDENTITY_")))}
    if mode == "sdk":
        url, host = os.environ["DATABRICKS_METADATA_SERVICE_URL"], os.environ["DATABRICKS_HOST"]
        seen["url"], seen["host"] = url, host
        seen["auth_type"] = os.environ["DATABRICKS_AUTH_TYPE"]
        ok = {"x-databricks-metadata-version": "1", "x-databricks-host": host}
        s, b = get(url, ok)
        seen["ok"] = [s, sorted(b) if isinstance(b, dict) else b,
                      type(b.get("expires_on")).__name__ if isinstance(b, dict) else None,
                      b.get("expires_on") if isinstance(b, dict) else None]
        seen["token"] = b.get("access_token") if isinstance(b, dict) else None
        u = urllib.parse.urlsplit(url)
        secret = u.path.split("/")[1]
        wrong = secret[:-1] + ("0" if secret[-1] != "0" else "1")
        seen["wrong_secret"] = get(url.replace(secret, wrong), ok)[0]
        seen["no_version"] = get(url, {"x-databricks-host": host})[0]
        seen["other_host"] = get(url, {"x-databricks-metadata-version": "1",
                                       "x-databricks-host": "https://evil.example.com"})[0]
    else:
        url, secret = os.environ["IDENTITY_ENDPOINT"], os.environ["IDENTITY_HEADER"]
        seen["url"] = url
        q = "?resource=%s&api-version=2019-08-01" % urllib.parse.quote(sys.argv[4], safe="")
        s, b = get(url + q, {"X-IDENTITY-HEADER": secret})
        seen["ok"] = [s, sorted(b) if isinstance(b, dict) else b,
                      type(b.get("expires_on")).__name__ if isinstance(b, dict) else None]
        seen["token"] = b.get("access_token") if isinstance(b, dict) else None
        seen["wrong_header"] = get(url + q, {"X-IDENTITY-HEADER": secret[:-1] + "x"})[0]
        seen["no_header"] = get(url + q, {})[0]
        other = "?resource=https%3A%2F%2Fvault.azure.net&api-version=2019-08-01"
        seen["other_resource"] = get(url + other, {"X-IDENTITY-HEADER": secret})[0]
    with open(out, "w") as f:
        json.dump(seen, f)
    sys.exit(code)
""")


class RelayTestCase(E2ETestCase):
    def sp(self):
        cred = self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=True)
        return cred

    def probe(self, d, mode, *flags, code=0, resource=DATABRICKS_RESOURCE, env=None):
        out = os.path.join(self.tmp, "probe-%s.json" % mode)
        script = os.path.join(self.tmp, "probe.py")
        with open(script, "w") as f:
            f.write(PROBE)
        r = d.cli("exec", "--" + mode, *flags, "--", sys.executable, script, out, str(code), mode,
                  resource, env=env)
        seen = None
        if os.path.exists(out):
            with open(out) as f:
                seen = json.load(f)
            if seen.get("token"):
                self.secrets.append(seen["token"])
        return r, seen


class ExecRelayProtocolTest(RelayTestCase):
    def test_sdk_relay_serves_the_token_and_dies_with_cmd(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        self.assertEqual(tcp_listeners_of(d.proc.pid), 0, "the daemon has no loopback port")
        r, seen = self.probe(d, "sdk", "-w", "prod", code=7)
        self.assertEqual(r.returncode, 7, "CMD's exit status is dbxcred's: %s" % r.stderr)
        self.assertIsNotNone(seen, r.stderr)
        self.assertEqual(seen["env"], ["DATABRICKS_AUTH_TYPE", "DATABRICKS_HOST",
                                       "DATABRICKS_METADATA_SERVICE_URL"])
        self.assertEqual(seen["auth_type"], "metadata-service")
        self.assertEqual(seen["host"], "https://" + self.emu.host)
        u = urllib.parse.urlsplit(seen["url"])
        self.assertEqual(u.hostname, "127.0.0.1")  # what the SDKs accept
        secret, ws = u.path.split("/")[1:]
        self.assertEqual((len(secret), ws), (64, "prod"))
        self.secrets.append(secret)
        self.assertEqual(seen["ok"][:3], [200, ["access_token", "expires_on", "token_type"], "int"])
        self.assertGreater(seen["ok"][3], time.time() + 60)
        # The token is the workspace's (what `dbxcred token` serves: here its PAT).
        t = d.cli("token", "-w", "prod")
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertEqual(seen["token"], t.stdout.strip())
        self.assertEqual(seen["wrong_secret"], 404)
        self.assertEqual(seen["no_version"], 400)
        self.assertEqual(seen["other_host"], 404)
        # CMD has exited: the URL refuses.
        with self.assertRaises(ConnectionRefusedError):
            get(seen["url"], {"x-databricks-metadata-version": "1",
                              "x-databricks-host": seen["host"]})
        # A second exec gets another secret (and port).
        r2, seen2 = self.probe(d, "sdk", "-w", "prod")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertNotEqual(urllib.parse.urlsplit(seen2["url"]).path.split("/")[1], secret)
        self.secrets.append(urllib.parse.urlsplit(seen2["url"]).path.split("/")[1])
        self.assert_no_secret(r.stdout, r.stderr, r2.stdout, r2.stderr, d.log())
        # Every token the relay handed out is an audit record of the caller's own uid.
        audit = d.cli("audit", "--json")
        self.assertEqual(audit.returncode, 0, audit.stderr)
        served = [json.loads(line) for line in audit.stdout.splitlines()]
        served = [a for a in served if a.get("kind") == "token" and a.get("outcome") == "served"]
        self.assertGreaterEqual(len(served), 3)
        self.assertTrue(all(a["uid"] == os.getuid() for a in served))

    def test_azure_relay_speaks_app_service_and_refuses_a_wrong_header(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        r, seen = self.probe(d, "azure", code=0)  # the only workspace: no -w needed
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(seen["env"], ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"])
        u = urllib.parse.urlsplit(seen["url"])
        self.assertEqual((u.hostname, u.path), ("127.0.0.1", "/msi/token"))
        self.assertEqual(seen["ok"], [200, ["access_token", "expires_on", "resource", "token_type"],
                                      "str"])
        a = d.cli("aad")
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(seen["token"], a.stdout.strip())
        self.assertEqual(seen["wrong_header"], 401)
        self.assertEqual(seen["no_header"], 401)
        self.assertEqual(seen["other_resource"], 400)
        with self.assertRaises(ConnectionRefusedError):
            get(seen["url"] + "?resource=x&api-version=2019-08-01")

    def test_a_caller_who_may_not_use_the_workspace_gets_no_relay_and_cmd_never_runs(self):
        # `nobody` may open the socket (mode 0666) but is not in the workspace's allow.
        home = os.path.join(self.tmp, "d0")
        run = os.path.join(home, "run")
        drop = os.path.join(self.tmp, "drop")
        for p in (home, run, drop):
            os.makedirs(p)
            os.chmod(p, 0o777 if p == drop else 0o755)
        os.chmod(self.tmp, 0o755)
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace(allow={"uids": [0]})},
                              extra={"socket": {"path": os.path.join(run, "dbxcred.sock"),
                                                "mode": "0666"}})
        marker = os.path.join(drop, "ran")
        for mode in ("--sdk", "--azure"):
            r = subprocess.run([DBXCRED, "exec", mode, "-w", "prod", "--", "touch", marker],
                               capture_output=True, text=True, timeout=60, preexec_fn=as_nobody,
                               env={"PATH": "/usr/bin:/bin", "DBXCRED_SOCKET": d.socket})
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertIn("prod", r.stderr)
            self.assertFalse(os.path.exists(marker))

    def test_signals_from_other_processes_reach_cmd_and_its_status_is_returned(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        ready = os.path.join(self.tmp, "ready")
        script = ("import signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
                  "open(%r, 'w').close()\n"
                  "time.sleep(60)\n" % ready)
        e = dict(os.environ, DBXCRED_SOCKET=d.socket)
        p = subprocess.Popen([DBXCRED, "exec", "--sdk", "--", sys.executable, "-c", script], env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            poll_until(lambda: os.path.exists(ready), 20, what="CMD started")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=20), 42, p.stderr.read())
        finally:
            p.kill()
            p.communicate()
        # A CMD killed by a signal: 128 + N, as a shell reports it.
        r = d.cli("exec", "--sdk", "--", sys.executable, "-c",
                  "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        self.assertEqual(r.returncode, 128 + signal.SIGKILL, r.stderr)
        r = d.cli("exec", "--sdk", "--", "/nonexistent/cmd")
        self.assertEqual(r.returncode, 127, r.stderr)
        self.assertIn("command not found", r.stderr)


@unittest.skipIf(shutil.which("node") is None, "node/npm not installed: the real-SDK test needs "
                 "Node.js and npm (apt-get install nodejs npm)")
class ExecRelayRealSdkTest(RelayTestCase):
    def node_via_exec(self, d, mode, script, args):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABRICKS_", "DBXCRED_", "IDENTITY_", "MSI_", "AZURE_"))}
        e.update({"DBXCRED_SOCKET": d.socket, "NODE_EXTRA_CA_CERTS": self.emu.ca_file,
                  "NODE_PATH": NODE_MODULES, "HOME": self.tmp})
        return subprocess.Popen([DBXCRED, "exec", "--" + mode, "-w", "prod", "--", "node",
                                 os.path.join(HERE, "js", script), *args], env=e, cwd=HERE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc, timeout):
        out, err = proc.communicate(timeout=timeout)
        self.assert_no_secret(out, err)
        rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return proc.returncode, rounds, err

    def test_js_sdks_work_through_the_relay_across_a_pat_rotation(self):
        # As test_sdk's rotation test, with the relay instead of the daemon's listener: the relay
        # asks /token for 70 s of validity (the metadata endpoint's margin), so PATs are minted for
        # 130 s and rotated 65 s after the mint; the JS SDK refreshes 40 s before expires_on
        # (t≈90 s) and moves to the new PAT; the first PAT is revoked at t≈97 s, so the rounds after
        # it prove the relay served the new one. AAD tokens live 75 s: the Azure client refreshes.
        self.emu.settings(aad_token_lifetime=75)
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace(
            pat={"lifetime": "130s", "rotate_before": "65s"})})
        self.assertEqual(tcp_listeners_of(d.proc.pid), 0)
        started = time.time()
        duration, interval = "112", "5"
        dbx = self.node_via_exec(d, "sdk", "databricks_clusters.js", [duration, interval])
        azure = self.node_via_exec(d, "azure", "azure_token.js",
                                   [DATABRICKS_RESOURCE + "/.default", duration, interval,
                                    self.emu.url + "/api/2.0/clusters/list"])
        time.sleep(max(0.0, started + 97 - time.time()))
        pats = sorted(self.emu.pats(), key=lambda p: p["creation_time"])
        self.assertGreaterEqual(len(pats), 2, "the PAT was rotated: %r" % pats)
        self.emu.revoke_pat(pats[0]["token_id"])

        rc, rounds, err = self.finish(dbx, 150)
        self.assertEqual(rc, 0, "%s\n%s" % (rounds[-3:], err[-2000:]))
        self.assertGreaterEqual(len(rounds), 20)
        self.assertTrue(all(r["ok"] and r["clusters"] for r in rounds))
        self.assertGreaterEqual(len([r for r in rounds if r["t"] > 98]), 2)
        rc, az_rounds, err = self.finish(azure, 60)
        self.assertEqual(rc, 0, "%s\n%s" % (az_rounds[-3:], err[-2000:]))
        self.assertGreaterEqual(len(az_rounds), 20)
        self.assertTrue(all(r["ok"] and r["status"] == 200 for r in az_rounds))
        self.assertGreater(len({r["fingerprint"] for r in az_rounds}), 1, "token was refreshed")
        self.assertGreaterEqual(self.emu.counters()["clusters_list"], len(rounds) + len(az_rounds))
        self.assert_no_secret(d.log())
        print("\nrelay: JS SDK %d rounds (%d after the first PAT was revoked), PATs %d; Azure "
              "client %d rounds, %d distinct tokens"
              % (len(rounds), len([r for r in rounds if r["t"] > 98]), len(pats), len(az_rounds),
                 len({r["fingerprint"] for r in az_rounds})), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
