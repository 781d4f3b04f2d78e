"""Walking skeleton: Entra ID tokens from the emulator travel through dbxcredd to the CLI."""
import json
import os
import subprocess
import time
import unittest

from harness import DBXCREDD, DBXCRED, E2ETestCase


class SkeletonTest(E2ETestCase):
    def test_curl_with_headers_reaches_the_workspace(self):
        creds = {"sp": self.add_sp()}
        ws = {"prod": self.workspace(management_token=True,
                                     resource_id="/subscriptions/s/resourceGroups/rg/providers/"
                                                 "Microsoft.Databricks/workspaces/w")}
        d = self.start_daemon(creds, ws)
        r = d.cli("headers", "--format", "curl")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(len(lines), 3, "Authorization and the two management headers")
        args = []
        for line in lines:
            self.assertTrue(line.startswith("-H '") and line.endswith("'"), line)
            args += ["-H", line[4:-1]]
        out = subprocess.run(["curl", "-sS", "--cacert", self.emu.ca_file, "-o", "/dev/null",
                              "-w", "%{http_code}", *args,
                              f"{self.emu.url}/api/2.0/clusters/list"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "200", out.stderr)
        # Without the management headers the emulator refuses: the headers matter.
        out = subprocess.run(["curl", "-sS", "--cacert", self.emu.ca_file, "-o", "/dev/null",
                              "-w", "%{http_code}", *args[:2],
                              f"{self.emu.url}/api/2.0/clusters/list"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "403")
        status = d.cli("status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assert_no_secret(r.stderr, status.stdout, d.log())
        for line in lines:
            self.assertNotIn(line[len("-H 'Authorization: Bearer "):-1], d.log())

    def test_token_near_expiry_is_refreshed_before_it_is_served(self):
        self.emu.settings(aad_token_lifetime=90)
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()})
        first = d.cli("aad", "--min-valid", "45s")
        self.assertEqual(first.returncode, 0, first.stderr)
        calls = self.emu.counters()["aad"]
        time.sleep(8)
        # The cached token has ~82 s left: a client needing 85 s gets a fresh one, not the old one.
        second = d.cli("aad", "--min-valid", "85s")
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertNotEqual(first.stdout, second.stdout)
        self.assertEqual(self.emu.counters()["aad"], calls + 1)
        status, body = d.get("/v1/workspaces/prod/aad?min_valid=85")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(body["expires_at"] - time.time(), 84)

    def test_invalid_client_gives_exit_5_with_the_aadsts_code(self):
        creds = {"sp": self.add_sp()}
        self.emu.add_principal(client_id="sp-client", client_secret=self.secret())  # rotated away
        d = self.start_daemon(creds, {"prod": self.workspace()})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("AADSTS7000215", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertEqual(r.stdout, "")
        self.assert_no_secret(r.stderr, d.log())

    def test_missing_socket_gives_exit_3(self):
        r = subprocess.run([DBXCRED, "--socket", os.path.join(self.tmp, "none.sock"), "aad"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)
        self.assertIn("none.sock", r.stderr)

    def test_bad_config_gives_exit_2_with_the_json_path(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            json.dump({"state_dir": self.tmp, "credentials": {},
                       "workspaces": {"prod": {"credential": "nope", "host": "https://x",
                                               "pat": {"lifetime": "sixty"}}}}, f)
        r = subprocess.run([DBXCREDD, "--config", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("workspaces.prod.pat.lifetime", r.stderr)
        self.assertIn("workspaces.prod.credential", r.stderr)


if __name__ == "__main__":
    unittest.main()
