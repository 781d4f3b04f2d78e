"""Issue 22 part 3, on the host: a job in a container of its own, i.e. its own network namespace and
user namespace (`unshare --user --map-root-user --net`, entered as a host uid that is no one's, as
rootless podman and `systemd-nspawn --private-users=pick` map a container's root), reaching
dbxcredd only through the Unix socket.

Shows: `dbxcred token` works in it; `dbxcred exec --sdk` serves the real Databricks JS SDK there
(the daemon has no loopback port, and the host's 127.0.0.1 is not the job's); the daemon sees the
job's host-side uid (what `allow` must name), and a job whose host uid is not allowed gets 403 with
the reason. Needs root (it picks the host uid) and unshare(1); skips otherwise.

Run: cd tests/e2e && DBXCRED_BIN_DIR=<build dir> python3 -m unittest -v test_containers
"""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import unittest

from harness import DBXCRED, NODE_MODULES, E2ETestCase, ensure_npm_clients
from test_databricks_cli import tcp_listeners_of

HERE = os.path.dirname(os.path.abspath(__file__))
JOB_UID = 231072  # the first subordinate uid Debian gives the first user (/etc/subuid)
OTHER_UID = JOB_UID + 65536


def can_unshare():
    if os.getuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    r = subprocess.run(["setpriv", "--reuid=%d" % JOB_UID, "--regid=%d" % JOB_UID,
                        "--clear-groups", "unshare", "--user", "--map-root-user", "--net", "true"],
                       capture_output=True)
    return r.returncode == 0


# The job's egress to the emulator (a container's network, here a Unix socket): inside the job's
# network namespace it listens on the emulator's 127.0.0.1 port and passes each connection on
# through EGRESS, a Unix socket served on the host's side by Egress below.
JOB_EGRESS = r"""
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    u = socket.socket(socket.AF_UNIX); u.connect(path)
    for a, b in ((c, u), (u, c)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"""


