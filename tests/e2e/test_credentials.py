"""Every credential source a build agent has, end to end against the emulator: client_certificate,
azure_cli (through tests/e2e/fake_az), managed_identity (the emulator's IMDS) and
workload_identity — each must yield working Databricks headers and a working PAT. Plus the ARM
lookup of a workspace configured with only its resource_id."""
import json
import os
import subprocess
import time

from harness import DATABRICKS_RESOURCE, E2ETestCase

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_AZ = os.path.join(HERE, "fake_az")
RESOURCE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w"


class CredentialsTest(E2ETestCase):
    # -- helpers -------------------------------------------------------------------------------
    def clusters_list(self, headers):
        """curl the emulator's one Databricks API with these headers; returns the HTTP status."""
        args = []
        for k, v in headers.items():
            args += ["-H", f"{k}: {v}"]
        out = subprocess.run(["curl", "-sS", "--cacert", self.emu.ca_file, "-o", "/dev/null",
                              "-w", "%{http_code}", *args,
                              f"{self.emu.url}/api/2.0/clusters/list"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout

    def assert_headers_and_pat_work(self, d, expect_host=None, cli=True):
        """Headers (socket API, and the CLI's `headers --format json` when the emulator's tokens
        live longer than the CLI's default min_valid of 5 min) and a PAT work at clusters/list."""
        status, answer = d.get("/v1/workspaces/prod/headers?min_valid=60")
        self.assertEqual(status, 200, str(answer) + d.log()[-3000:])
        self.assertEqual(answer["host"], expect_host or "https://" + self.emu.host)
        self.assertEqual(self.clusters_list(answer["headers"]), "200")
        if cli:
            r = d.cli("headers", "--format", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.clusters_list(json.loads(r.stdout)), "200")
        pat = d.cli("pat", "--min-valid", "60s")
        self.assertEqual(pat.returncode, 0, pat.stderr)
        value = pat.stdout.strip()
        self.assertTrue(value.startswith("dapi"))
        self.assertEqual(self.clusters_list({"Authorization": "Bearer " + value}), "200")
        log = d.log()
        self.assertNotIn(value, log)
        for v in answer["headers"].values():
            if v.startswith("Bearer "):
                self.assertNotIn(v[len("Bearer "):], log)
        return answer

    def make_cert(self, name):
        """An RSA key and self-signed certificate: returns (path of key+cert PEM, cert PEM)."""
        key = os.path.join(self.tmp, name + ".key")
        crt = os.path.join(self.tmp, name + ".crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", crt, "-days", "2", "-subj", "/CN=" + name],
                       check=True, capture_output=True)
        with open(key) as f:
            key_pem = f.read()
        with open(crt) as f:
            crt_pem = f.read()
        both = os.path.join(self.tmp, name + ".pem")
        with open(both, "w") as f:
            f.write(key_pem + crt_pem)
        os.chmod(both, 0o600)
        return both, crt_pem

    def ws(self, credential, **kw):
        return self.workspace(credential=credential, management_token=True,
                              resource_id=RESOURCE_ID, **kw)

    # -- client_certificate ----------------------------------------------------------------------
    def test_client_certificate_headers_and_pat(self):
        pem, crt = self.make_cert("sp-cert")
        self.emu.add_principal(client_id="cert-client", certificate_pem=crt)
        creds = {"cert": {"type": "client_certificate", "tenant_id": "tenant-1",
                          "client_id": "cert-client", "certificate_file": pem}}
        d = self.start_daemon(creds, {"prod": self.ws("cert")})
        self.assert_headers_and_pat_work(d)
        self.assertIn("client_certificate", d.cli("status").stdout)

    def test_client_certificate_signed_with_another_key_is_rejected(self):
        _, registered = self.make_cert("registered")
        other, _ = self.make_cert("other")
        self.emu.add_principal(client_id="cert-client", certificate_pem=registered)
        creds = {"cert": {"type": "client_certificate", "tenant_id": "tenant-1",
                          "client_id": "cert-client", "certificate_file": other}}
        d = self.start_daemon(creds, {"prod": self.ws("cert")})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("AADSTS700027", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertNotIn("eyJ", r.stderr + d.log())  # no assertion (a JWT) in messages or logs

    # -- azure_cli -----------------------------------------------------------------------------
    def az_env(self, mode="ok"):
        secret_file = os.path.join(self.tmp, "az-sp.secret")
        sec = self.secret()
        self.emu.add_principal(client_id="az-client", client_secret=sec)
        with open(secret_file, "w") as f:
            f.write(sec)
        os.chmod(secret_file, 0o600)
        self.az_log = os.path.join(self.tmp, "az-calls.log")
        # az and the daemon share a zone that is not UTC: expiresOn is local time there.
        return {"FAKE_AZ_LOG": self.az_log, "FAKE_AZ_MODE": mode, "FAKE_AZ_URL": self.emu.url,
                "FAKE_AZ_CA_FILE": self.emu.ca_file, "FAKE_AZ_CLIENT_ID": "az-client",
                "FAKE_AZ_SECRET_FILE": secret_file, "TZ": "EST5EDT"}

    def az_calls(self):
        try:
            with open(self.az_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def test_azure_cli_headers_and_pat_and_az_is_not_called_while_cached(self):
        env = self.az_env()
        creds = {"cli": {"type": "azure_cli", "az_path": FAKE_AZ}}
        d = self.start_daemon(creds, {"prod": self.ws("cli")}, env=env)
        first = d.cli("aad")
        self.assertEqual(first.returncode, 0, first.stderr + d.log()[-3000:])
        status, body = d.get("/v1/workspaces/prod/aad")
        self.assertEqual(status, 200)
        # expiresOn was local (EST5EDT) time: read right, the token lives ~1 h, not 1 h +- 5 h.
        self.assertAlmostEqual(body["expires_at"] - time.time(), 3600, delta=60)
        self.assert_headers_and_pat_work(d)
        calls = self.az_calls()
        self.assertIn("account get-access-token --resource %s --output json" % DATABRICKS_RESOURCE,
                      calls)
        self.assertIn("account get-access-token --resource https://management.core.windows.net/"
                      " --output json", calls)
        # Served from the cache: clients never wait for az while a token is valid.
        for _ in range(5):
            self.assertEqual(d.cli("aad").returncode, 0)
            self.assertEqual(d.cli("headers").returncode, 0)
        self.assertEqual(self.az_calls(), calls)
        self.assertEqual(len(calls), 2, calls)  # one per resource

    def test_azure_cli_not_logged_in_is_a_clear_error(self):
        env = self.az_env(mode="not-logged-in")
        creds = {"cli": {"type": "azure_cli", "az_path": FAKE_AZ}}
        d = self.start_daemon(creds, {"prod": self.workspace(credential="cli")}, env=env)
        r = d.cli("aad")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("az login", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_azure_cli_missing_az_is_a_clear_error(self):
        creds = {"cli": {"type": "azure_cli", "az_path": os.path.join(self.tmp, "no-az")}}
        d = self.start_daemon(creds, {"prod": self.workspace(credential="cli")})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("no-az", r.stderr)

    # -- managed_identity ----------------------------------------------------------------------
    def test_managed_identity_headers_and_pat_through_imds(self):
        self.emu.add_principal(client_id="mi-client", managed_identity=True)
        creds = {"vm": {"type": "managed_identity", "client_id": "mi-client"}}
        d = self.start_daemon(creds, {"prod": self.ws("vm")})
        self.assert_headers_and_pat_work(d)
        self.assertGreaterEqual(self.emu.counters()["imds"], 2)
        self.assertEqual(self.emu.counters()["aad"], 0)

    def test_managed_identity_retries_a_transient_imds_answer(self):
        self.emu.add_principal(client_id="mi-client", managed_identity=True)
        self.emu.fault("imds", status=503, count=2)
        creds = {"vm": {"type": "managed_identity", "client_id": "mi-client"}}
        d = self.start_daemon(creds, {"prod": self.workspace(credential="vm")})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 0, r.stderr + d.log()[-3000:])
        self.assertEqual(self.emu.counters()["imds"], 3)

    def test_managed_identity_unknown_identity_is_a_clear_error(self):
        self.emu.add_principal(client_id="mi-client", managed_identity=True)
        creds = {"vm": {"type": "managed_identity", "client_id": "someone-else"}}
        d = self.start_daemon(creds, {"prod": self.workspace(credential="vm")})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("Identity not found", r.stderr)
        self.assertEqual(self.emu.counters()["imds"], 1)  # a 400 is not retried

    # -- workload_identity ---------------------------------------------------------------------
    def test_workload_identity_headers_and_pat_and_token_file_rotation(self):
        self.emu.settings(aad_token_lifetime=90)
        token_file = os.path.join(self.tmp, "azure-identity-token")
        old, new = "fed-" + self.secret(), "fed-" + self.secret()
        self.emu.add_principal(client_id="wi-client", federated_token=old)
        with open(token_file, "w") as f:
            f.write(old)
        creds = {"gha": {"type": "workload_identity", "tenant_id": "tenant-1",
                         "client_id": "wi-client", "token_file": token_file}}
        d = self.start_daemon(creds, {"prod": self.ws("gha")})
        first = d.cli("aad", "--min-valid", "60s")
        self.assertEqual(first.returncode, 0, first.stderr + d.log()[-3000:])
        self.assert_headers_and_pat_work(d, cli=False)  # 90 s tokens: below the CLI's 5 min

        # The writer rotates: the emulator now knows only the new assertion (the old one is stale)...
        self.emu.add_principal(client_id="wi-client", federated_token=new)
        stale = self.emu.aad_token("wi-client", assertion=old, tenant="tenant-1", raw=True)
        self.assertEqual(stale.status, 400)
        self.assertIn("AADSTS700024", stale.text)
        with open(token_file + ".tmp", "w") as f:
            f.write(new)
        os.replace(token_file + ".tmp", token_file)
        # ...and a refresh forced by --min-valid (the cached token has < 85 s left) must read it.
        time.sleep(6)
        calls = self.emu.counters()["aad"]
        second = d.cli("aad", "--min-valid", "85s")
        self.assertEqual(second.returncode, 0, second.stderr + d.log()[-3000:])
        self.assertNotEqual(first.stdout, second.stdout)
        self.assertGreater(self.emu.counters()["aad"], calls)
        self.assert_no_secret(second.stderr, d.log())

    # -- ARM lookup ----------------------------------------------------------------------------
    def test_workspace_with_only_a_resource_id_gets_its_host_from_arm(self):
        self.emu.add_workspace(RESOURCE_ID, workspace_url=self.emu.host)
        ws = {"credential": "sp", "resource_id": RESOURCE_ID, "management_token": True}
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": ws})
        self.assert_headers_and_pat_work(d, expect_host="https://" + self.emu.host)
        w = d.cli("workspaces")
        self.assertEqual(w.returncode, 0, w.stderr)
        self.assertIn("https://" + self.emu.host, w.stdout)
        for _ in range(3):
            self.assertEqual(d.cli("headers").returncode, 0)
        self.assertEqual(self.emu.counters()["arm"], 1)  # looked up once, then cached

    def test_unknown_resource_id_is_a_clear_error(self):
        ws = {"credential": "sp", "resource_id": RESOURCE_ID + "-missing", "pat": False}
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": ws})
        r = d.cli("headers")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("ResourceNotFound", r.stderr)
        self.assertIn(RESOURCE_ID + "-missing", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
