"""Workspace isolation end to end (issue 12): what a local user allowed on one workspace can reach of
another through the loopback endpoints.

Scenario 1: a user allowed only on `open` takes the metadata-service secret out of
`dbxcred -w open env --sdk` and asks for `closed` (with closed's X-Databricks-Host, which
/v1/status shows to anyone): 404, no token. The CLI runs as a second local user (`setpriv`), so these
tests need root and are skipped otherwise.
"""
import json
import os
import shutil
import subprocess
import unittest

from harness import DBXCRED, E2ETestCase
from test_sdk import free_port, http_get
from test_security import OTHER_USER, ensure_other_user

IS_ROOT = os.geteuid() == 0
HAVE_TOOLS = all(shutil.which(t) for t in ("useradd", "groupadd", "usermod", "setpriv"))


class IsolationTestCase(E2ETestCase):
    def start_two_workspaces(self, socket_group=None):
        self.md_port = free_port()
        # One service principal each: an Entra token of a shared one would open both, and the
        # config refuses that (test_trust); here the metadata-service secret is under test.
        creds = {"open": self.add_sp(client_id="sp-open", name="open"),
                 "closed": self.add_sp(client_id="sp-closed", name="closed")}
        # Two workspaces on the emulator's two names: 127.0.0.1:PORT and localhost:PORT.
        self.open_host = "https://" + self.emu.host
        self.closed_host = "https://" + self.emu.localhost
        ws = {
            "open": self.workspace(credential="open", pat=False, allow={"users": [OTHER_USER]}),
            "closed": self.workspace(credential="closed", host=self.emu.localhost, pat=False,
                                     allow={"users": ["other"]}),
        }
        extra = {"listen": {"metadata_service": {"port": self.md_port}}}
        if socket_group:
            extra["socket"] = {"path": os.path.join(self.tmp, "d0", "run", "dbxcred.sock"),
                               "mode": "0660", "group": socket_group}
        return self.start_daemon(creds, ws, extra=extra)

    def md_path(self, url):
        prefix = "http://127.0.0.1:%d" % self.md_port
        self.assertTrue(url.startswith(prefix + "/"), "wrong port")
        return url[len(prefix):]

    def ask(self, path, host):
        return http_get(self.md_port, path, {"X-Databricks-Metadata-Version": "1",
                                             "X-Databricks-Host": host})


@unittest.skipUnless(IS_ROOT and HAVE_TOOLS, "needs root, useradd/groupadd/usermod and setpriv")
class MetadataServiceIsolationTest(IsolationTestCase):
    def setUp(self):
        super().setUp()
        self.uid, self.gid, _ = ensure_other_user()
        os.chmod(self.tmp, 0o711)  # the other user must reach the socket below the temp dir

    def as_other(self, d, *args):
        e = dict(os.environ)
        e.pop("DBXCRED_WORKSPACE", None)
        e["DBXCRED_SOCKET"] = d.socket
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                               "--init-groups", DBXCRED, *args],
                              capture_output=True, text=True, env=e, timeout=60)

    def test_secret_of_an_allowed_workspace_does_not_open_another(self):
        d = self.start_two_workspaces(socket_group=OTHER_USER)
        r = self.as_other(d, "-w", "open", "env", "--sdk", "--shell", "json")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        open_path = self.md_path(json.loads(r.stdout)["DATABRICKS_METADATA_SERVICE_URL"])
        self.assertTrue(open_path.endswith("/open"))
        # The user's own workspace works.
        status, body = self.ask(open_path, self.open_host)
        self.assertEqual(status, 200, body.get("error_description") if status != 200 else "")
        self.assertIn("access_token", body)
        # The user is refused `closed` on the socket ...
        denied = self.as_other(d, "-w", "closed", "env", "--sdk")
        self.assertNotEqual(denied.returncode, 0)
        # ... and the same secret with closed's name and host is a 404 without a token.
        attack = open_path[:-len("open")] + "closed"
        status, body = self.ask(attack, self.closed_host)
        self.assertEqual(status, 404, "the secret of `open` opened `closed`")
        self.assertNotIn("access_token", json.dumps(body))
        self.assertEqual(body.get("error"), "not_found")
        self.assert_no_secret(r.stdout, r.stderr, denied.stderr, json.dumps(body), d.log())


class PerWorkspaceSecretTest(IsolationTestCase):
    def test_each_workspace_has_its_own_secret_and_it_survives_a_restart(self):
        d = self.start_two_workspaces()  # the test runs as root: allowed on both

        def path_of(ws):
            r = d.cli("-w", ws, "env", "--sdk", "--shell", "json")
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            return self.md_path(json.loads(r.stdout)["DATABRICKS_METADATA_SERVICE_URL"])

        open_path, closed_path = path_of("open"), path_of("closed")
        open_secret, closed_secret = open_path.split("/")[1], closed_path.split("/")[1]
        self.assertNotEqual(open_secret, closed_secret)
        self.assertEqual(self.ask(open_path, self.open_host)[0], 200)
        self.assertEqual(self.ask(closed_path, self.closed_host)[0], 200)
        # A secret opens its own workspace only: another's is a 404 like a wrong one.
        self.assertEqual(self.ask("/%s/closed" % open_secret, self.closed_host)[0], 404)
        self.assertEqual(self.ask("/%s/open" % closed_secret, self.open_host)[0], 404)
        self.assertEqual(self.ask("/%s/open" % ("0" * 64), self.open_host)[0], 404)
        # Stable across restarts: SDK processes started before keep working.
        d.stop()
        d.start()
        self.assertEqual(path_of("open"), open_path)
        self.assertEqual(self.ask(open_path, self.open_host)[0], 200)


if __name__ == "__main__":
    unittest.main()
