"""dbxcredd as a systemd service: socket activation, sd_notify, reload on SIGHUP, drain on SIGTERM.

Runs without systemd itself: `systemd-socket-activate` (Debian's systemd package) passes the
listening socket, and a datagram socket the test binds stands in for NOTIFY_SOCKET.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import DBXCREDD, E2ETestCase, unix_get


class Notifications:
    """An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def env(self):
        return {"NOTIFY_SOCKET": self.path}

    def next(self, timeout=10):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def expect(self, field, timeout=10):
        """Reads messages until one holds `field` (e.g. "READY=1"); returns every message read."""
        seen = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = self.next(max(0.1, deadline - time.time()))
            seen.append(msg)
            if field in msg.split("\n"):
                return seen
        raise AssertionError(f"no {field} in {seen}")

    def close(self):
        self.sock.close()


class SystemdTest(E2ETestCase):
    def wait_for_log(self, d, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in d.log():
                return
            time.sleep(0.05)
        self.fail(f"no {text!r} in the daemon log:\n{d.log()}")

    # -- socket activation ------------------------------------------------------------------
    @unittest.skipUnless(shutil.which("systemd-socket-activate"), "needs systemd-socket-activate")
    def test_daemon_under_systemd_socket_activate_serves_the_cli(self):
        from harness import Daemon
        d = Daemon(self.emu, os.path.join(self.tmp, "act"), {"sp": self.add_sp()},
                   {"prod": self.workspace()})
        os.makedirs(os.path.join(d.tmp, "run"))
        # The config names another path: the daemon must use the socket it was given, not bind.
        d.config["socket"]["path"] = os.path.join(d.tmp, "run", "not-used.sock")
        d.write_config()
        activated = os.path.join(d.tmp, "run", "activated.sock")
        stderr = open(d.stderr_path, "ab")
        proc = subprocess.Popen(["systemd-socket-activate", "-l", activated, DBXCREDD, "--config",
                                 d.config_path], stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.time() + 10
            while not os.path.exists(activated) and time.time() < deadline:
                time.sleep(0.02)
            d.socket = activated
            r = d.cli("aad")
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            self.assertTrue(r.stdout.strip())
            self.assertIn("using the socket passed by systemd", d.log())
            self.assertFalse(os.path.exists(d.config["socket"]["path"]))
            self.assertEqual(d.get("/healthz")[0], 200)
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=10)
            stderr.close()
        self.assertEqual(rc, 0, d.log())

    # -- sd_notify --------------------------------------------------------------------------
    def test_ready_reloading_and_stopping_arrive_at_the_right_moments(self):
        notify = Notifications(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(notify.close)
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()},
                              env=notify.env(), wait=False)
        msgs = notify.expect("READY=1")
        # READY=1 means the socket accepts connections now, without any retry.
        self.assertEqual(unix_get(d.socket, "/healthz")[0], 200)
        self.assertTrue(any(line.startswith("STATUS=") for m in msgs for line in m.split("\n")),
                        msgs)

        d.signal(signal.SIGHUP)
        first = notify.next()
        self.assertIn("RELOADING=1", first.split("\n"))
        notify.expect("READY=1")
        self.assertEqual(unix_get(d.socket, "/healthz")[0], 200)

        d.signal(signal.SIGTERM)
        notify.expect("STOPPING=1")
        self.assertEqual(d.proc.wait(timeout=10), 0, d.log())

    def test_abstract_notify_socket(self):
        name = "dbxcred-e2e-%d-%d" % (os.getpid(), time.monotonic_ns())
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind("\0" + name)
        s.settimeout(10)
        self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace()},
                          env={"NOTIFY_SOCKET": "@" + name}, wait=False)
        self.assertIn("READY=1", s.recv(4096).decode().split("\n"))

    # -- reload -----------------------------------------------------------------------------
    def test_sighup_adds_a_workspace_and_keeps_unchanged_tokens_and_pats(self):
        creds = {"sp": self.add_sp()}
        self.emu.add_principal(client_id="sp-client", workspace_user=True)  # may mint PATs
        d = self.start_daemon(creds, {"prod": self.workspace(pat={"lifetime": "1h",
                                                                  "rotate_before": "20m"})})
        aad_before = d.cli("-w", "prod", "aad")
        pat_before = d.cli("-w", "prod", "pat")
        self.assertEqual(aad_before.returncode, 0, aad_before.stderr)
        self.assertEqual(pat_before.returncode, 0, pat_before.stderr + d.log())
        counters = self.emu.counters()

        # A second service principal for a new workspace on the emulator's other host name.
        d.config["credentials"]["sp2"] = self.add_sp(client_id="sp2-client", name="sp2")
        d.config["workspaces"]["dev"] = self.workspace(credential="sp2", host=self.emu.localhost,
                                                       pat=False)
        d.write_config()
        d.signal(signal.SIGHUP)
        self.wait_for_log(d, "configuration reloaded")

        dev = d.cli("-w", "dev", "aad")
        self.assertEqual(dev.returncode, 0, dev.stderr + d.log())
        self.assertEqual(d.cli("-w", "prod", "aad").stdout, aad_before.stdout)
        self.assertEqual(d.cli("-w", "prod", "pat").stdout, pat_before.stdout)
        after = self.emu.counters()
        # Only sp2's token was fetched; prod's AAD token and PAT were kept, not fetched or minted.
        self.assertEqual(after["aad"], counters["aad"] + 1, d.log())
        self.assertEqual(after["token_create"], counters["token_create"])
        self.assertIn("kept the cached tokens of 1 credential(s) and the PATs of 1 workspace(s)",
                      d.log())
        listed = [w["name"] for w in d.get("/v1/workspaces")[1]["workspaces"]]
        self.assertEqual(sorted(listed), ["dev", "prod"])

    def test_sighup_with_a_changed_credential_fetches_anew(self):
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace(pat=False)})
        before = d.cli("aad")
        self.assertEqual(before.returncode, 0, before.stderr)
        counters = self.emu.counters()
        d.config["credentials"]["sp"] = self.add_sp(client_id="sp-other", name="sp-other")
        d.write_config()
        d.signal(signal.SIGHUP)
        self.wait_for_log(d, "configuration reloaded")
        after = d.cli("aad")
        self.assertEqual(after.returncode, 0, after.stderr)
        self.assertNotEqual(after.stdout, before.stdout)
        self.assertGreater(self.emu.counters()["aad"], counters["aad"])

    def test_broken_config_on_sighup_keeps_the_old_one_serving(self):
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace(pat=False)})
        before = d.cli("aad")
        self.assertEqual(before.returncode, 0, before.stderr)
        with open(d.config_path, "w") as f:
            f.write('{"workspaces": {"prod": {"credential": "nope", "pat": {"lifetime": "sixty"}}')
        d.signal(signal.SIGHUP)
        self.wait_for_log(d, "previous configuration stays in force")
        self.assertIn("reload refused", d.log())
        self.assertIsNone(d.proc.poll())
        again = d.cli("aad")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, before.stdout)
        # A later good config is taken again.
        d.config["workspaces"]["dev"] = self.workspace(pat=False, host=self.emu.localhost)
        d.write_config()
        d.signal(signal.SIGHUP)
        self.wait_for_log(d, "configuration reloaded")
        self.assertEqual(d.cli("-w", "dev", "aad").returncode, 0)

    # -- shutdown ---------------------------------------------------------------------------
    def test_sigterm_finishes_the_request_in_flight_and_exits_0(self):
        # The start-up fetch of the token takes 2 s: the CLI's request waits for it.
        self.emu.fault("aad", delay_ms=2000, count=1)
        d = self.start_daemon({"sp": self.add_sp()}, {"prod": self.workspace(pat=False)})
        # An idle keep-alive connection must not hold the shutdown up.
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(d.socket)
        self.addCleanup(idle.close)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=d.cli("aad")))
        t.start()
        time.sleep(0.5)  # the request is waiting for the delayed token
        started = time.time()
        d.signal(signal.SIGTERM)
        t.join(timeout=20)
        self.assertEqual(result["r"].returncode, 0, result["r"].stderr + d.log())
        self.assertEqual(d.proc.wait(timeout=10), 0, d.log())
        self.assertLess(time.time() - started, 6)
        # New connections are refused once it stopped accepting.
        with self.assertRaises(OSError):
            unix_get(d.socket, "/healthz", timeout=2)


if __name__ == "__main__":
    unittest.main()
