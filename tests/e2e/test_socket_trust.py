"""Who may stand where the daemon's socket and loopback ports are (issue 21, parts 3 and 5):
a socket directory that others may write is refused; the CLI believes only a server run by root,
by the caller or by the service user; a squatted loopback port and `dbxcred rotate-secrets`
rotate the loopback secrets, and the old ones stop working at once. Other users are `nobody`."""
import json
import os
import socket
import subprocess
import unittest

from harness import DBXCRED, E2ETestCase, poll_until
from test_audit import NOBODY, SYSTEM_PYTHON, as_nobody
from test_sdk import LoopbackTestCase, free_port, http_get

IS_ROOT = os.geteuid() == 0

# argv: socket path. Listens there (as whoever runs it) and answers every request with a "PAT";
# prints "ready" once listening.
SQUATTER = r"""
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(16)
print("ready", flush=True)
body = b'{"token":"dapi-squatter-token","token_id":"x","expires_at":4102444800,' \
       b'"host":"https://evil.example","workspaces":[{"name":"prod","host":"https://evil.example","pat":true}]}'
while True:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    try:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass  # a client that refused to listen
    c.close()
"""


class SocketDirectoryTest(E2ETestCase):
    """3a: the daemon refuses a socket directory that anyone but root and itself may write."""

    def start_in(self, mode, env=None):
        run = os.path.join(self.tmp, "d0", "run")
        os.makedirs(run)
        os.chmod(run, mode)
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace(pat=False)},
                              env=env, wait=False)
        return d, run

    def assert_refused_naming(self, d, run, mode_text):
        try:
            rc = d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("the daemon serves from " + run + " (mode " + mode_text + ")")
        self.assertEqual(rc, 1, d.log())
        lines = [line for line in d.log().splitlines() if run in line]
        self.assertEqual(len(lines), 1, d.log())
        self.assertIn(mode_text, lines[0])
        self.assertFalse(os.path.exists(os.path.join(run, "dbxcred.sock")))

    def test_sticky_world_writable_directory_is_refused(self):
        # Stands in for /tmp: anyone may create the socket's name there before the daemon does.
        d, run = self.start_in(0o1777)
        self.assert_refused_naming(d, run, "1777")

    def test_group_writable_directory_is_refused(self):
        # A member of the group could unlink the live socket and bind its own.
        d, run = self.start_in(0o770)
        self.assert_refused_naming(d, run, "0770")

    def test_the_runtime_directory_systemd_made_for_the_service_is_accepted(self):
        run = os.path.join(self.tmp, "d0", "run")
        d, _ = self.start_in(0o770, env={"RUNTIME_DIRECTORY": "/run/other:" + run})
        d.wait_ready()
        self.assertEqual(d.get("/healthz")[0], 200)

    def test_a_directory_only_root_and_the_daemon_write_is_accepted(self):
        d, _ = self.start_in(0o755)
        d.wait_ready()
        self.assertEqual(d.get("/healthz")[0], 200)


