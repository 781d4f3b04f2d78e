"""Zero-code adoption: the loopback metadata-service and managed-identity endpoints, driven by the
real Databricks and Azure SDK clients from npm, plus their protocol edges, /metrics on its own port
and JSON logs.

The npm clients are installed into tests/e2e/node_modules by `npm ci` (package-lock.json) in
setUpModule; without npm those tests skip and say so. Nothing here prints a token or a secret.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import unittest

from emulator import DATABRICKS_RESOURCE, MANAGEMENT_RESOURCE
from harness import DBXCREDD, E2ETestCase, ensure_npm_clients

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node_modules")
NPM_PROBLEM = None  # why the npm clients are unavailable, or None


def setUpModule():
    global NPM_PROBLEM
    NPM_PROBLEM = ensure_npm_clients()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, headers=None, timeout=30):
    """Plain HTTP GET to 127.0.0.1:port; returns (status, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        body = res.read().decode()
        try:
            return res.status, json.loads(body)
        except ValueError:
            return res.status, body
    finally:
        conn.close()


# --- Prometheus text format (0.0.4) line-syntax check --------------------------------------
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?,?\})? (\S+)( -?\d+)?$" % (METRIC_NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) (.*)$" % METRIC_NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % METRIC_NAME)


def prometheus_problems(text):
    """Every line-syntax problem of a Prometheus text exposition (empty list: valid)."""
    problems = []
    types, helps, seen, done_families = {}, set(), set(), set()
    current = None
    if not text.endswith("\n"):
        problems.append("does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            if line.startswith("# HELP "):
                if not m:
                    problems.append("line %d: bad HELP: %r" % (n, line))
                elif m.group(1) in helps:
                    problems.append("line %d: second HELP for %s" % (n, m.group(1)))
                else:
                    helps.add(m.group(1))
            elif line.startswith("# TYPE "):
                if not m:
                    problems.append("line %d: bad TYPE: %r" % (n, line))
                elif m.group(1) in types:
                    problems.append("line %d: second TYPE for %s" % (n, m.group(1)))
                else:
                    types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: bad sample: %r" % (n, line))
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            float(value)
        except ValueError:
            problems.append("line %d: value %r is not a float" % (n, value))
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)] if name.endswith(suffix) else None
            if base and types.get(base) in ("histogram", "summary"):
                family = base
        if family not in types:
            problems.append("line %d: %s has no TYPE before it" % (n, name))
        if types.get(family) == "histogram" and name.endswith("_bucket") and 'le="' not in labels:
            problems.append("line %d: histogram bucket without le" % n)
        if family != current:
            if family in done_families:
                problems.append("line %d: samples of %s are not grouped" % (n, family))
            if current:
                done_families.add(current)
            current = family
        if (name, labels) in seen:
            problems.append("line %d: duplicate series %s%s" % (n, name, labels))
        seen.add((name, labels))
    return problems


class PrometheusCheckerTest(unittest.TestCase):
    """The checker itself catches what it should (so a pass means something)."""

    def test_checker(self):
        good = ('# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1",y="q\\"z"} 3\n'
                '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\n'
                'h_count 2\n')
        self.assertEqual(prometheus_problems(good), [])
        for bad in ["a 1\n", "# TYPE a counter\na{x=1} 1\n", "# TYPE a counter\na one\n",
                    "# TYPE a counter\na 1\na 1\n", "# TYPE 1a counter\n",
                    "# TYPE a counter\n# TYPE b counter\na 1\nb 1\na{x=\"1\"} 2\n",
                    "# TYPE a counter\na 1"]:
            self.assertNotEqual(prometheus_problems(bad), [], bad)


