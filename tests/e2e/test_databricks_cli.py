"""Issue 22: `databricks-auth`, the Databricks CLI's token protocol (`auth_type = databricks-cli`,
`DATABRICKS_CLI_PATH`) answered through dbxcredd's socket, with no loopback listener configured.

The protocol edges are driven directly (the argv each SDK runs, docs/SDK.md "databricks-cli"); the
real Databricks JS SDK (`DatabricksCliCredentials`, from tests/e2e/node_modules, installed by
`npm ci` as in test_sdk.py) lists clusters across a PAT rotation and Databricks OAuth refreshes.

Run: cd tests/e2e && DBXCRED_BIN_DIR=<build dir> python3 -m unittest -v test_databricks_cli
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

from harness import BIN, E2ETestCase, ensure_npm_clients

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node_modules")
DATABRICKS_AUTH = os.path.join(BIN, "client", "databricks-auth")
OAUTH_CLIENT_ID = "6f1e2a9c-0000-4000-8000-00000000abcd"
GO_SDK_MIN_CLI_SIZE = 1024 * 1024  # databricks-sdk-go config/cli_token_source.go databricksCliMinSize


def setUpModule():
    ensure_npm_clients()


def listening_tcp_inodes():
    """Socket inodes in LISTEN state (0A) over IPv4 and IPv6."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A":
                        inodes.add(fields[9])
        except OSError:
            pass
    return inodes


def tcp_listeners_of(pid):
    """How many listening TCP sockets process `pid` holds."""
    listening = listening_tcp_inodes()
    count = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in listening:
            count += 1
    return count


def go_reading(expiry):
    """Go's time.Parse(time.RFC3339Nano): the offset decides the instant."""
    return datetime.datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()


def python_sdk_reading(expiry):
    """databricks-sdk-py CliTokenSource._parse_expiry: the fraction and offset cut off, the rest
    read as a naive datetime, i.e. local time (compared with datetime.now())."""
    expiry = expiry.rstrip("Z").split(".")[0]
    return datetime.datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%S").timestamp()


class DatabricksCliTestCase(E2ETestCase):
    def auth(self, d, *args, env=None, timeout=60):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABRICKS_", "DBXCRED_", "XDG_RUNTIME_DIR"))}
        e["DBXCRED_SOCKET"] = d.socket
        e["HOME"] = self.tmp
        e.update(env or {})
        return subprocess.run([DATABRICKS_AUTH, *args], capture_output=True, text=True, env=e,
                              timeout=timeout)

    def sp(self):
        """A service principal that is a user of the emulated workspace (so PATs can be minted)."""
        cred = self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=True)
        return cred

    def add_m2m(self, name="dbx-sp"):
        sec = "dose" + self.secret()
        self.secrets.append(sec)
        self.emu.add_oauth_client(OAUTH_CLIENT_ID, sec)
        path = os.path.join(self.tmp, name + ".secret")
        with open(path, "w") as f:
            f.write(sec + "\n")
        os.chmod(path, 0o600)
        return {"type": "databricks_oauth", "client_id": OAUTH_CLIENT_ID, "client_secret_file": path}

    def token_of(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)
        answer = json.loads(result.stdout)
        self.assertEqual(sorted(answer), ["access_token", "expiry", "token_type"])
        self.assertEqual(answer["token_type"], "Bearer")
        self.secrets.append(answer["access_token"])
        return answer