@unittest.skipUnless(IS_ROOT, "needs root (the squatter runs as nobody)")
class SquatterTest(E2ETestCase):
    """3b: a socket another user serves on the configured path is not believed."""

    def squat(self):
        sq = os.path.join(self.tmp, "sq")
        os.makedirs(sq)
        os.chmod(self.tmp, 0o755)
        os.chown(sq, NOBODY, NOBODY)
        path = os.path.join(sq, "dbxcred.sock")
        proc = subprocess.Popen([SYSTEM_PYTHON, "-c", SQUATTER, path], stdout=subprocess.PIPE,
                                text=True, preexec_fn=as_nobody)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.assertEqual(proc.stdout.readline().strip(), "ready")
        return path, proc.pid

    def test_cli_refuses_a_server_of_another_user_naming_it_and_the_flag(self):
        path, pid = self.squat()
        r = subprocess.run([DBXCRED, "--socket", path, "-w", "prod", "pat"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotIn("squatter", r.stdout + r.stderr)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn(f"uid {NOBODY}", r.stderr)
        self.assertIn(f"pid {pid}", r.stderr)
        self.assertIn("--insecure-socket", r.stderr)
        # Every command goes through the same check, not only pat.
        r = subprocess.run([DBXCRED, "--socket", path, "workspaces"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_insecure_socket_overrides(self):
        path, _ = self.squat()
        r = subprocess.run([DBXCRED, "--socket", path, "--insecure-socket", "-w", "prod", "pat"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "dapi-squatter-token\n")

    def test_service_uid_from_the_environment_for_a_container_without_the_user(self):
        # A container's /etc/passwd has no dbxcred user: DBXCRED_SERVICE_UID names its uid. It
        # names that uid only: another one is still refused.
        path, _ = self.squat()
        env = dict(os.environ, DBXCRED_SERVICE_UID=str(NOBODY))
        r = subprocess.run([DBXCRED, "--socket", path, "-w", "prod", "pat"], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        env["DBXCRED_SERVICE_UID"] = str(NOBODY - 1)
        r = subprocess.run([DBXCRED, "--socket", path, "-w", "prod", "pat"], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        env["DBXCRED_SERVICE_UID"] = "%d junk" % NOBODY
        r = subprocess.run([DBXCRED, "--socket", path, "-w", "prod", "pat"], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_the_callers_own_server_is_believed(self):
        path, _ = self.squat()
        r = subprocess.run([DBXCRED, "--socket", path, "-w", "prod", "pat"], capture_output=True,
                           text=True, timeout=30, preexec_fn=as_nobody)
        self.assertEqual(r.returncode, 0, r.stderr)


class LoopbackRotationTest(LoopbackTestCase):
    """5: whatever a squatter of a loopback port or an old copy of sdk-env holds stops working."""

    def hdr(self, env):
        return {"X-Databricks-Metadata-Version": "1", "X-Databricks-Host": env["DATABRICKS_HOST"]}

    def test_a_port_taken_at_start_rotates_its_secret(self):
        d = self.start_with_listeners()
        before = self.env_of(d, "--sdk")
        old_path = self.md_path(before)
        self.secrets.append(old_path.split("/")[1])
        d.stop()
        # Another local user binds the port while the daemon is down (a restart without systemd):
        # it may have answered an SDK's poll and kept the URL's secret.
        with socket.socket() as taken:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            taken.bind(("127.0.0.1", self.md_port))
            taken.listen()
            d.start(wait=False)
            self.assertEqual(d.proc.wait(timeout=10), 1, d.log())
        self.assertIn("listen.metadata_service.port", d.log())
        self.assertIn("rotated", d.log())
        d.stderr.close()
        d.start()
        after = self.env_of(d, "--sdk")
        new_path = self.md_path(after)
        self.secrets.append(new_path.split("/")[1])
        self.assertNotEqual(new_path, old_path)
        self.assertEqual(http_get(self.md_port, old_path, self.hdr(after))[0], 404)
        status, body = http_get(self.md_port, new_path, self.hdr(after))
        self.assertEqual(status, 200, body)
        self.secrets.append(body["access_token"])
        self.assert_no_secret(d.log())

    @unittest.skipUnless(IS_ROOT, "needs root (the other user is nobody)")
    def test_rotate_secrets_kills_the_old_ones_at_once_and_only_root_may(self):
        os.chmod(self.tmp, 0o755)
        run = os.path.join(self.tmp, "d0", "run")
        os.makedirs(run)
        os.chmod(os.path.dirname(run), 0o755)
        os.chmod(run, 0o755)
        d = self.start_with_listeners(extra={"socket": {"path": os.path.join(run, "dbxcred.sock"),
                                                        "mode": "0666"}})
        before = self.env_of(d, "--sdk")
        old_path = self.md_path(before)
        old_mi = self.env_of(d, "--azure")["IDENTITY_HEADER"]
        self.secrets += [old_path.split("/")[1], old_mi]
        secret_file = os.path.join(d.state_dir, "metadata-service.secret")
        with open(secret_file) as f:
            stored = f.read()
        self.secrets.append(stored.strip())

        other = subprocess.run([DBXCRED, "--socket", d.socket, "rotate-secrets"],
                               capture_output=True, text=True, preexec_fn=as_nobody, timeout=30)
        self.assertEqual(other.returncode, 4, other.stdout + other.stderr)
        self.assertIn("root", other.stderr)
        self.assertEqual(self.env_of(d, "--sdk"), before)

        r = d.cli("rotate-secrets")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        self.assertIn("metadata_service", r.stdout)
        self.assertIn("managed_identity", r.stdout)
        # At once, with no reload: the old URL and header are dead, the new ones work.
        self.assertEqual(http_get(self.md_port, old_path, self.hdr(before))[0], 404)
        mi = "/msi/token?resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d&api-version=2019-08-01"
        self.assertEqual(http_get(self.mi_port, mi, {"X-IDENTITY-HEADER": old_mi})[0], 401)
        after = self.env_of(d, "--sdk")
        new_path = self.md_path(after)
        self.secrets.append(new_path.split("/")[1])
        self.assertNotEqual(new_path, old_path)
        status, body = http_get(self.md_port, new_path, self.hdr(after))
        self.assertEqual(status, 200, body)
        self.secrets.append(body["access_token"])
        new_mi = self.env_of(d, "--azure")["IDENTITY_HEADER"]
        self.secrets.append(new_mi)
        self.assertEqual(http_get(self.mi_port, mi, {"X-IDENTITY-HEADER": new_mi})[0], 200)
        # On disk too (a restart keeps the new ones), still 0600.
        self.assertEqual(os.stat(secret_file).st_mode & 0o777, 0o600)
        with open(secret_file) as f:
            self.assertNotEqual(f.read(), stored)
        d.stop()
        d.start()
        self.assertEqual(self.env_of(d, "--sdk"), after)
        self.assert_no_secret(d.log(), r.stdout, r.stderr, other.stderr)


if __name__ == "__main__":
    unittest.main()
