"""Loopback ports held by systemd (SPEC "Loopback endpoints"): dbxcredd adopts the TCP sockets that
systemd passes by FileDescriptorName= (metadata_service, managed_identity), checks them against the
configuration, and while it is stopped the ports stay held. Without systemd, a port it cannot bind
is refused naming the port and who holds it.

The test plays systemd: it owns the listening sockets and passes them as fds 3… with LISTEN_PID,
LISTEN_FDS and LISTEN_FDNAMES, exactly as the service manager does, and keeps them across restarts.
"""
import errno
import json
import os
import signal
import socket
import subprocess

from harness import DBXCREDD, Daemon, E2ETestCase
from test_sdk import http_get


def listening_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


class SystemdLoopbackTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.emu.add_principal("sp-client", workspace_user=True)
        self.api = socket.socket(socket.AF_UNIX)
        self.api_path = os.path.join(self.tmp, "api.sock")
        self.api.bind(self.api_path)
        self.api.listen(16)
        self.md = listening_tcp()
        self.addCleanup(self.api.close)
        self.addCleanup(self.md.close)

    def daemon(self, md_port):
        d = Daemon(self.emu, os.path.join(self.tmp, "d%d" % len(self.daemons)),
                   {"sp": self.add_sp()}, {"prod": self.workspace()},
                   {"listen": {"metadata_service": {"port": md_port}}})
        os.makedirs(d.tmp)
        self.daemons.append(d)
        d.write_config()
        d.socket = self.api_path  # the config's socket.path is not used: systemd passes one
        return d

    def activate(self, d, sockets):
        """Starts the daemon as systemd would, passing `sockets` [(socket, name)] as fds 3…"""
        fds = [s.fileno() for s, _ in sockets]

        def place_fds():
            for i, fd in enumerate(fds):
                os.dup2(fd, 100 + i)
            for i in range(len(fds)):
                os.dup2(100 + i, 3 + i)
                os.close(100 + i)

        env = dict(d.env, LISTEN_FDS=str(len(fds)),
                   LISTEN_FDNAMES=":".join(name for _, name in sockets))
        if getattr(d, "stderr", None):
            d.stderr.close()
        d.stderr = open(d.stderr_path, "ab")
        d.proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", DBXCREDD,
                                   "--config", d.config_path], env=env, close_fds=False,
                                  preexec_fn=place_fds, stdout=subprocess.DEVNULL,
                                  stderr=d.stderr)
        return d

    def metadata(self, d, port):
        r = d.cli("env", "--sdk", "--shell", "json")
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        env = json.loads(r.stdout)
        prefix = "http://127.0.0.1:%d" % port
        self.assertTrue(env["DATABRICKS_METADATA_SERVICE_URL"].startswith(prefix), "wrong port")
        path = env["DATABRICKS_METADATA_SERVICE_URL"][len(prefix):]
        return http_get(port, path, {"X-Databricks-Metadata-Version": "1",
                                     "X-Databricks-Host": env["DATABRICKS_HOST"]})

    def test_passed_port_is_served_and_stays_held_while_stopped_and_after_restart(self):
        port = self.md.getsockname()[1]
        d = self.activate(self.daemon(port), [(self.api, "dbxcredd.socket"),
                                              (self.md, "metadata_service")])
        d.wait_ready()
        self.assertIn("serving on 127.0.0.1:%d, the socket passed by systemd" % port, d.log())
        status, body = self.metadata(d, port)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["access_token"].startswith("dapi"))

        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=15), 0, d.log())
        # Stopped: the attack, a local user binding the port to collect the SDKs' secrets, fails.
        with socket.socket() as squatter:
            with self.assertRaises(OSError) as cm:
                squatter.bind(("127.0.0.1", port))
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)

        # Started again on the same sockets: the same secret URL works (secrets survive restarts).
        self.activate(d, [(self.api, "dbxcredd.socket"), (self.md, "metadata_service")])
        d.wait_ready()
        status, body = self.metadata(d, port)
        self.assertEqual(status, 200, body)
        self.assert_no_secret(d.log())

    def test_config_port_differing_from_the_passed_one_is_a_clear_error(self):
        held = self.md.getsockname()[1]
        other = held + 1 if held < 65535 else held - 1
        d = self.activate(self.daemon(other), [(self.api, "dbxcredd.socket"),
                                               (self.md, "metadata_service")])
        self.assertEqual(d.proc.wait(timeout=15), 1, d.log())
        line = [ln for ln in d.log().splitlines() if "listen.metadata_service.port" in ln]
        self.assertTrue(line, d.log())
        self.assertIn("is %d but systemd passes 127.0.0.1:%d" % (other, held), line[0])

    def test_passed_port_without_a_listener_in_the_config_is_a_clear_error(self):
        d = self.daemon(self.md.getsockname()[1])
        del d.config["listen"]
        d.write_config()
        self.activate(d, [(self.api, "dbxcredd.socket"), (self.md, "metadata_service")])
        self.assertEqual(d.proc.wait(timeout=15), 1, d.log())
        self.assertIn("listen.metadata_service.port is not set but systemd passes", d.log())

    def test_without_systemd_a_taken_port_names_the_port_and_its_holder(self):
        port = self.md.getsockname()[1]  # held by this test process
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()},
                              extra={"listen": {"metadata_service": {"port": port}}}, wait=False)
        self.assertEqual(d.proc.wait(timeout=15), 1, d.log())
        self.assertIn("127.0.0.1:%d (listen.metadata_service.port)" % port, d.log())
        self.assertIn("held by pid %d" % os.getpid(), d.log())
