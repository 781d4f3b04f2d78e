"""`dbxcred doctor` (issue 25): one finding per line saying what is wrong and what to change,
exit 0 when every check passes, 1 otherwise, `--json` the same findings. Each fault the emulator
(or the test) injects shows its own line. The daemon runs as root (the full report); `nobody` is
the other user, who learns its own access only."""
import email.utils
import json
import os
import subprocess
import time
import unittest

from harness import DBXCRED, E2ETestCase
from test_audit import NOBODY, as_nobody
from test_sdk import free_port


class DoctorTestCase(E2ETestCase):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)  # nobody reaches the socket

    def start(self, workspace=None, credential=None, workspace_user=True, extra=None, env=None):
        cred = credential or self.add_sp()
        self.emu.add_principal("sp-client", workspace_user=workspace_user)
        home = os.path.join(self.tmp, f"d{len(self.daemons)}")
        run = os.path.join(home, "run")
        os.makedirs(run)
        os.chmod(home, 0o755)
        os.chmod(run, 0o755)
        cfg = {"socket": {"path": os.path.join(run, "dbxcred.sock"), "mode": "0666"}}
        cfg.update(extra or {})
        self.d = self.start_daemon({"sp": cred}, {"prod": workspace or self.workspace()},
                                   extra=cfg, env=env)
        return self.d

    def doctor(self, *args, nobody=False):
        r = subprocess.run([DBXCRED, "--socket", self.d.socket, "doctor", "--config",
                            self.d.config_path, *args], capture_output=True, text=True,
                           timeout=60, preexec_fn=as_nobody if nobody else None)
        self.assert_no_secret(r.stdout, r.stderr)
        return r

    def line(self, out, start):
        """The one output line that starts with `start`."""
        found = [l for l in out.splitlines() if l.startswith(start)]
        self.assertTrue(found, f"no line starting {start!r} in:\n{out}")
        return found[0]


