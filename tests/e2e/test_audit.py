"""Audit records, `dbxcred audit`, allow.executables and the per-uid rate limit (issue 14,
SPEC.md "Audit"): real daemon, real CLI, real emulator; other users played by `nobody`."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys

from harness import DBXCRED, E2ETestCase, poll_until, unix_get
from test_sdk import free_port, http_get

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


RAW_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % sys.argv[2]).encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b" ")[1].decode())
"""


class AuditTestCase(E2ETestCase):
    def setUp(self):
        super().setUp()
        # `nobody` must reach the socket: the temp dir and the socket open to others.
        os.chmod(self.tmp, 0o755)
        self.served = []  # every token value a client got: none may appear in the audit file

    def start(self, workspaces, extra=None, creds=None):
        cred = self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=True)
        self.audit_path = os.path.join(self.tmp, "audit.jsonl")
        # The daemon's folder and socket open to `nobody` (the socket folder made before start).
        home = os.path.join(self.tmp, f"d{len(self.daemons)}")
        run = os.path.join(home, "run")
        os.makedirs(run)
        os.chmod(home, 0o755)
        os.chmod(run, 0o755)
        cfg = {"audit": {"path": self.audit_path},
               "socket": {"path": os.path.join(run, "dbxcred.sock"), "mode": "0666"}}
        cfg.update(extra or {})
        return self.start_daemon({"sp": cred, **(creds or {})}, workspaces, extra=cfg)

    def records(self, count, path=None):
        """The audit file's records once it holds at least `count` (it is flushed every second)."""
        def read():
            try:
                with open(path or self.audit_path) as f:
                    lines = [json.loads(line) for line in f if line.strip()]
            except FileNotFoundError:
                return None
            return lines if len(lines) >= count else None
        return poll_until(read, 10, what=f"{count} audit records")

    def cli_as_nobody(self, d, *args):
        return subprocess.run([DBXCRED, "--socket", d.socket, *args], capture_output=True,
                              text=True, preexec_fn=as_nobody, timeout=60)

    def raw_as_nobody(self, d, path):
        # A Python that `nobody` may run (the test's own may live under /root).
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            self.skipTest(f"no {SYSTEM_PYTHON} for the other-program client")
        return subprocess.run([SYSTEM_PYTHON, "-c", RAW_CLIENT, d.socket, path],
                              capture_output=True, text=True, preexec_fn=as_nobody, timeout=60)

    def assert_no_token_in_file(self):
        """No value a client was served, and no client secret, is anywhere in the audit file."""
        with open(self.audit_path) as f:
            text = f.read()
        self.assertTrue(self.served)
        for v in self.served:
            self.assertGreater(len(v), 20)
            self.assertNotIn(v, text)
            self.assertNotIn(v[-16:], text)  # not even a tail of it
        self.assertNotIn("dapi", text)  # PATs start with it; ids and fingerprints do not
        self.assert_no_secret(text)


