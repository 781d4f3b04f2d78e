"""Access control and secret hygiene end to end: a second local user, socket modes, secrets from
$CREDENTIALS_DIRECTORY, a non-dumpable daemon, and no token or secret in any output.

The access tests create a local system user (`dbxcred-e2e-other`) and group (`dbxcred-e2e-grp`) and
run the CLI as that user; they need root and are skipped otherwise.
"""
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
import unittest

from harness import DBXCRED, DBXCREDD, E2ETestCase, poll_until, unix_get

OTHER_USER = "dbxcred-e2e-other"
OTHER_GROUP = "dbxcred-e2e-grp"  # a supplementary group of OTHER_USER
IS_ROOT = os.geteuid() == 0
HAVE_TOOLS = all(shutil.which(t) for t in ("useradd", "groupadd", "usermod", "setpriv"))

# argv: socket path, request path. Sends the request on one kept-alive connection, prints the
# status, then again for every line read from stdin.
KEEP_ALIVE_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def ask():
    s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += s.recv(65536)
    print(head.split(b" ")[1].decode(), flush=True)
ask()
for _ in sys.stdin:
    ask()
"""


def ensure_other_user():
    """Creates the test user and its supplementary group once; returns (uid, gid, group gid).
    Tolerates a concurrent test run creating them first (the tools then exit 9)."""
    try:
        grp.getgrnam(OTHER_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", "-f", OTHER_GROUP], check=True)
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                            "--shell", "/usr/sbin/nologin", OTHER_USER],
                           capture_output=True, text=True)
        if r.returncode not in (0, 9):
            raise AssertionError("useradd failed: " + r.stderr)
    if OTHER_USER not in grp.getgrnam(OTHER_GROUP).gr_mem:
        subprocess.run(["usermod", "-a", "-G", OTHER_GROUP, OTHER_USER], check=True)
    pw = pwd.getpwnam(OTHER_USER)
    return pw.pw_uid, pw.pw_gid, grp.getgrnam(OTHER_GROUP).gr_gid


@unittest.skipUnless(IS_ROOT and HAVE_TOOLS, "needs root, useradd/groupadd/usermod and setpriv")
class AccessTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.uid, self.gid, self.sup_gid = ensure_other_user()
        # The other user must reach the socket below the test's temp dir (secrets stay 0600).
        os.chmod(self.tmp, 0o711)

    def as_other(self, d, *args, uid=None, groups="--init-groups"):
        e = dict(os.environ)
        e.pop("DBXCRED_WORKSPACE", None)
        e["DBXCRED_SOCKET"] = d.socket
        return subprocess.run(["setpriv", f"--reuid={self.uid if uid is None else uid}",
                               f"--regid={self.gid}", groups, DBXCRED, *args],
                              capture_output=True, text=True, env=e, timeout=60)

    def start(self):
        allow = {
            "closed": {"users": ["root"], "uids": [4242424]},
            "by-uid": {"uids": [self.uid]},
            "by-user": {"users": [OTHER_USER]},
            "by-group": {"groups": [OTHER_GROUP]},
            "open": None,
        }
        # One service principal per workspace: an Entra token of a shared one would reach every
        # workspace of it, and the config refuses that with different allow lists (test_trust).
        creds = {name: self.add_sp(client_id="sp-" + name, name=name) for name in allow}
        ws = {name: self.workspace(credential=name, pat=False, **({"allow": a} if a else {}))
              for name, a in allow.items()}
        return self.start_daemon(creds, ws, extra={
            "socket": {"path": os.path.join(self.tmp, "d0", "run", "dbxcred.sock"),
                       "mode": "0660", "group": OTHER_USER}})

    def test_socket_and_directory_get_the_configured_mode_and_group(self):
        d = self.start()
        st = os.stat(d.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, self.gid)
        dst = os.stat(os.path.dirname(d.socket))
        self.assertEqual(stat.S_IMODE(dst.st_mode), 0o750)
        self.assertEqual(dst.st_gid, self.gid)

    def test_user_not_in_allow_gets_403_and_allowed_ones_succeed(self):
        d = self.start()
        denied = self.as_other(d, "-w", "closed", "aad")
        self.assertEqual(denied.returncode, 4, denied.stdout + denied.stderr)
        self.assertEqual(denied.stdout, "")
        self.assertIn(f"uid {self.uid}", denied.stderr)
        self.assertIn("closed", denied.stderr)
        self.assertRegex(d.log(), rf"denied uid {self.uid} \(pid \d+\) access to workspace closed")
        # Every token request is checked, not only aad (env asks for the PAT).
        for args in (["headers"], ["pat"], ["env"]):
            r = self.as_other(d, "-w", "closed", *args)
            self.assertEqual(r.returncode, 4, f"{args}: {r.stderr}")
        status, body = unix_get(d.socket, "/v1/workspaces")  # as root: everything
        self.assertEqual(len(body["workspaces"]), 5)

        for ws in ("by-uid", "by-user", "by-group", "open"):
            ok = self.as_other(d, "-w", ws, "aad")
            self.assertEqual(ok.returncode, 0, f"{ws}: {ok.stderr}")
            self.assertTrue(ok.stdout.strip())

        listed = self.as_other(d, "workspaces")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertNotIn("closed", listed.stdout)
        for ws in ("by-uid", "by-user", "by-group", "open"):
            self.assertIn(ws, listed.stdout)
        # uid 0 is allowed everywhere, `allow` or not.
        self.assertEqual(d.cli("-w", "closed", "aad").returncode, 0)
        self.assert_no_secret(denied.stderr, listed.stdout, d.log())

    def test_allow_groups_count_the_process_groups_and_the_group_database(self):
        d = self.start()
        # A process without the group (dropped, or started before the user was added to it): the
        # group database still lists the user in it.
        r = self.as_other(d, "-w", "by-group", "aad", groups="--clear-groups")
        self.assertEqual(r.returncode, 0, r.stderr)
        # A process given the group directly (a unit's SupplementaryGroups=) by a uid that no group
        # database lists anywhere (no passwd entry either): the kernel's groups count.
        stranger = 4242425
        r = self.as_other(d, "-w", "by-group", "aad", uid=stranger,
                          groups=f"--groups={self.sup_gid}")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.as_other(d, "-w", "by-group", "aad", uid=stranger, groups="--clear-groups")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(f"uid {stranger}", r.stderr)

    def test_a_group_added_by_a_reload_applies_to_an_open_connection(self):
        # One keep-alive connection of the other user: denied on "later" (no group named yet, so
        # no name lookup at all); the reload names its group; the same connection's next request
        # is judged with the group resolved (off the event loop) before it is routed.
        creds = {"sp": self.add_sp()}
        d = self.start_daemon(creds, {"later": self.workspace(pat=False, allow={"uids": [4242424]})},
                              extra={"socket": {"path": os.path.join(self.tmp, "d0", "run",
                                                                     "dbxcred.sock"),
                                                "mode": "0660", "group": OTHER_USER}})
        client = subprocess.Popen(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
             "python3", "-c", KEEP_ALIVE_CLIENT, d.socket, "/v1/workspaces/later/aad"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(client.stdout.readline().strip(), "403")
            d.config["workspaces"]["later"]["allow"] = {"groups": [OTHER_GROUP]}
            d.write_config()
            d.signal(signal.SIGHUP)
            poll_until(lambda: "configuration reloaded" in d.log(), 10, what="the reload")
            client.stdin.write("again\n")
            client.stdin.flush()
            self.assertEqual(client.stdout.readline().strip(), "200", d.log())
        finally:
            client.kill()
            client.wait()

    def test_user_outside_the_socket_group_cannot_connect(self):
        d = self.start()
        os.chown(d.socket, -1, 0)  # now root's group only
        r = self.as_other(d, "-w", "open", "aad")
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_daemon_as_unprivileged_user_is_not_dumpable(self):
        """Run as the service user would: the kernel shows a non-dumpable process's /proc files as
        root's, so a same-uid process can neither read its memory nor ptrace it."""
        from harness import Daemon
        d = Daemon(self.emu, os.path.join(self.tmp, "unpriv"), {"sp": self.add_sp(name="u")},
                   {"prod": self.workspace(pat=False)})
        os.makedirs(d.tmp)
        ca = os.path.join(d.tmp, "ca.pem")  # the emulator's own dir is root's alone
        shutil.copy(self.emu.ca_file, ca)
        os.chmod(ca, 0o644)
        d.config["tls"]["ca_file"] = ca
        d.write_config()
        for p in (d.tmp, d.config_path, d.config["credentials"]["sp"]["client_secret_file"]):
            os.chown(p, self.uid, self.gid)
        stderr = open(d.stderr_path, "ab")
        d.proc = subprocess.Popen(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                                   "--init-groups", DBXCREDD, "--config", d.config_path],
                                  stdout=subprocess.DEVNULL, stderr=stderr)
        d.stderr = stderr
        self.daemons.append(d)
        d.wait_ready()
        # Its own user asks (the CLI believes a daemon of root, the service user or the caller).
        r = self.as_other(d, "aad")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        with open(f"/proc/{d.proc.pid}/status") as f:
            status = f.read()
        self.assertRegex(status, rf"Uid:\s+{self.uid}\s")
        self.assertEqual(os.stat(f"/proc/{d.proc.pid}/mem").st_uid, 0,
                         "a dumpable process's /proc/PID/mem belongs to its own uid")
        self.assertEqual(stat.S_IMODE(os.stat(d.state_dir).st_mode), 0o700)


