"""PAT lifecycle end to end (issue 3): a real dbxcredd mints, serves, rotates and reaps PATs at the
emulator's Databricks workspace, stays within pat.max_active, survives SIGKILL mid-mint without
leaving an orphan, and reports the Databricks quota clearly while AAD tokens keep working.

The long rotation test lives in test_pat_rotation.py so that each file stays well under ctest's
300 s timeout.
"""
import json
import subprocess
import threading
import time
import unittest

from harness import E2ETestCase, poll_until

RESOURCE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w"
OURS = "dbxcred:e2e:prod:"  # instance "e2e" (harness), workspace "prod"


class PatTestCase(E2ETestCase):
    """A daemon with one PAT workspace "prod" at the emulator, through the management headers."""

    def start_pat_daemon(self, pat=None, extra=None, daemon=None):
        pat = pat or {"lifetime": "2m", "rotate_before": "1m", "max_lifetime": "10m",
                      "max_active": 3}
        ws = {"prod": self.workspace(management_token=True, resource_id=RESOURCE_ID, pat=pat)}
        return self.start_daemon({"sp": self.add_sp()}, ws, extra=extra)

    def our_pats(self):
        return [p for p in self.emu.pats() if p["comment"].startswith(OURS)]

    def foreign_pats(self):
        return [p for p in self.emu.pats() if not p["comment"].startswith(OURS)]

    def works_at_workspace(self, token):
        """True if the emulator's Databricks API accepts `token` as a PAT."""
        r = self.emu.request("GET", "/api/2.0/clusters/list",
                             headers={"Authorization": "Bearer " + token})
        return r.status == 200

    def get_pat(self, d, min_valid):
        """A PAT through the socket; checks it is valid for min_valid and works at the workspace."""
        status, body = d.get(f"/v1/workspaces/prod/pat?min_valid={min_valid}")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["host"], "https://" + self.emu.host)
        self.assertGreaterEqual(body["expires_at"] - time.time(), min_valid - 1)
        self.assertTrue(body["token"].startswith("dapi"))
        self.assertTrue(self.works_at_workspace(body["token"]), body["token_id"])
        self.secrets.append(body["token"])  # never to appear in logs or other output
        return body