class ProtocolTest(DatabricksCliTestCase):
    def test_version_and_the_go_sdks_size_rule(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        r = self.auth(d, "version")
        self.assertEqual((r.returncode, r.stdout), (0, "Databricks CLI v0.296.0\n"))
        r = self.auth(d, "version", "--output", "json")
        v = json.loads(r.stdout)
        self.assertEqual((v["Major"], v["Minor"], v["Patch"]), (0, 296, 0))
        # What the Go SDK checks (validateCliPath: os.Stat, symlinks followed, size >= 1 MiB),
        # on the program as the package ships it: stripped, behind the documented symlink name.
        stripped = os.path.join(self.tmp, "databricks-auth.stripped")
        shutil.copy(DATABRICKS_AUTH, stripped)
        if shutil.which("strip"):
            subprocess.run(["strip", stripped], check=True)
        link = os.path.join(self.tmp, "databricks")
        os.symlink(stripped, link)
        self.assertGreaterEqual(os.stat(link).st_size, GO_SDK_MIN_CLI_SIZE)
        r = subprocess.run([link, "version"], capture_output=True, text=True)
        self.assertEqual(r.stdout, "Databricks CLI v0.296.0\n")

    def test_auth_token_is_what_dbxcred_token_serves_with_both_expiry_readings(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        self.assertEqual(tcp_listeners_of(d.proc.pid), 0, "no loopback listener is configured")
        host = "https://" + self.emu.host
        zone = "IST-5:30"  # a local time that is not UTC, with a half-hour offset
        answers = []
        for spelling in (host, host.upper() + "/", self.emu.host):
            answers.append(self.token_of(self.auth(d, "auth", "token", "--host", spelling,
                                                   env={"TZ": zone})))
        self.assertEqual(len({a["access_token"] for a in answers}), 1)
        r = d.cli("token")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(answers[0]["access_token"], r.stdout.strip())
        status, pat = d.get("/v1/workspaces/prod/pat")
        self.assertEqual(status, 200)
        expiry = answers[0]["expiry"]
        self.assertRegex(expiry, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+05:30$")
        old_tz = os.environ.get("TZ")
        os.environ["TZ"] = zone
        time.tzset()
        try:
            self.assertEqual(go_reading(expiry), pat["expires_at"])
            self.assertEqual(python_sdk_reading(expiry), pat["expires_at"])
        finally:
            if old_tz is None:
                os.environ.pop("TZ")
            else:
                os.environ["TZ"] = old_tz
            time.tzset()
        self.assertGreater(pat["expires_at"] - time.time(), 40, "the SDKs' refresh margin")
        # The profile's host, when --host is absent (what the SDKs pass for a profile).
        with open(os.path.join(self.tmp, ".databrickscfg"), "w") as f:
            f.write("[ci]\nhost = %s\nauth_type = databricks-cli\n" % host)
        a = self.token_of(self.auth(d, "auth", "token", "--profile", "ci", "--force-refresh"))
        self.assertTrue(a["access_token"].startswith("dapi"))

    def test_errors_are_one_line_and_never_a_token(self):
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        token = self.token_of(self.auth(d, "auth", "token", "--host", "https://" + self.emu.host))
        r = self.auth(d, "auth", "token", "--host", "https://adb-404.azuredatabricks.net")
        self.assertEqual(r.returncode, 4)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("names no workspace", r.stderr)
        r = self.auth(d, "auth", "token", "--host", "https://adb-404.azuredatabricks.net",
                      "--output", "json")
        self.assertNotEqual(r.returncode, 0)
        err = json.loads(r.stderr)
        self.assertEqual(err["error_code"], "UNAUTHENTICATED")
        self.assertIn("adb-404", err["message"])
        r = self.auth(d, "auth", "token", "--host", "h",
                      env={"DBXCRED_SOCKET": os.path.join(self.tmp, "nothing.sock")})
        self.assertEqual(r.returncode, 3)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        r = self.auth(d, "auth", "token")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--host", r.stderr)
        for out in (r.stdout, r.stderr):
            self.assertNotIn(token["access_token"], out)

    def test_force_refresh_hands_out_a_newer_token(self):
        # The Go and Python SDKs pass --force-refresh on every call: a token newer than the one
        # this program last handed to the uid (min_valid past its expiry makes dbxcredd rotate).
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace()})
        host = "https://" + self.emu.host
        env = {"XDG_RUNTIME_DIR": self.tmp}
        first = self.token_of(self.auth(d, "auth", "token", "--host", host, "--force-refresh",
                                        env=env))
        # Nothing handed out before: no forced rotation, one PAT.
        self.assertEqual(len(self.emu.pats()), 1)
        plain = self.token_of(self.auth(d, "auth", "token", "--host", host, env=env))
        self.assertEqual(plain["access_token"], first["access_token"])
        second = self.token_of(self.auth(d, "auth", "token", "--host", host, "--force-refresh",
                                         env=env))
        self.assertNotEqual(second["access_token"], first["access_token"])
        self.assertGreater(go_reading(second["expiry"]), go_reading(first["expiry"]))
        self.assertEqual(len(self.emu.pats()), 2)
        # The newer PAT is now the workspace's: dbxcred token serves it too.
        self.assertEqual(d.cli("token").stdout.strip(), second["access_token"])
        record = os.path.join(self.tmp, "dbxcred", "databricks-auth.prod")
        self.assertEqual(os.stat(record).st_mode & 0o777, 0o600)
        with open(record) as f:
            self.assertNotIn("dapi", f.read())
        self.assert_no_secret(d.log())


NOBODY = 65534


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


class OtherUserTest(DatabricksCliTestCase):
    """Another local user (`nobody`) who may open the socket but is not in the workspace's allow."""

    def test_another_user_gets_no_token_for_a_host_it_may_not_use(self):
        home = os.path.join(self.tmp, "d0")
        run = os.path.join(home, "run")
        os.makedirs(run)
        os.chmod(self.tmp, 0o755)
        os.chmod(home, 0o755)
        os.chmod(run, 0o755)
        d = self.start_daemon({"sp": self.sp()}, {"prod": self.workspace(allow={"uids": [0]})},
                              extra={"socket": {"path": os.path.join(run, "dbxcred.sock"),
                                                "mode": "0666"}})
        host = "https://" + self.emu.host
        mine = self.token_of(self.auth(d, "auth", "token", "--host", host))
        for extra_env in ({}, {"DBXCRED_WORKSPACE": "prod"}):
            env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "DBXCRED_SOCKET": d.socket}
            env.update(extra_env)
            r = subprocess.run([DATABRICKS_AUTH, "auth", "token", "--host", host,
                                "--force-refresh"], capture_output=True, text=True, env=env,
                               preexec_fn=as_nobody, timeout=60)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertIn("names no workspace", r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertNotIn(mine["access_token"], r.stderr)
        self.assertEqual(len(self.emu.pats()), 1, "nobody's --force-refresh rotated nothing")


@unittest.skipIf(shutil.which("node") is None, "node/npm not installed: the real-SDK test needs "
                 "Node.js and npm (apt-get install nodejs npm)")
class RealJsSdkTest(DatabricksCliTestCase):
    def node(self, workspace, duration, interval):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("DATABRICKS_", "DBXCRED_", "IDENTITY_", "MSI_", "AZURE_"))}
        e.update({
            "DATABRICKS_HOST": "https://" + self.emu.host,
            "DATABRICKS_AUTH_TYPE": "databricks-cli",
            "DATABRICKS_CLI_PATH": DATABRICKS_AUTH,
            "DBXCRED_SOCKET": self.daemon.socket,
            "DBXCRED_WORKSPACE": workspace,  # both workspaces are on the emulator's host
            "NODE_EXTRA_CA_CERTS": self.emu.ca_file,
            "HOME": self.tmp,
            "NODE_PATH": NODE_MODULES,
        })
        return subprocess.Popen(["node", os.path.join(HERE, "js", "databricks_clusters.js"),
                                 str(duration), str(interval)], env=e, cwd=HERE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc, timeout):
        out, err = proc.communicate(timeout=timeout)
        self.assert_no_secret(out, err)
        rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return proc.returncode, rounds, err

    def test_clusters_list_across_a_pat_rotation_and_oauth_refreshes(self):
        # PAT workspace: /token serves PATs with 300 s left (its default min_valid), so the first
        # PAT is minted for 360 s (the 60 s mint margin) and rotated 65 s before it expires; the
        # JS SDK asks again 40 s before expiry (t≈320 s) and moves to the new PAT. At t≈330 s the
        # first PAT is revoked as an admin would: the rounds after it prove the SDK uses the new
        # one. OAuth workspace: tokens live 90 s, served with half that left, so the SDK gets a
        # new one about every 50 s.
        self.emu.oidc_settings(m2m_lifetime=90)
        self.daemon = self.start_daemon(
            {"sp": self.sp(), "dbx-sp": self.add_m2m()},
            {"prod": self.workspace(pat={"lifetime": "130s", "rotate_before": "65s"}),
             "oauth": self.workspace(credential="dbx-sp", pat=False)})
        self.assertEqual(tcp_listeners_of(self.daemon.proc.pid), 0)
        started = time.time()
        duration, interval = 345, 5
        pat_sdk = self.node("prod", duration, interval)
        oauth_sdk = self.node("oauth", duration, interval)
        oauth_expiries = set()
        while time.time() < started + 330:
            oauth_expiries.update(t["expires_at"] for t in self.emu.oauth_tokens())
            time.sleep(10)
        pats = sorted(self.emu.pats(), key=lambda p: p["creation_time"])
        self.assertGreaterEqual(len(pats), 2, "the PAT was rotated: %r" % pats)
        self.emu.revoke_pat(pats[0]["token_id"])
        revoked_at = time.time() - started

        rc, rounds, err = self.finish(pat_sdk, 120)
        self.assertEqual(rc, 0, "%s\n%s" % (rounds[-3:], err[-2000:]))
        self.assertGreaterEqual(len(rounds), 50)
        self.assertTrue(all(r["ok"] and r["clusters"] for r in rounds))
        self.assertGreaterEqual(len([r for r in rounds if r["t"] > revoked_at + 1]), 2)
        rc, oauth_rounds, err = self.finish(oauth_sdk, 60)
        self.assertEqual(rc, 0, "%s\n%s" % (oauth_rounds[-3:], err[-2000:]))
        self.assertGreaterEqual(len(oauth_rounds), 50)
        self.assertTrue(all(r["ok"] and r["clusters"] for r in oauth_rounds))
        self.assertGreaterEqual(len(oauth_expiries), 4, "OAuth tokens were refreshed")
        self.assertGreaterEqual(self.emu.counters()["clusters_list"],
                                len(rounds) + len(oauth_rounds))
        self.assert_no_secret(self.daemon.log())
        print("\nPAT SDK: %d rounds, %d after the first PAT was revoked at t=%.0f s; PATs %d; "
              "OAuth SDK: %d rounds, %d distinct OAuth token expiries"
              % (len(rounds), len([r for r in rounds if r["t"] > revoked_at + 1]), revoked_at,
                 len(pats), len(oauth_rounds), len(oauth_expiries)), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
