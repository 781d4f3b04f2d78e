"""Trust across workspaces that share a credential (issue 21, part 1).

An Entra token of a service principal is not bound to a workspace: whoever holds the one that
`dbxcred aad -w open` (or `headers`, or the managed-identity endpoint behind `azure-env`) hands
out can call the REST API of every workspace that principal reaches. Here `open` and `closed`
share the credential `sp`; a second local user (`setpriv`, like test_isolation) is allowed on
`open` only and attacks `closed` at the emulator: list its PATs, delete the one the daemon minted
for closed's jobs, and token/create. These tests need root and are skipped otherwise.

After the fix such a config is refused at load; with `"serve_entra_token": false` on `open` the
daemon starts, open still serves its PAT, and the Entra paths of open answer 403 naming the key.
"""
import json
import os
import shutil
import subprocess
import time
import unittest

from harness import DATABRICKS_RESOURCE, DBXCRED, E2ETestCase
from test_sdk import free_port, http_get
from test_security import OTHER_USER, ensure_other_user

IS_ROOT = os.geteuid() == 0
HAVE_TOOLS = all(shutil.which(t) for t in ("useradd", "groupadd", "usermod", "setpriv"))
KEY = "workspaces.open.serve_entra_token"


@unittest.skipUnless(IS_ROOT and HAVE_TOOLS, "needs root, useradd/groupadd/usermod and setpriv")
class SharedCredentialTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.uid, self.gid, _ = ensure_other_user()
        os.chmod(self.tmp, 0o711)  # the other user must reach the socket below the temp dir
        self.mi_port = free_port()

    def sp_credential(self):
        """A service principal that is a user of both workspaces (its Entra token alone opens them)."""
        sec = self.secret()
        self.emu.add_principal(client_id="sp-client", client_secret=sec, workspace_user=True)
        path = os.path.join(self.tmp, "sp.secret")
        with open(path, "w") as f:
            f.write(sec + "\n")
        os.chmod(path, 0o600)
        return {"type": "client_secret", "tenant_id": "tenant-1", "client_id": "sp-client",
                "client_secret_file": path}

    def config(self, open_extra=None):
        # closed admits root only, open admits root and the other user: a bearer from closed
        # reaches nobody new, one from open reaches closed.
        ws = {
            "open": self.workspace(allow={"users": [OTHER_USER], "uids": [0]}, **(open_extra or {})),
            "closed": self.workspace(host=self.emu.localhost, allow={"uids": [0]}),
        }
        extra = {"listen": {"managed_identity": {"port": self.mi_port, "credential": "sp",
                                                 "resources": [DATABRICKS_RESOURCE]}},
                 **self.socket_for_other()}
        return {"sp": self.sp_credential()}, ws, extra

    def socket_for_other(self):
        """The next daemon's socket, open to the other user (its group)."""
        run = os.path.join(self.tmp, f"d{len(self.daemons)}", "run")
        return {"socket": {"path": os.path.join(run, "dbxcred.sock"), "mode": "0660",
                           "group": OTHER_USER}}

    def as_other(self, d, *args):
        e = dict(os.environ)
        e.pop("DBXCRED_WORKSPACE", None)
        e["DBXCRED_SOCKET"] = d.socket
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                               "--init-groups", DBXCRED, *args],
                              capture_output=True, text=True, env=e, timeout=60)

    def closed_api(self, method, path, headers, body=None):
        return self.emu.request(method, "/api/2.0/" + path, headers=headers, body=body,
                                host=self.emu.localhost)

    def entra_bearers_of_open(self, d):
        """What the other user gets of open's Entra paths: {path: headers to send}, and the
        answers of the refused ones {path: (exit code, stderr)}."""
        got, refused = {}, {}
        r = self.as_other(d, "-w", "open", "aad")
        if r.returncode == 0:
            got["aad"] = {"Authorization": "Bearer " + r.stdout.strip()}
        else:
            refused["aad"] = (r.returncode, r.stderr)
        r = self.as_other(d, "-w", "open", "headers", "--format", "http")
        if r.returncode == 0:
            got["headers"] = dict(line.split(": ", 1) for line in r.stdout.splitlines() if line)
        else:
            refused["headers"] = (r.returncode, r.stderr)
        r = self.as_other(d, "-w", "open", "env", "--azure", "--shell", "json")
        if r.returncode == 0:
            env = json.loads(r.stdout)
            path = env["IDENTITY_ENDPOINT"].split(str(self.mi_port), 1)[1]
            status, body = http_get(self.mi_port, path + "?resource=" + DATABRICKS_RESOURCE +
                                    "&api-version=2019-08-01",
                                    {"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]})
            self.assertEqual(status, 200, "the managed-identity endpoint did not answer")
            got["azure-env"] = {"Authorization": "Bearer " + body["access_token"]}
        else:
            refused["azure-env"] = (r.returncode, r.stderr)
        return got, refused

    def attack_closed(self, d):
        """Runs the attack with every Entra bearer the other user gets; returns what it did to
        closed, as "path: action" lines, and the refusals."""
        pat = d.cli("-w", "closed", "pat")  # root: the PAT closed's jobs were promised
        self.assertEqual(pat.returncode, 0, pat.stderr + d.log())
        got, refused = self.entra_bearers_of_open(d)
        reached = []
        for path, headers in got.items():
            listed = self.closed_api("GET", "token/list", headers)
            if listed.status != 200:
                continue
            reached.append(f"{path}: listed closed's {len(listed.json()['token_infos'])} PATs")
            created = self.closed_api("POST", "token/create", headers,
                                      {"lifetime_seconds": 600, "comment": "attacker"})
            if created.status == 200:
                reached.append(f"{path}: token/create in closed")
            ours = [t["token_id"] for t in listed.json()["token_infos"]
                    if t.get("comment", "").startswith("dbxcred:")]
            for token_id in ours:
                if self.closed_api("POST", "token/delete", headers,
                                   {"token_id": token_id}).status == 200:
                    reached.append(f"{path}: deleted the PAT dbxcred promised to closed")
        self.assert_no_secret(json.dumps(refused), d.log())
        return reached, refused

    def wait_started_or_exited(self, d, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if d.proc.poll() is not None:
                return d.proc.returncode
            try:
                d.wait_ready(timeout=0.2)
                return None
            except AssertionError:
                if d.proc.poll() is not None:
                    return d.proc.returncode
        self.fail("dbxcredd neither started nor exited:\n" + d.log())

    def test_a_shared_credential_serving_entra_tokens_to_other_allow_lists_is_refused(self):
        creds, ws, extra = self.config()
        d = self.start_daemon(creds, ws, extra=extra, wait=False)
        code = self.wait_started_or_exited(d)
        if code is None:
            reached, _ = self.attack_closed(d)
            self.fail("the daemon started, and a user allowed only on open did this to closed "
                      "with open's Entra tokens:\n  " + "\n  ".join(reached or ["nothing"]))
        self.assertEqual(code, 2, d.log())
        lines = [line for line in d.log().splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, d.log())
        for word in ("workspaces.open", "closed", "credential sp", "serve_entra_token"):
            self.assertIn(word, lines[0])
        # closed admits only users open admits too: its Entra tokens reach nobody new.
        self.assertNotIn("workspaces.closed.serve_entra_token", lines[0])

    def test_open_without_entra_tokens_serves_its_pat_and_refuses_the_entra_paths(self):
        creds, ws, extra = self.config(open_extra={"serve_entra_token": False})
        d = self.start_daemon(creds, ws, extra=extra)
        reached, refused = self.attack_closed(d)
        self.assertEqual(reached, [], "open's Entra tokens reached closed")
        self.assertEqual(sorted(refused), ["aad", "azure-env", "headers"])
        for path, (code, stderr) in refused.items():
            with self.subTest(path=path):
                self.assertEqual(code, 4, stderr)  # forbidden
                self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
                self.assertIn(KEY, stderr)
        # open's workspace-bound token still works for open, and only there.
        pat = self.as_other(d, "-w", "open", "pat")
        self.assertEqual(pat.returncode, 0, pat.stderr + d.log())
        headers = {"Authorization": "Bearer " + pat.stdout.strip()}
        self.assertEqual(self.emu.request("GET", "/api/2.0/token/list", headers=headers).status,
                         200)
        self.assertNotEqual(self.closed_api("GET", "token/list", headers).status, 200)
        token = self.as_other(d, "-w", "open", "env", "--shell", "json")
        self.assertEqual(token.returncode, 0, token.stderr)
        self.assertEqual(json.loads(token.stdout)["DATABRICKS_TOKEN"], pat.stdout.strip())
        # closed (root only) still serves Entra tokens.
        aad = d.cli("-w", "closed", "aad")
        self.assertEqual(aad.returncode, 0, aad.stderr)
        # /v1/status and `dbxcred status` say which kinds each workspace serves.
        status, body = d.get("/v1/status")
        self.assertEqual(status, 200)
        serves = {w["name"]: w["serves"] for w in body["workspaces"]}
        self.assertEqual(serves, {"open": ["pat"], "closed": ["pat", "aad"]})
        table = self.as_other(d, "status")
        self.assertEqual(table.returncode, 0, table.stderr)
        shown = [line.split(":", 1)[1].strip() for line in table.stdout.splitlines()
                 if line.strip().startswith("serves:")]
        self.assertEqual(shown, [", ".join(serves[w["name"]]) for w in body["workspaces"]],
                         table.stdout)
        self.assertIn("pat", shown)
        self.assert_no_secret(table.stdout, d.log())

    def test_a_reload_applies_serve_entra_token(self):
        creds, ws, extra = self.config(open_extra={"serve_entra_token": False})
        ws["closed"]["allow"] = {"users": [OTHER_USER], "uids": [0]}  # the same list: allowed
        d = self.start_daemon(creds, ws, extra=extra)
        self.assertEqual(self.as_other(d, "-w", "open", "aad").returncode, 4)
        d.config["workspaces"]["open"]["serve_entra_token"] = True
        d.write_config()
        d.signal(1)  # SIGHUP
        poll = time.time() + 10
        while time.time() < poll and self.as_other(d, "-w", "open", "aad").returncode != 0:
            time.sleep(0.1)
        r = self.as_other(d, "-w", "open", "aad")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        # A new config the rule refuses (open serves, closed admits fewer): the old one stays.
        d.config["workspaces"]["closed"]["allow"] = {"uids": [0]}
        d.write_config()
        d.signal(1)
        poll = time.time() + 10
        while time.time() < poll and "share credential sp" not in d.log():
            time.sleep(0.1)
        self.assertIn("share credential sp", d.log())
        self.assertEqual(self.as_other(d, "-w", "open", "aad").returncode, 0)

    def test_databricks_oauth_workspaces_are_not_affected(self):
        sec = "dose" + self.secret()
        self.secrets.append(sec)
        self.emu.add_oauth_client("dbx-sp", sec)
        path = os.path.join(self.tmp, "dbx.secret")
        with open(path, "w") as f:
            f.write(sec + "\n")
        os.chmod(path, 0o600)
        creds = {"dbx": {"type": "databricks_oauth", "client_id": "dbx-sp",
                         "client_secret_file": path}}
        ws = {
            "open": self.workspace(credential="dbx", pat=False,
                                   allow={"users": [OTHER_USER], "uids": [0]}),
            "closed": self.workspace(credential="dbx", host=self.emu.localhost, pat=False,
                                     allow={"uids": [0]}),
        }
        d = self.start_daemon(creds, ws, extra=self.socket_for_other())
        r = self.as_other(d, "-w", "open", "token")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        headers = {"Authorization": "Bearer " + r.stdout.strip()}
        self.assertEqual(self.emu.request("GET", "/api/2.0/token/list", headers=headers).status,
                         200)
        # The workspace's own OAuth token does not open the other workspace.
        self.assertNotEqual(self.closed_api("GET", "token/list", headers).status, 200)
        status, body = d.get("/v1/status")
        self.assertEqual({w["name"]: w["serves"] for w in body["workspaces"]},
                         {"open": ["oauth"], "closed": ["oauth"]})


if __name__ == "__main__":
    unittest.main()