class PatTest(PatTestCase):
    def test_cli_pat_env_and_exec_carry_a_working_pat(self):
        d = self.start_pat_daemon()
        r = d.cli("pat", "--min-valid", "30s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, "only the token on stdout")
        token = lines[0]
        self.assertRegex(token, r"^dapi[0-9a-f]{32}$")
        self.secrets.append(token)
        self.assertTrue(self.works_at_workspace(token))
        ours = self.our_pats()
        self.assertEqual(len(ours), 1)
        self.assertGreaterEqual(ours[0]["expiry_time"] / 1000 - time.time(), 30)
        self.assertGreaterEqual(self.emu.counters()["token_create"], 1)

        # env / exec use the default min_valid (300 s): more than the 2 min PAT has, so the daemon
        # mints one sized for it (min_valid + 60 s margin, within max_lifetime 10 m).
        host = "https://" + self.emu.host
        sh = d.cli("env", "--shell", "sh")
        self.assertEqual(sh.returncode, 0, sh.stderr)
        # Evaluate the export lines in a real shell, as a build step would.
        check = subprocess.run(
            ["sh", "-c", sh.stdout + '\ntest "$DATABRICKS_HOST" = "$1" && '
             'case "$DATABRICKS_TOKEN" in dapi*) echo ok;; esac', "sh", host],
            capture_output=True, text=True)
        self.assertEqual(check.stdout.strip(), "ok", check.stderr)
        fish = d.cli("env", "--shell", "fish")
        self.assertEqual(fish.returncode, 0, fish.stderr)
        self.assertIn("DATABRICKS_HOST", fish.stdout)
        self.assertIn("set -gx", fish.stdout)
        js = d.cli("env", "--shell", "json")
        self.assertEqual(js.returncode, 0, js.stderr)
        env = json.loads(js.stdout)
        self.assertEqual(env["DATABRICKS_HOST"], host)
        self.secrets.append(env["DATABRICKS_TOKEN"])
        self.assertTrue(self.works_at_workspace(env["DATABRICKS_TOKEN"]))
        status, served = d.get("/v1/workspaces/prod/pat?min_valid=300")
        self.assertEqual(served["token"], env["DATABRICKS_TOKEN"])
        self.assertGreaterEqual(served["expires_at"] - time.time(), 290)

        # exec: the child sees both variables and uses them; it prints only the HTTP status.
        ex = d.cli("exec", "--", "sh", "-c",
                   'curl -sS --cacert "$1" -o /dev/null -w "%{http_code}" '
                   '-H "Authorization: Bearer $DATABRICKS_TOKEN" '
                   '"$DATABRICKS_HOST/api/2.0/clusters/list"', "sh", self.emu.ca_file)
        self.assertEqual(ex.returncode, 0, ex.stderr)
        self.assertEqual(ex.stdout, "200")
        self.assert_no_secret(ex.stdout, ex.stderr, sh.stderr, fish.stderr, js.stderr, d.log(),
                              d.cli("status").stdout, d.cli("status", "--json").stdout)

    def test_status_shows_current_pat_expiry_active_and_next_rotation(self):
        d = self.start_pat_daemon()
        served = self.get_pat(d, 30)
        r = d.cli("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        ws = {w["name"]: w for w in json.loads(r.stdout)["workspaces"]}
        pat = ws["prod"]["pat"]
        self.assertTrue(pat["enabled"])
        self.assertEqual(pat["current_token_id"], served["token_id"])
        self.assertEqual(pat["expires_at"], served["expires_at"])
        self.assertEqual(pat["active"], 1)
        self.assertEqual(pat["max_active"], 3)
        # 2 min PAT, rotate_before 1 min: the successor is minted 1 min before expiry, or up to
        # 10 % of that earlier (the per-PAT jitter that spreads a fleet's mints), never later.
        self.assertGreaterEqual(pat["next_rotation"], served["expires_at"] - 66 - 1)
        self.assertLessEqual(pat["next_rotation"], served["expires_at"] - 60 + 1)
        human = d.cli("status")
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn(served["token_id"], human.stdout)
        self.assertIn("next_rotation", human.stdout.replace(" ", "_").lower())
        self.assert_no_secret(r.stdout, human.stdout)

    def test_max_active_holds_when_clients_force_early_rotations(self):
        d = self.start_pat_daemon()
        p1 = self.get_pat(d, 30)  # a 2 min PAT, promised for 30 s
        # Each larger min_valid forces a new PAT while the older ones are still valid.
        p2 = self.get_pat(d, 150)
        p3 = self.get_pat(d, 250)
        ids = [p["token_id"] for p in (p1, p2, p3)]
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(sorted(p["token_id"] for p in self.our_pats()), sorted(ids))
        # Superseded PATs stay valid: running jobs may hold them.
        for p in (p1, p2):
            self.assertTrue(self.works_at_workspace(p["token"]))
        # A fourth would exceed max_active 3, and every PAT is still promised (p1 for 30 s from
        # its serving, rounded up by a minute in the ledger): quota_exhausted, nothing deleted.
        status, body = d.get("/v1/workspaces/prod/pat?min_valid=350")
        self.assertEqual(body["error"]["code"], "quota_exhausted", body)
        self.assertIn("max_active", body["error"]["message"])
        self.assertEqual(sorted(p["token_id"] for p in self.our_pats()), sorted(ids))
        self.assertTrue(self.works_at_workspace(p1["token"]))
        # That was the third forced rotation of this uid: the next is rate limited.
        status, body = d.get("/v1/workspaces/prod/pat?min_valid=350")
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "rate_limited")
        # Asking for more than max_lifetime (10 m) allows is a 400, and mints nothing.
        creates = self.emu.counters()["token_create"]
        status, body = d.get("/v1/workspaces/prod/pat?min_valid=590")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], "bad_request")
        self.assertIn("max_lifetime", body["error"]["message"])
        self.assertEqual(self.emu.counters()["token_create"], creates)
        status = json.loads(d.cli("status", "--json").stdout)
        self.assertEqual(status["workspaces"][0]["pat"]["current_token_id"], p3["token_id"])
        self.assertEqual(status["workspaces"][0]["pat"]["active"], 3)
        self.assertEqual(status["workspaces"][0]["pat"]["rate_limited"], 1)
        self.assert_no_secret(d.log())

    def test_sigkill_during_slow_create_leaves_no_orphan_after_restart(self):
        self.emu.fault("token_create", delay_ms=4000, count=1)
        d = self.start_pat_daemon()
        result = {}
        client = threading.Thread(
            target=lambda: result.setdefault("r", d.cli("pat", "--min-valid", "30s")))
        client.start()
        # The create has reached the workspace and is being held there: kill the daemon now.
        poll_until(lambda: self.emu.counters()["token_create"] >= 1, 10, what="token/create")
        d.kill()
        client.join(30)
        self.assertNotEqual(result["r"].returncode, 0, "the client cannot have been served")
        # The delayed create still takes effect: a PAT whose value nobody ever received.
        lost = poll_until(lambda: self.our_pats(), 10, what="the PAT created during the kill")
        self.assertEqual(len(lost), 1)
        lost_id = lost[0]["token_id"]

        d.start()  # same state dir and ledger
        # Reconcile at start-up finds our PAT whose id the ledger never got, and deletes it.
        poll_until(lambda: lost_id not in [p["token_id"] for p in self.our_pats()], 15,
                   what="the orphan to be deleted")
        self.assertIn("never served", d.log())
        served = self.get_pat(d, 30)
        self.assertNotEqual(served["token_id"], lost_id)
        # No orphan: every PAT of ours in the workspace is the one the daemon knows and serves.
        self.assertEqual([p["token_id"] for p in self.our_pats()], [served["token_id"]])
        status = json.loads(d.cli("status", "--json").stdout)["workspaces"][0]["pat"]
        self.assertEqual(status["current_token_id"], served["token_id"])
        self.assertEqual(status["active"], 1)
        self.assert_no_secret(d.log())

    def test_599_foreign_pats_still_serve_600_is_quota_exhausted_and_aad_works(self):
        # The principal of the management-header path is the client id.
        self.emu.add_foreign_pats("sp-client", count=599)
        d = self.start_pat_daemon()
        p = self.get_pat(d, 30)  # the 600th token of the principal
        self.assertEqual(len(self.foreign_pats()), 599)
        # Now the quota is full: a client whose min_valid the current PAT cannot meet gets
        # quota_exhausted, exit 5, one line that says what to do.
        r = d.cli("pat", "--min-valid", "5m")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("QUOTA_EXCEEDED", r.stderr)
        self.assertIn("dbxcred aad", r.stderr)
        status, body = d.get("/v1/workspaces/prod/pat?min_valid=300")
        self.assertEqual(body["error"]["code"], "quota_exhausted")
        self.assertIn(status, (429, 503))
        # The current PAT still serves clients it satisfies; AAD tokens keep working.
        self.assertEqual(self.get_pat(d, 30)["token_id"], p["token_id"])
        aad = d.cli("aad")
        self.assertEqual(aad.returncode, 0, aad.stderr)
        self.assertTrue(aad.stdout.strip())
        self.assertEqual(len(self.foreign_pats()), 599, "foreign PATs are never deleted")
        self.assert_no_secret(r.stderr, d.log())

    def test_600_foreign_pats_quota_exhausted_from_the_start(self):
        self.emu.add_foreign_pats("sp-client", count=600)
        d = self.start_pat_daemon()
        r = d.cli("pat", "--min-valid", "30s")
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("quota", r.stderr.lower())
        self.assertIn("dbxcred aad", r.stderr)
        aad = d.cli("aad")
        self.assertEqual(aad.returncode, 0, aad.stderr)
        self.assertEqual(self.our_pats(), [])
        self.assertEqual(len(self.foreign_pats()), 600, "foreign PATs are never deleted")
        # Once a human frees a slot, the daemon mints again.
        self.emu.revoke_pat(self.foreign_pats()[0]["token_id"])
        poll_until(lambda: d.cli("pat", "--min-valid", "30s").returncode == 0, 45, interval=1,
                   what="a PAT once the quota has room")
        self.assertEqual(len(self.our_pats()), 1)
        self.assertEqual(len(self.foreign_pats()), 599)


if __name__ == "__main__":
    unittest.main()