class Egress:
    """The host's end: a Unix socket whose connections go to 127.0.0.1:port (the emulator)."""

    def __init__(self, path, port):
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        os.chmod(path, 0o666)
        self.srv.listen(16)
        self.port = port
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            t = socket.create_connection(("127.0.0.1", self.port))
            for a, b in ((c, t), (t, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while (d := a.recv(65536)):
                b.sendall(d)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.srv.close()


@unittest.skipUnless(can_unshare(), "needs root, setpriv and unshare with user namespaces")
class ContainerJobTest(E2ETestCase):
    def start(self, allow, more=None, **ws):
        # The socket as a container gets it: its directory bind-mounted (here: the same path),
        # mode 0666 since a user namespace cannot carry the host's dbxcred group.
        cred = self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=True)
        run = os.path.join(self.tmp, "d0", "run")
        os.makedirs(run)
        for p in (self.tmp, os.path.dirname(run), run):
            os.chmod(p, 0o755)
        workspaces = {"prod": self.workspace(allow=allow, **ws)}
        workspaces.update(more or {})
        return self.start_daemon({"sp": cred}, workspaces,
                                 extra={"socket": {"path": os.path.join(run, "dbxcred.sock"),
                                                   "mode": "0666"}})

    def job(self, d, script, uid=JOB_UID, env=None, timeout=60):
        """Runs `sh -c script` as host uid `uid`, root in a new user namespace, in a new network
        namespace whose loopback is brought up (as Docker, podman and nspawn do)."""
        e = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/nonexistent",
             "DBXCRED_SOCKET": d.socket, "DBXCRED": DBXCRED}
        e.update(env or {})
        return subprocess.run(
            ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
             "unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c",
             "ip link set lo up && " + script], capture_output=True, text=True, env=e,
            timeout=timeout)

    def audit(self, d):
        r = d.cli("audit", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def test_token_in_a_user_namespace_and_the_daemon_sees_the_host_uid(self):
        d = self.start({"uids": [JOB_UID]})
        r = self.job(d, 'id -u; "$DBXCRED" token -w prod')
        self.assertEqual(r.returncode, 0, r.stderr)
        inside_uid, token = r.stdout.split()
        self.secrets.append(token)
        self.assertEqual(inside_uid, "0", "root inside its user namespace")
        self.assertTrue(token.startswith("dapi"))
        served = [a for a in self.audit(d) if a.get("kind") == "token"]
        self.assertEqual([(a["uid"], a["outcome"]) for a in served], [(JOB_UID, "served")],
                         "the daemon sees the job's host-side uid, not 0")
        self.assert_no_secret(r.stderr, d.log())

    def test_a_host_uid_not_in_allow_gets_403_with_the_reason(self):
        d = self.start({"uids": [JOB_UID]})
        r = self.job(d, '"$DBXCRED" token -w prod', uid=OTHER_UID)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("uid %d" % OTHER_UID, r.stderr)  # the uid the daemon saw, named
        self.assertEqual(r.stdout, "")
        denied = [a for a in self.audit(d) if a.get("outcome") == "denied"]
        self.assertEqual([a["uid"] for a in denied], [OTHER_UID])
        self.assertTrue(denied[0].get("reason"))

    def test_the_relay_serves_in_the_jobs_own_network_namespace(self):
        d = self.start({"uids": [JOB_UID]})
        self.assertEqual(tcp_listeners_of(d.proc.pid), 0)
        probe = ("import json, os, urllib.request\n"
                 "req = urllib.request.Request(os.environ['DATABRICKS_METADATA_SERVICE_URL'], "
                 "headers={'X-Databricks-Metadata-Version': '1', "
                 "'X-Databricks-Host': os.environ['DATABRICKS_HOST']})\n"
                 "b = json.load(urllib.request.urlopen(req, timeout=10))\n"
                 "print(sorted(b), b['access_token'][:4])\n")
        r = self.job(d, '"$DBXCRED" exec --sdk -w prod -- python3 -c "$PROBE"',
                     env={"PROBE": probe})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "['access_token', 'expires_on', 'token_type'] dapi")

    def test_allow_executables_by_sha256_holds_across_mount_namespaces(self):
        # The job runs dbxcred from a mount of its own (/mnt, bound from a directory of the host):
        # the daemon reads the program's path as the job sees it, which names nothing on the host.
        jobbin = os.path.join(self.tmp, "jobbin")
        os.makedirs(jobbin)
        os.chmod(jobbin, 0o755)
        shutil.copy(DBXCRED, os.path.join(jobbin, "dbxcred"))
        with open(DBXCRED, "rb") as f:
            mine = hashlib.sha256(f.read()).hexdigest()
        with open(os.path.join(os.path.dirname(DBXCRED), "databricks-auth"), "rb") as f:
            other = hashlib.sha256(f.read()).hexdigest()
        # Three allow lists on one service principal: its Entra token is served on none of them
        # (docs/SECURITY.md "Workspaces sharing a credential"); `token` is each one's own PAT.
        d = self.start({"uids": [JOB_UID], "executables": [{"sha256": mine}]},
                       serve_entra_token=False, more={
            "bypath": self.workspace(allow={"uids": [JOB_UID],
                                            "executables": ["/mnt/dbxcred"]},
                                     serve_entra_token=False),
            "othersha": self.workspace(allow={"uids": [JOB_UID],
                                              "executables": [{"sha256": other}]},
                                       serve_entra_token=False)})
        self.assertFalse(os.path.exists("/mnt/dbxcred"))
        r = self.job(d, "mount --bind %s /mnt && for w in prod bypath othersha; do "
                        "/mnt/dbxcred token -w $w >/dev/null; echo $w=$?; done" % jobbin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["prod=0", "bypath=4", "othersha=4"], r.stderr)
        self.assertIn("not reachable by its path from the daemon", r.stderr)  # the reason
        records = [a for a in self.audit(d) if a.get("kind") == "token"]
        by_ws = {a["workspace"]: a for a in records}
        self.assertEqual(by_ws["prod"]["outcome"], "served")
        self.assertEqual(by_ws["prod"]["exe"], "/mnt/dbxcred", "the job's view of the path")
        self.assertEqual(by_ws["bypath"]["outcome"], "denied")
        self.assertEqual(by_ws["othersha"]["outcome"], "denied")

    def test_the_real_js_sdk_lists_clusters_through_the_relay(self):
        problem = ensure_npm_clients()
        if problem:
            self.skipTest(problem)
        d = self.start({"uids": [JOB_UID]})
        egress_path = os.path.join(self.tmp, "egress.sock")
        egress = Egress(egress_path, self.emu.port)
        self.addCleanup(egress.close)
        ca = os.path.join(self.tmp, "ca.pem")
        shutil.copy(self.emu.ca_file, ca)
        os.chmod(ca, 0o644)
        # node_modules must be readable by the job's uid (it is, 0755 from npm ci under root).
        script = ('python3 -c "$EGRESS" %d %s > egress.out 2>&1 & eg=$!; '
                  'for i in $(seq 100); do grep -q ready egress.out 2>/dev/null && break; '
                  'sleep 0.05; done; '
                  '"$DBXCRED" exec --sdk -w prod -- node %s 0 1; rc=$?; kill $eg; exit $rc'
                  % (self.emu.port, egress_path, os.path.join(HERE, "js", "databricks_clusters.js")))
        job_dir = os.path.join(self.tmp, "job")
        os.makedirs(job_dir)
        os.chown(job_dir, JOB_UID, JOB_UID)
        r = self.job(d, "cd %s && %s" % (job_dir, script),
                     env={"NODE_PATH": NODE_MODULES, "NODE_EXTRA_CA_CERTS": ca,
                          "EGRESS": JOB_EGRESS}, timeout=120)
        self.assert_no_secret(r.stdout, r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-2000:])
        rounds = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        self.assertTrue(rounds and all(x["ok"] and x["clusters"] for x in rounds), rounds)
        served = [a for a in self.audit(d) if a.get("kind") == "token" and
                  a.get("outcome") == "served"]
        self.assertTrue(served and all(a["uid"] == JOB_UID for a in served), served)

if __name__ == "__main__":
    unittest.main()