class AuditRecordsTest(AuditTestCase):
    def test_every_path_leaves_its_record_and_no_token(self):
        md_port = free_port()
        d = self.start({"prod": self.workspace(allow={"uids": [0]})},
                       extra={"listen": {"metadata_service": {"port": md_port}}})
        # 1. the CLI as an allowed user (root)
        r = d.cli("pat", "-w", "prod")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.served.append(r.stdout.strip())
        r = d.cli("pat", "-w", "prod")  # the cached-PAT fast path records too
        self.assertEqual(r.returncode, 0, r.stderr)
        # 2. a raw socket client (this Python)
        status, body = unix_get(d.socket, "/v1/workspaces/prod/aad?min_valid=120")
        self.assertEqual(status, 200, body)
        self.served.append(body["access_token"])
        # 3. a denied user
        r = self.cli_as_nobody(d, "pat", "-w", "prod")
        self.assertEqual(r.returncode, 4, r.stderr)
        # 4. a loopback client
        env = json.loads(d.cli("env", "--sdk", "-w", "prod", "--shell", "json").stdout)
        path = env["DATABRICKS_METADATA_SERVICE_URL"][len(f"http://127.0.0.1:{md_port}"):]
        status, body = http_get(md_port, path, {"X-Databricks-Metadata-Version": "1",
                                                "X-Databricks-Host": env["DATABRICKS_HOST"]})
        self.assertEqual(status, 200, body)
        self.served.append(body["access_token"])
        self.assertEqual(http_get(md_port, "/wrong-secret/prod")[0], 404)

        recs = self.records(7)
        by = lambda **kw: [x for x in recs if all(x.get(k) == v for k, v in kw.items())]
        cli = by(kind="pat", uid=0, outcome="served")
        self.assertEqual(len(cli), 2, recs)
        for c in cli:
            self.assertEqual(c["exe"], os.path.realpath(DBXCRED))
            self.assertEqual(c["workspace"], "prod")
            self.assertEqual(c["min_valid"], 300)
            self.assertTrue(c["token_id"])
            self.assertIsInstance(c["pid"], int)
            self.assertEqual(c["gid"], 0)
            self.assertTrue(c["time"].endswith("Z"))
        raw = by(kind="aad", outcome="served")[0]
        self.assertEqual(raw["exe"], os.path.realpath(sys.executable))
        self.assertEqual(raw["pid"], os.getpid())
        self.assertEqual(raw["min_valid"], 120)
        self.assertTrue(raw["fingerprint"].startswith("sha256:"))
        denied = by(uid=NOBODY, outcome="denied")[0]
        self.assertEqual(denied["kind"], "pat")
        self.assertEqual(denied["exe"], os.path.realpath(DBXCRED))
        self.assertIn("may not use workspace prod", denied["reason"])
        self.assertIsNone(denied["token_id"])
        loop = by(kind="metadata_service", outcome="served")[0]
        self.assertIsNone(loop["uid"])
        self.assertIsNone(loop["pid"])
        self.assertIsNone(loop["exe"])
        self.assertEqual(loop["workspace"], "prod")
        self.assertEqual(loop["endpoint"], f"127.0.0.1:{md_port}")
        self.assertTrue(loop["token_id"] or loop["fingerprint"])
        self.assertEqual(len(by(kind="metadata_service", outcome="denied")), 1)
        self.assertEqual(len(by(kind="sdk-env", outcome="served")), 1)

        self.assertEqual(os.stat(self.audit_path).st_mode & 0o777, 0o600)
        self.assert_no_token_in_file()

        # `dbxcred audit`: root gets the table and the JSON lines; anyone else is refused.
        r = d.cli("audit")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("TIME"), r.stdout)
        self.assertIn("metadata_service", r.stdout)
        r = d.cli("audit", "--json", "--since", "10m")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertGreaterEqual(len(lines), 7)
        for v in self.served:
            self.assertNotIn(v, r.stdout)
        r = self.cli_as_nobody(d, "audit")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("root", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_file_reopened_on_sighup_also_when_the_config_is_refused(self):
        d = self.start({"prod": self.workspace()})
        self.assertEqual(d.cli("pat", "-w", "prod").returncode, 0)
        self.records(1)
        os.rename(self.audit_path, self.audit_path + ".1")  # logrotate
        d.signal(signal.SIGHUP)
        poll_until(lambda: os.path.exists(self.audit_path), 10, what="the new audit file")
        self.assertEqual(os.stat(self.audit_path).st_mode & 0o777, 0o600)
        self.assertEqual(d.cli("aad", "-w", "prod").returncode, 0)
        self.assertEqual(self.records(1)[0]["kind"], "aad")
        self.assertEqual(len(self.records(1, self.audit_path + ".1")), 1)
        # A refused configuration: the file is reopened all the same.
        with open(d.config_path, "w") as f:
            f.write("{ not json")
        os.rename(self.audit_path, self.audit_path + ".2")
        d.signal(signal.SIGHUP)
        poll_until(lambda: os.path.exists(self.audit_path), 10, what="the reopened audit file")
        poll_until(lambda: "reload refused" in d.log(), 10, what="the refusal")
        self.assertEqual(d.cli("pat", "-w", "prod").returncode, 0)
        self.assertEqual(self.records(1)[0]["kind"], "pat")

    def test_rate_limit_answers_429_with_retry_after_and_a_record(self):
        d = self.start({"prod": self.workspace()},
                       extra={"limits": {"requests_per_second_per_uid": 1,
                                         "request_burst_per_uid": 3}})
        statuses = [unix_get(d.socket, "/v1/workspaces/prod/aad")[0] for _ in range(4)]
        self.assertEqual(statuses[:3], [200, 200, 200])
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(d.socket)
            s.sendall(b"GET /v1/workspaces/prod/aad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head = answer.split(b"\r\n\r\n")[0].decode()
        self.assertIn(" 429 ", head.split("\r\n")[0])
        self.assertIn("Retry-After: ", head)
        self.assertIn(b'"rate_limited"', answer)
        # Another uid is not limited by root's loop.
        r = self.cli_as_nobody(d, "workspaces")
        self.assertEqual(r.returncode, 0, r.stderr)
        limited = [x for x in self.records(5) if x["outcome"] == "denied"]
        self.assertTrue(limited)
        self.assertIn("rate_limited", limited[0]["reason"])


class ExecutablesTest(AuditTestCase):
    def test_executables_rule_admits_the_cli_only(self):
        with open(DBXCRED, "rb") as f:
            right = hashlib.sha256(f.read()).hexdigest()
        link = os.path.join(self.tmp, "dbxcred-link")
        os.symlink(DBXCRED, link)  # symlinks are resolved on both sides
        # One service principal each: their allow lists differ (test_trust).
        creds = {n: self.add_sp(client_id="sp-" + n, name=n) for n in ("byname", "right", "wrong")}
        d = self.start({
            "byname": self.workspace(credential="byname",
                                     allow={"users": ["nobody"], "executables": [link]}),
            "right": self.workspace(credential="right", allow={
                "users": ["nobody"], "executables": [{"path": DBXCRED, "sha256": right}]}),
            "wrong": self.workspace(credential="wrong", allow={
                "users": ["nobody"], "executables": [{"path": DBXCRED, "sha256": "0" * 64}]}),
        }, creds=creds)
        r = self.cli_as_nobody(d, "aad", "-w", "byname")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.served.append(r.stdout.strip())
        # The same uid through another program.
        r = self.raw_as_nobody(d, "/v1/workspaces/byname/aad")
        self.assertEqual(r.stdout.strip(), "403", r.stderr)
        r = self.cli_as_nobody(d, "aad", "-w", "right")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli_as_nobody(d, "aad", "-w", "wrong")
        self.assertEqual(r.returncode, 4)
        self.assertIn("sha256", r.stderr)
        # The listing shows a program only what it may use.
        r = self.raw_as_nobody(d, "/v1/workspaces")
        self.assertEqual(r.stdout.strip(), "200")
        recs = self.records(4)
        py = [x for x in recs if x["workspace"] == "byname" and x["outcome"] == "denied"][0]
        self.assertEqual(py["exe"], os.path.realpath(SYSTEM_PYTHON))
        self.assertIn("is not in allow.executables", py["reason"])
        wrong = [x for x in recs if x["workspace"] == "wrong"][0]
        self.assertEqual(wrong["outcome"], "denied")
        self.assertIn("does not have the sha256", wrong["reason"])
        self.assert_no_token_in_file()


# The attack of issue 21 part 2: a disallowed program (python) connects, forks a child that keeps
# the socket, and execs an allowed program; the child, still python, sends the request. Prints the
# status, the sender's pid and the connecting pid (which then runs the allowed program).
FORK_EXEC_CLIENT = r"""
import os, socket, sys
sock_path, target, allowed = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
r, w = os.pipe()  # not inheritable: closed when the parent's exec completes
parent = os.getpid()
if os.fork() == 0:
    os.close(w)
    os.read(r, 1)  # EOF: the connecting process now runs the allowed program
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
               % target).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print(data.split(b" ")[1].decode(), os.getpid(), parent, flush=True)
    os._exit(0)
os.close(r)
os.execv(allowed, [allowed, "30"])
"""


class SenderTest(AuditTestCase):
    """allow.executables and the audit record judge the process that sent the request, not the
    one that connected (issue 21 part 2, docs/SECURITY.md)."""

    def test_connect_fork_exec_allowed_program_child_sends(self):
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            self.skipTest(f"no {SYSTEM_PYTHON} for the attacking client")
        sleep = os.path.realpath("/usr/bin/sleep")
        d = self.start({"jobs": self.workspace(
            allow={"users": ["nobody"], "executables": [sleep]})})
        p = subprocess.Popen([SYSTEM_PYTHON, "-c", FORK_EXEC_CLIENT, d.socket,
                              "/v1/workspaces/jobs/aad", sleep],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=as_nobody)
        try:
            line = ""
            for line in p.stdout:  # the child prints; the parent (now sleep) never does
                break
            status, sender, connector = line.split()
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertNotEqual(sender, connector)
        recs = self.records(1)
        rec = [x for x in recs if x["workspace"] == "jobs"][-1]
        self.assertEqual(status, "403", rec)
        self.assertEqual(rec["outcome"], "denied")
        self.assertEqual(rec["exe"], os.path.realpath(SYSTEM_PYTHON))
        self.assertEqual(rec["pid"], int(sender))


if __name__ == "__main__":
    import unittest
    unittest.main()