class SecretsTest(E2ETestCase):
    def test_relative_secret_file_is_read_from_credentials_directory(self):
        creds_dir = os.path.join(self.tmp, "credentials")
        os.makedirs(creds_dir, mode=0o700)
        sp = self.add_sp()
        os.rename(sp["client_secret_file"], os.path.join(creds_dir, "ci-sp.secret"))
        sp["client_secret_file"] = "ci-sp.secret"
        d = self.start_daemon({"sp": sp}, {"prod": self.workspace(pat=False)},
                              env={"CREDENTIALS_DIRECTORY": creds_dir})
        r = d.cli("aad")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        # Without $CREDENTIALS_DIRECTORY the same config looks next to itself and finds nothing.
        check = subprocess.run([DBXCREDD, "--check-config", "--config", d.config_path],
                               capture_output=True, text=True,
                               env={k: v for k, v in os.environ.items()
                                    if k != "CREDENTIALS_DIRECTORY"})
        self.assertEqual(check.returncode, 2, check.stdout)
        self.assertIn("ci-sp.secret", check.stderr)
        self.assert_no_secret(r.stderr, d.log(), check.stdout, check.stderr)

    def test_group_readable_secret_file_is_refused(self):
        sp = self.add_sp()
        os.chmod(sp["client_secret_file"], 0o640)
        d = self.start_daemon({"sp": sp}, {"prod": self.workspace(pat=False)}, wait=False)
        self.assertEqual(d.proc.wait(timeout=10), 2)
        self.assertIn("client_secret_file", d.log())
        self.assert_no_secret(d.log())

    def test_world_writable_socket_directory_is_refused(self):
        run = os.path.join(self.tmp, "d0", "run")
        os.makedirs(run)
        os.chmod(run, 0o777)
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace(pat=False)},
                              wait=False)
        self.assertEqual(d.proc.wait(timeout=10), 1)
        self.assertIn("world-writable", d.log())

    def test_whole_pat_cycle_at_debug_leaks_no_token_or_secret(self):
        creds = {"sp": self.add_sp()}
        ws = {"prod": self.workspace(
            management_token=True,
            resource_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/"
                        "workspaces/w",
            # rotate_before is capped at half a PAT's lifetime: rotation 45 s after a mint.
            # max_active 4: the four PATs below are all promised (min_valid) when `env` asks.
            pat={"lifetime": "90s", "rotate_before": "80s", "max_active": 4})}
        d = self.start_daemon(creds, ws)
        self.assertEqual(d.config["log"]["level"], "debug")
        tokens, stderrs, others = set(), [], []

        def run(*args):
            r = d.cli(*args)
            self.assertEqual(r.returncode, 0, f"{args}: {r.stderr}\n{d.log()}")
            stderrs.append(r.stderr)
            return r.stdout

        first = run("pat", "--min-valid", "30s").strip()
        tokens.add(first)
        # The background rotation mints the next PAT before the first one runs short.
        deadline = time.time() + 75
        while self.emu.counters()["token_create"] < 2 and time.time() < deadline:
            time.sleep(1)
        self.assertGreaterEqual(self.emu.counters()["token_create"], 2, d.log())
        rotated = run("pat", "--min-valid", "30s").strip()
        self.assertNotEqual(first, rotated)
        tokens.add(rotated)
        # A client needing more than the current PAT has left makes the daemon mint a new one
        # (lifetime min_valid + margin) that supersedes it; the old ones are deleted later.
        longer = run("pat", "--min-valid", "200s").strip()
        self.assertNotIn(longer, (first, rotated))
        tokens.add(longer)
        tokens.add(run("aad").strip())
        for line in run("headers", "--format", "http").splitlines():
            name, _, value = line.partition(": ")
            if name in ("Authorization", "X-Databricks-Azure-SP-Management-Token"):
                tokens.add(value.removeprefix("Bearer "))
        env = run("env", "--shell", "json")
        for m in re.finditer(r'"DATABRICKS_TOKEN"\s*:\s*"([^"]+)"', env):
            tokens.add(m.group(1))
        others.append(run("status"))
        others.append(run("status", "--json"))
        others.append(run("workspaces"))
        others.append(str(unix_get(d.socket, "/metrics")[1]))
        others.append(str(unix_get(d.socket, "/v1/status")[1]))
        self.assertGreaterEqual(self.emu.counters()["token_create"], 3)
        # The PATs the emulator holds for us carry our comment and no value anywhere but stdout.
        d.stop()
        outputs = stderrs + others + [d.log()]
        self.assertIn("debug", d.log())
        tokens.discard("")
        self.assertGreaterEqual(len(tokens), 5)
        for t in tokens:
            self.assertGreater(len(t), 10)
            for out in outputs:
                self.assertNotIn(t, out)
                # Nor a JWT's signature part alone (a truncated log of a token).
                if t.count(".") == 2:
                    self.assertNotIn(t.rsplit(".", 1)[1], out)
        self.assert_no_secret(*outputs)


if __name__ == "__main__":
    unittest.main()
