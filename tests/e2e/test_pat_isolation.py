"""PAT isolation end to end (issue 12, scenarios 2 and 3): a PAT served with min_valid M is never
deleted by dbxcred before M has passed, whoever forces rotations; two daemons with the same
`instance`, principal and workspace never delete each other's PATs; a second daemon on one
state_dir refuses to start, naming the holder's pid.
"""
import json
import os
import time
import unittest

from harness import poll_until, unix_request
from test_pat import RESOURCE_ID, PatTestCase


class PromisedValidityTest(PatTestCase):
    def test_forced_rotations_never_delete_a_promised_pat(self):
        d = self.start_pat_daemon(pat={"lifetime": "2m", "rotate_before": "1m",
                                       "max_lifetime": "20m", "max_active": 3})
        # Job A: a PAT it will use for the next 400 s (a 2 min policy: minted for 460 s).
        a = self.get_pat(d, 400)
        promised_until = time.time() + 400
        answers = []
        current_expires = a["expires_at"]
        # User B: five times a min_valid just above what the current PAT has left, each forcing
        # a mint unless refused. max_active is 3.
        for _ in range(5):
            left = int(current_expires - time.time())
            status, body = d.get(f"/v1/workspaces/prod/pat?min_valid={left + 5}")
            answers.append((status, body))
            if status == 200:
                current_expires = body["expires_at"]
            ids = [p["token_id"] for p in self.our_pats()]
            self.assertIn(a["token_id"], ids, "A's promised PAT was deleted")
            self.assertLessEqual(len([p for p in self.our_pats()]), 3)
            if status == 200:
                self.secrets.append(body["token"])
        self.assertTrue(self.works_at_workspace(a["token"]))
        codes = [b["error"]["code"] for s, b in answers if s != 200]
        self.assertTrue(codes, f"every forced rotation was served: {[s for s, _ in answers]}")
        for s, b in answers:
            if s == 200:
                continue
            self.assertIn(b["error"]["code"], ("quota_exhausted", "rate_limited"), b)
            if b["error"]["code"] == "quota_exhausted":
                self.assertIn("max_active", b["error"]["message"])
            else:
                self.assertEqual(s, 429)
        self.assertIn("rate_limited", codes, "a uid that keeps forcing is rate limited")
        # Across a restart too: the promise is in the ledger.
        d.stop()
        d.start()
        poll_until(lambda: d.cli("status", "--json").returncode == 0
                   and json.loads(d.cli("status", "--json").stdout)["workspaces"][0]["pat"]
                   ["last_reconcile_at"], 15, what="the first reconcile")
        for _ in range(2):
            left = int(a["expires_at"] - time.time())
            status, body = d.get(f"/v1/workspaces/prod/pat?min_valid={left + 5}")
            if status == 200:
                self.secrets.append(body["token"])
            self.assertIn(a["token_id"], [p["token_id"] for p in self.our_pats()])
        self.assertLess(time.time(), promised_until)
        self.assertTrue(self.works_at_workspace(a["token"]))
        self.assert_no_secret(d.log())

    def test_rate_limited_answer_has_retry_after_and_cli_exit_5(self):
        d = self.start_pat_daemon(pat={"lifetime": "2m", "rotate_before": "1m",
                                       "max_lifetime": "20m", "max_active": 10})
        self.get_pat(d, 30)
        statuses = []
        for i in range(6):
            status, body = d.get(f"/v1/workspaces/prod/pat?min_valid={200 + 100 * i}")
            statuses.append(status)
            if status == 200:
                self.secrets.append(body["token"])
        self.assertIn(429, statuses)
        r = d.cli("pat", "--min-valid", "1000s")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("retry", r.stderr.lower())
        data = unix_request(d.socket, "/v1/workspaces/prod/pat?min_valid=1100")
        head = data.partition(b"\r\n\r\n")[0].decode().lower()
        self.assertIn(" 429 ", head.splitlines()[0] + " ")
        self.assertIn("retry-after:", head)


class AgentIdentityTest(PatTestCase):
    def two_daemons(self):
        sp = self.add_sp()
        pat = {"lifetime": "2m", "rotate_before": "1m", "max_lifetime": "10m", "max_active": 3}
        ws = {"prod": self.workspace(management_token=True, resource_id=RESOURCE_ID, pat=pat)}
        d1 = self.start_daemon({"sp": sp}, ws)
        d2 = self.start_daemon({"sp": sp}, ws)
        return d1, d2

    def wait_reconciled(self, d, after):
        def done():
            r = d.cli("status", "--json")
            if r.returncode != 0:
                return False
            at = json.loads(r.stdout)["workspaces"][0]["pat"]["last_reconcile_at"]
            return at is not None and at >= after
        poll_until(done, 15, what="a reconcile")

    def test_same_instance_restart_does_not_delete_the_other_daemons_pat(self):
        d1, d2 = self.two_daemons()
        p1 = self.get_pat(d1, 30)
        p2 = self.get_pat(d2, 30)
        self.assertEqual(len(self.our_pats()), 2)
        for restarted, other in ((d2, p1), (d1, p2)):
            t = int(time.time())
            restarted.stop()
            restarted.start()
            self.wait_reconciled(restarted, t)
            time.sleep(1)  # deletions follow the list answer
            self.assertIn(other["token_id"], [p["token_id"] for p in self.our_pats()],
                          "a daemon deleted the other daemon's PAT")
            self.assertTrue(self.works_at_workspace(other["token"]))
        self.assert_no_secret(d1.log(), d2.log())

    def test_agent_id_is_in_state_dir_0600_and_in_the_comment(self):
        d = self.start_pat_daemon()
        self.get_pat(d, 30)
        path = os.path.join(d.state_dir, "agent_id")
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        with open(path) as f:
            agent = f.read().strip()
        self.assertRegex(agent, r"^[0-9a-f]{32}$")
        self.assertIn(agent, self.our_pats()[0]["comment"])

    def test_second_daemon_on_the_same_state_dir_refuses_naming_the_pid(self):
        d1 = self.start_pat_daemon()
        d2 = self.start_daemon({"sp": self.add_sp(name="sp2")}, {},
                               extra={"state_dir": d1.state_dir}, wait=False)
        rc = d2.proc.wait(timeout=10)
        self.assertNotEqual(rc, 0)
        err = d2.log().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn(str(d1.proc.pid), err[0])
        self.assertIn(d1.state_dir, err[0])
        # The first daemon is unharmed.
        self.assertEqual(d1.get("/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