class LoopbackTestCase(E2ETestCase):
    def sp(self):
        """A service principal that is a user of the emulated workspaces (so PATs can be minted)."""
        cred = self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=True)
        return cred

    def start_with_listeners(self, workspaces=None, metrics=True, extra=None, resources=None,
                             creds=None):
        self.md_port, self.mi_port = free_port(), free_port()
        listen = {"metadata_service": {"port": self.md_port},
                  "managed_identity": {"port": self.mi_port, "credential": "sp",
                                       "resources": resources or [DATABRICKS_RESOURCE,
                                                                  MANAGEMENT_RESOURCE]}}
        if metrics:
            self.metrics_port = free_port()
            listen["metrics"] = {"port": self.metrics_port}
        cfg = {"listen": listen}
        cfg.update(extra or {})
        return self.start_daemon(creds or {"sp": self.sp()},
                                 workspaces or {"prod": self.workspace()}, extra=cfg)

    def env_of(self, d, *flags):
        r = d.cli("env", *flags, "--shell", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def md_path(self, env):
        url = env["DATABRICKS_METADATA_SERVICE_URL"]
        self.assertTrue(url.startswith("http://127.0.0.1:%d/" % self.md_port), "wrong port")
        return url[len("http://127.0.0.1:%d" % self.md_port):]


class SdkTest(LoopbackTestCase):
    # --- protocol edges over real HTTP ------------------------------------------------------
    def test_metadata_service_protocol_edges(self):
        d = self.start_with_listeners(workspaces={"prod": self.workspace(),
                                                  "aad": self.workspace(host=self.emu.localhost,
                                                                        pat=False)})
        env = self.env_of(d, "--sdk", "-w", "prod")
        self.assertEqual(env["DATABRICKS_AUTH_TYPE"], "metadata-service")
        self.assertEqual(env["DATABRICKS_HOST"], "https://" + self.emu.host)
        path = self.md_path(env)
        secret = path.split("/")[1]
        self.assertEqual(len(secret), 64)
        host = env["DATABRICKS_HOST"]

        # Lower-case names, as the JS SDK sends them; a trailing slash on the host is fine.
        status, body = http_get(self.md_port, path, {"x-databricks-metadata-version": "1",
                                                     "x-databricks-host": host + "/"})
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted(body), ["access_token", "expires_on", "token_type"])
        self.assertIsInstance(body["expires_on"], int)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertTrue(body["access_token"].startswith("dapi"))
        self.assertGreater(body["expires_on"], time.time() + 60)
        self.secrets.append(body["access_token"])

        ok = {"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": host}
        self.assertEqual(http_get(self.md_port, path, {"X-Databricks-Host": host})[0], 400)
        self.assertEqual(http_get(self.md_port, path, dict(ok, **{
            "X-Databricks-Metadata-Version": "2"}))[0], 400)
        self.assertEqual(http_get(self.md_port, path, dict(ok, **{
            "X-Databricks-Host": "https://adb-1.azuredatabricks.net"}))[0], 404)
        self.assertEqual(http_get(self.md_port, path, {"X-Databricks-Metadata-Version": "1"})[0],
                         404)
        wrong = "/" + ("0" * 64) + "/prod"
        self.assertEqual(http_get(self.md_port, wrong, ok)[0], 404)
        self.assertEqual(http_get(self.md_port, "/%s/nope" % secret, ok)[0], 404)
        self.assertEqual(http_get(self.md_port, "/prod", ok)[0], 404)
        # The AAD-only workspace gets its AAD token under its own host.
        aad_env = self.env_of(d, "--sdk", "-w", "aad")
        status, body = http_get(self.md_port, self.md_path(aad_env),
                                {"X-Databricks-Metadata-Version": "1",
                                 "X-Databricks-Host": aad_env["DATABRICKS_HOST"]})
        self.assertEqual(status, 200, body)
        self.assertFalse(body["access_token"].startswith("dapi"))
        self.secrets.append(body["access_token"])
        # prod's secret URL with aad's host: refused (a token never goes to another host).
        self.assertEqual(http_get(self.md_port, path, {
            "X-Databricks-Metadata-Version": "1",
            "X-Databricks-Host": aad_env["DATABRICKS_HOST"]})[0], 404)
        self.secrets.append(secret)
        self.assert_no_secret(d.log())

    def test_managed_identity_protocol_edges(self):
        d = self.start_with_listeners()
        env = self.env_of(d, "--azure")
        self.assertEqual(env["IDENTITY_ENDPOINT"], "http://127.0.0.1:%d/msi/token" % self.mi_port)
        secret = env["IDENTITY_HEADER"]
        self.secrets.append(secret)
        ok = {"X-IDENTITY-HEADER": secret}
        q = "/msi/token?api-version=2019-08-01&resource="

        status, body = http_get(self.mi_port, q + DATABRICKS_RESOURCE, ok)
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body["expires_on"], str)
        self.assertGreater(int(body["expires_on"]), time.time() + 60)
        self.assertEqual(body["resource"], DATABRICKS_RESOURCE)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["client_id"], "sp-client")
        self.secrets.append(body["access_token"])
        # Trailing slash or not, the management resource is served.
        for r in ["https://management.core.windows.net", "https://management.core.windows.net/"]:
            status, body = http_get(self.mi_port, q + r, {"x-identity-header": secret})
            self.assertEqual(status, 200, body)
            self.secrets.append(body["access_token"])

        self.assertEqual(http_get(self.mi_port, q + DATABRICKS_RESOURCE)[0], 401)
        self.assertEqual(http_get(self.mi_port, q + DATABRICKS_RESOURCE,
                                  {"X-IDENTITY-HEADER": "0" * 64})[0], 401)
        status, body = http_get(self.mi_port, q + "https://vault.azure.net", ok)
        self.assertEqual(status, 400)
        self.assertIn(DATABRICKS_RESOURCE, body["error_description"])
        self.assertIn(MANAGEMENT_RESOURCE, body["error_description"])
        self.assertEqual(http_get(self.mi_port, "/msi/token?resource=" + DATABRICKS_RESOURCE,
                                  ok)[0], 400)
        self.assertEqual(http_get(self.mi_port, "/msi/token?api-version=2019-08-01", ok)[0], 400)
        self.assertEqual(http_get(self.mi_port, "/other", ok)[0], 404)
        self.assert_no_secret(d.log())

    def test_listeners_bind_loopback_only_and_secrets_are_0600_and_rotate(self):
        d = self.start_with_listeners()
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        listening = {int(r[1].split(":")[1], 16): r[1].split(":")[0] for r in rows if r[3] == "0A"}
        for port in (self.md_port, self.mi_port, self.metrics_port):
            self.assertEqual(listening.get(port), "0100007F", "port %d not on 127.0.0.1" % port)
        for name in ("metadata-service.secret", "managed-identity.secret"):
            mode = stat.S_IMODE(os.stat(os.path.join(d.state_dir, name)).st_mode)
            self.assertEqual(mode, 0o600, name)

        before = self.env_of(d, "--sdk")
        old_path = self.md_path(before)
        self.secrets.append(old_path.split("/")[1])
        # A restart keeps the secrets: SDK processes started before it keep working.
        d.stop()
        d.start()
        self.assertEqual(self.env_of(d, "--sdk"), before)
        # Rotation: delete the file and reload.
        os.unlink(os.path.join(d.state_dir, "metadata-service.secret"))
        d.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and self.env_of(d, "--sdk") == before:
            time.sleep(0.1)
        after = self.env_of(d, "--sdk")
        self.assertNotEqual(after, before)
        new_path = self.md_path(after)
        self.secrets.append(new_path.split("/")[1])
        hdr = {"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": after["DATABRICKS_HOST"]}
        self.assertEqual(http_get(self.md_port, old_path, hdr)[0], 404)
        status, body = http_get(self.md_port, new_path, hdr)
        self.assertEqual(status, 200)
        self.secrets.append(body["access_token"])
        self.assert_no_secret(d.log())

    def test_endpoints_off_answer_404_naming_the_key(self):
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()})
        r = d.cli("env", "--sdk")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("listen.metadata_service", r.stderr)
        r = d.cli("env", "--azure")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("listen.managed_identity", r.stderr)
        self.assertEqual(d.get("/v1/azure-env")[0], 404)

    def test_taken_port_is_a_clear_error_and_exit_1(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()},
                                  extra={"listen": {"metadata_service": {"port": port}}},
                                  wait=False)
            rc = d.proc.wait(timeout=10)
        self.assertEqual(rc, 1)
        self.assertIn("listen.metadata_service.port", d.log())
        self.assertIn(str(port), d.log())

    def test_metrics_port_serves_valid_prometheus_text(self):
        d = self.start_with_listeners()
        env = self.env_of(d, "--sdk")
        hdr = {"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": env["DATABRICKS_HOST"]}
        status, body = http_get(self.md_port, self.md_path(env), hdr)
        self.assertEqual(status, 200)
        self.secrets += [body["access_token"], self.md_path(env).split("/")[1]]
        http_get(self.md_port, "/nope/prod", hdr)
        status, text = http_get(self.metrics_port, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(prometheus_problems(text), [], text)
        for needle in ['dbxcred_requests_total{endpoint="metadata_service",status="200"} 1',
                       'dbxcred_requests_total{endpoint="metadata_service",status="404"} 1',
                       'dbxcred_upstream_calls_total{upstream="aad",status="200"}',
                       'dbxcred_upstream_calls_total{upstream="databricks",status="200"}',
                       'dbxcred_upstream_latency_seconds_bucket{upstream="databricks",le="+Inf"}',
                       'dbxcred_pat_expiry_seconds{workspace="prod"}',
                       'dbxcred_pat_active{workspace="prod"} 1',
                       'dbxcred_token_expiry_seconds{credential="sp"',
                       "# TYPE dbxcred_pat_quota_errors_total counter"]:
            self.assertIn(needle, text)
        # The socket's /metrics is the same text format.
        status, sock_text = d.get("/metrics")
        self.assertEqual(prometheus_problems(sock_text), [])
        self.assertEqual(http_get(self.metrics_port, "/v1/status")[0], 404)
        self.assert_no_secret(text, sock_text)

    def test_quota_errors_are_counted(self):
        self.emu.settings(pat_quota=1)
        creds = {"sp": self.sp()}
        self.emu.add_foreign_pats("sp-client", count=1)
        d = self.start_with_listeners(creds=creds)
        r = d.cli("env", "--sdk", "--shell", "json")
        env = json.loads(r.stdout)
        self.secrets.append(self.md_path(env).split("/")[1])
        hdr = {"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": env["DATABRICKS_HOST"]}
        status, body = http_get(self.md_port, self.md_path(env), hdr)
        self.assertNotEqual(status, 200)
        self.assertIn("error_description", body)
        text = http_get(self.metrics_port, "/metrics")[1]
        self.assertEqual(prometheus_problems(text), [])
        self.assertRegex(text, r'dbxcred_pat_quota_errors_total\{host="127\.0\.0\.1:\d+"\} [1-9]')

    def test_json_logs_are_one_object_per_line(self):
        d = self.start_with_listeners(extra={"log": {"level": "debug", "format": "json"}})
        env = self.env_of(d, "--sdk")
        self.secrets.append(self.md_path(env).split("/")[1])
        d.cli("aad")
        d.stop()
        lines = [line for line in d.log().splitlines() if line.strip()]
        self.assertGreater(len(lines), 3)
        for line in lines:
            obj = json.loads(line)
            self.assertEqual(sorted(obj), ["component", "level", "message", "time"], line)
            self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assert_no_secret(d.log())


@unittest.skipIf(shutil.which("npm") is None, "npm/node not installed: the real-SDK tests need "
                 "Node.js and npm (apt-get install nodejs npm)")
class RealSdkClientsTest(LoopbackTestCase):
    """The clients people use, unmodified, configured only by `dbxcred env`."""

    def node(self, script, args, env):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABRICKS_", "IDENTITY_", "MSI_", "AZURE_", "IMDS_"))}
        e.update(env)
        e["NODE_EXTRA_CA_CERTS"] = self.emu.ca_file
        e["HOME"] = self.tmp  # no ~/.databrickscfg or Azure CLI profile of the machine
        e["NODE_PATH"] = NODE_MODULES
        return subprocess.Popen(["node", os.path.join(HERE, "js", script), *args], env=e,
                                cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def finish(self, proc, timeout):
        out, err = proc.communicate(timeout=timeout)
        self.assert_no_secret(out, err)
        rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return proc.returncode, rounds, err

    def test_sdks_keep_working_across_pat_rotation_and_token_refresh(self):
        # Short lifetimes. PATs: the metadata service asks for 70 s of validity and the PAT manager
        # mints with a 60 s margin, so PATs live 130 s; rotation 65 s after the mint. The JS SDK
        # refreshes 40 s before expires_on (t≈90 s) and so moves to the rotated PAT; at t≈97 s the
        # first PAT is revoked as an admin would, so the rounds after it prove the SDK uses the new
        # one. AAD tokens live 75 s, so the Azure client's tokens are refreshed during the run.
        self.emu.settings(aad_token_lifetime=75)
        d = self.start_with_listeners(workspaces={"prod": self.workspace(
            pat={"lifetime": "130s", "rotate_before": "65s"})})
        sdk_env = self.env_of(d, "--sdk")
        azure_env = self.env_of(d, "--azure")
        self.secrets += [self.md_path(sdk_env).split("/")[1], azure_env["IDENTITY_HEADER"]]
        started = time.time()
        duration, interval = "112", "5"
        dbx = self.node("databricks_clusters.js", [duration, interval], sdk_env)
        azure = self.node("azure_token.js", [DATABRICKS_RESOURCE + "/.default", duration, interval,
                                             self.emu.url + "/api/2.0/clusters/list"], azure_env)
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

        counters = self.emu.counters()
        self.assertGreaterEqual(counters["clusters_list"], len(rounds) + len(az_rounds))
        self.assert_no_secret(d.log())
        status, text = http_get(self.metrics_port, "/metrics")
        self.assertEqual(prometheus_problems(text), [])
        self.assertRegex(text, r'endpoint="metadata_service",status="200"\} [2-9]')
        self.assertRegex(text, r'endpoint="managed_identity",status="200"\} [2-9]')

if __name__ == "__main__":
    unittest.main()