class DoctorTest(DoctorTestCase):
    def test_a_healthy_setup_passes_every_check_and_exits_0(self):
        self.start(env={"HTTPS_PROXY": "http://user:proxy-pw@127.0.0.1:9"})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok    config", r.stdout)
        self.assertIn("ok    socket " + self.d.socket + ": ", r.stdout)
        self.assertIn("served by uid 0 (root)", r.stdout)
        self.assertIn("ok    access prod: uid 0 may use workspace prod (uid 0)", r.stdout)
        self.assertIn("ok    credential sp: credential sp (", r.stdout)
        self.assertIn("ok    pat prod: workspace prod: ", r.stdout)
        self.assertIn("ok    standing prod: the service principal sp-client is a user", r.stdout)
        self.assertIn("ok    quota prod: the principal holds ", r.stdout)
        self.assertIn("ok    clock prod: this host's clock agrees", r.stdout)
        self.line(r.stdout, "ok    reach login host 127.0.0.1:")  # with its time in ms
        # The route the daemon's transport takes: loopback is never proxied, even with HTTPS_PROXY.
        self.assertIn("ok    reach prod: prod answered directly in ", r.stdout)
        self.assertTrue(r.stdout.endswith("every check passed\n"), r.stdout)
        self.assertNotIn("proxy-pw", r.stdout)

    def test_json_holds_the_same_findings_as_objects(self):
        self.start()
        text = self.doctor("-w", "prod")
        r = self.doctor("-w", "prod", "--json")
        self.assertEqual(r.returncode, 0, r.stdout)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertEqual(len(doc["findings"]), len(text.stdout.splitlines()) - 1)
        for f in doc["findings"]:
            self.assertEqual(set(f), {"check", "subject", "status", "message", "fix"})
            self.assertIn(f["status"], ("ok", "note"))

    def test_a_caller_the_allow_list_refuses_learns_which_rule_and_what_to_change(self):
        self.start(self.workspace(allow={"uids": [4242]}))
        r = self.doctor("-w", "prod", nobody=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        line = self.line(r.stdout, "FAIL  access prod: ")
        self.assertIn(f"uid {NOBODY}", line)
        self.assertIn("not in the workspace's allow list", line)
        self.assertIn("fix: ", line)
        self.assertIn("workspaces.prod.allow", line)
        # Another user gets no credential, PAT or upstream finding, and is told so.
        for check in ("credential", "standing", "quota", "reach", "pat"):
            self.assertNotIn(f"  {check} ", r.stdout)
        self.assertIn("note  daemon: the credential, PAT and upstream checks are for root", r.stdout)
        self.assertIn("note  config " + self.d.config_path + ": ", r.stdout)  # 0600: unreadable

    def test_an_allowed_other_user_passes(self):
        self.start()
        r = self.doctor(nobody=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"ok    access prod: uid {NOBODY}", r.stdout)
        self.assertIn("no allow list", r.stdout)

    def test_a_wrong_client_secret_is_explained(self):
        cred = self.add_sp()
        with open(cred["client_secret_file"], "w") as f:
            f.write("not-the-secret\n")
        self.start(credential=cred)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  credential sp: ")
        self.assertIn("AADSTS7000215: the client secret is wrong", line)
        self.assertIn("fix: put the secret's value (not its id) in the credential's "
                      "client_secret_file", line)
        self.assertIn("AADSTS7000215", self.line(r.stdout, "FAIL  standing prod: "))
        self.assertNotIn("not-the-secret", r.stdout)

    def test_an_unknown_application_is_explained(self):
        cred = self.add_sp()
        cred["client_id"] = "no-such-app"
        self.start(credential=cred)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  credential sp: ")
        self.assertIn("AADSTS700016: no application with this client_id", line)
        self.assertIn("check the credential's client_id and tenant_id", line)

    def test_an_expired_federated_token_is_explained(self):
        token_file = os.path.join(self.tmp, "azure-identity-token")
        old, new = "fed-" + self.secret(), "fed-" + self.secret()
        self.emu.add_principal(client_id="wi-client", federated_token=old)
        self.emu.add_principal(client_id="wi-client", federated_token=new)  # old is now stale
        with open(token_file, "w") as f:
            f.write(old)
        self.start(credential={"type": "workload_identity", "tenant_id": "tenant-1",
                               "client_id": "wi-client", "token_file": token_file})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  credential sp: ")
        self.assertIn("AADSTS700024: the federated token has expired", line)
        self.assertIn("token_file's writer", line)

    def test_an_unknown_tenant_is_explained(self):
        self.emu.fault("aad", status=400,
                       body='{"error":"invalid_request","error_description":"AADSTS90002: '
                            'Tenant \'tenant-1\' not found."}')
        self.start()
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  credential sp: ")
        self.assertIn("AADSTS90002: the tenant does not exist", line)
        self.assertIn("fix: check the credential's tenant_id", line)

    def test_a_wrong_databricks_oauth_secret_is_explained(self):
        self.emu.add_oauth_client("dbx-client", "dose" + self.secret())
        path = os.path.join(self.tmp, "dbx.secret")
        with open(path, "w") as f:
            f.write("dose-wrong\n")
        os.chmod(path, 0o600)
        self.start(credential={"type": "databricks_oauth", "client_id": "dbx-client",
                               "client_secret_file": path})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  credential sp: ")
        self.assertIn("invalid_client: the workspace refused the OAuth client", line)
        self.assertIn("create a new OAuth secret", line)
        self.assertNotIn("dose-wrong", r.stdout)

    def test_a_service_principal_that_is_not_a_workspace_user(self):
        self.start(workspace_user=False)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  standing prod: ")
        self.assertIn("does not accept the service principal", line)
        self.assertIn("management_token: true", line)

    def test_a_principal_that_may_not_use_tokens(self):
        self.start()
        self.emu.fault("token_list", status=403,
                       body='{"error_code":"PERMISSION_DENIED","message":"no token usage"}')
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  standing prod: the service principal may not use "
                                   "personal access tokens")
        self.assertIn("PERMISSION_DENIED", line)
        self.assertIn("Can Use", line)

    def test_the_pat_quota_taken_by_others_of_the_principal(self):
        self.start()
        self.emu.add_foreign_pats("sp-client", count=598, comment="another agent")
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  quota prod: the principal holds ")
        self.assertIn("by others", line)
        self.assertIn("dbxcred pat reap --agent ID", line)

    def test_clock_skew_against_the_upstream_date(self):
        self.start()
        ahead = email.utils.formatdate(time.time() + 3600, usegmt=True)
        self.emu.fault("scim_me", headers={"Date": ahead})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  clock prod: ")
        self.assertRegex(line, r"this host's clock is 3[56]\d\d s behind prod")
        self.assertIn("timedatectl set-ntp true", line)

    def test_an_unreachable_workspace_names_the_cause_and_time(self):
        self.start()
        self.emu.fault("scim_me", drop=True)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  reach prod: cannot reach prod directly after ")
        self.assertIn(" ms: ", line)
        self.assertIn("HTTPS_PROXY/NO_PROXY", line)

    def test_a_slow_workspace_times_out_in_the_probe_time(self):
        self.start()
        self.emu.fault("scim_me", delay_ms=9000, count=1)
        started = time.time()
        r = self.doctor("-w", "prod")
        self.assertLess(time.time() - started, 8.5)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.line(r.stdout, "FAIL  reach prod: cannot reach prod directly after ")

    def test_a_bad_configuration_on_disk_fails_as_the_next_reload_would(self):
        self.start()
        cfg = dict(self.d.config)
        cfg["surprise"] = 1
        with open(self.d.config_path, "w") as f:
            json.dump(cfg, f)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  config " + self.d.config_path + ": ")
        self.assertIn("surprise", line)
        self.assertIn("(the next reload would be refused)", r.stdout)

    def test_a_secret_file_others_may_read(self):
        cred = self.add_sp()
        self.start(credential=cred)
        os.chmod(cred["client_secret_file"], 0o644)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  config " + self.d.config_path + ": ")
        self.assertIn("chmod 600 " + cred["client_secret_file"], line)

    def test_a_socket_directory_others_may_write(self):
        self.start()
        run = os.path.dirname(self.d.socket)
        os.chmod(run, 0o777)
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        line = self.line(r.stdout, "FAIL  socket " + run + ": ")
        self.assertIn("world-writable (mode 0777)", line)
        self.assertIn("fix: chmod go-w " + run, line)

    def test_no_daemon_listening(self):
        self.start()
        self.d.stop()
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.line(r.stdout, "FAIL  socket " + self.d.socket + ": ")
        self.assertIn("systemctl start dbxcredd", r.stdout)
        self.line(r.stdout, "FAIL  daemon: the daemon's checks could not be had")

    def test_a_loopback_port_the_daemon_holds(self):
        port = free_port()
        self.start(extra={"listen": {"metadata_service": {"port": port}}})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn(f"ok    loopback {port}: 127.0.0.1:{port} (listen.metadata_service) is held "
                      "by this daemon", r.stdout)

    def test_a_workspace_looked_up_in_arm_reaches_arm_too(self):
        rid = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w1"
        self.emu.add_workspace(rid)
        self.start({"credential": "sp", "resource_id": rid, "management_token": True})
        r = self.doctor("-w", "prod")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.line(r.stdout, "ok    reach ARM host 127.0.0.1:")
        self.assertIn("ok    standing prod: ", r.stdout)

    def test_an_unknown_workspace(self):
        self.start()
        r = self.doctor("-w", "nope")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no workspace named", self.line(r.stdout, "FAIL  daemon: "))


if __name__ == "__main__":
    unittest.main()
