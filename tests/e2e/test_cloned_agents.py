"""Cloned agents (issue 21, part 4): an image built after the daemon ran once carries
state_dir/agent_id; every VM made from it must still be an agent of its own. The agent id is bound
to the machine (state_dir/machine records /etc/machine-id, here stood in for by
DBXCREDD_MACHINE_ID_FILE): a daemon that finds another machine's record becomes a new agent and
leaves the copied ledger's PATs to their own agent. `dbxcred pat reap --agent ID` lets the operator
delete another agent's PATs. state_dir, pats/ and agent_id must be the service user's and not
group- or world-writable.
"""
import json
import os
import secrets
import shutil
import subprocess
import time
import unittest

from harness import DBXCRED, poll_until
from test_audit import NOBODY, as_nobody
from test_pat import RESOURCE_ID, PatTestCase


def agent_of(comment):
    """The agent field of a PAT comment dbxcred:<instance>:<workspace>:<agent>:<nonce>."""
    fields = comment.split(":")
    return fields[3] if len(fields) == 5 else ""


class ClonedAgentTestCase(PatTestCase):
    POLICY = {"lifetime": "3m", "rotate_before": "1m", "max_lifetime": "10m", "max_active": 3}

    def setUp(self):
        super().setUp()
        self.sp = self.add_sp()

    def machine_file(self, name):
        path = os.path.join(self.tmp, name + ".machine-id")
        with open(path, "w") as f:
            f.write(secrets.token_hex(16) + "\n")
        return path

    def daemon(self, machine_file, state_dir=None, start=True):
        ws = {"prod": self.workspace(management_token=True, resource_id=RESOURCE_ID,
                                     pat=self.POLICY)}
        extra = {"state_dir": state_dir} if state_dir else None
        d = self.start_daemon({"sp": self.sp}, ws, extra=extra,
                              env={"DBXCREDD_MACHINE_ID_FILE": machine_file}, wait=start)
        if state_dir:
            d.state_dir = state_dir
        return d

    def wait_reconciled(self, d, after):
        def done():
            r = d.cli("status", "--json")
            if r.returncode != 0:
                return False
            at = json.loads(r.stdout)["workspaces"][0]["pat"]["last_reconcile_at"]
            return at is not None and at >= after
        poll_until(done, 15, what="a reconcile")
        time.sleep(1)  # the deletions of a reconcile follow its list answer

    def restart(self, d):
        t = int(time.time())
        d.stop()
        d.start()
        self.wait_reconciled(d, t)

    def listed(self):
        return {p["token_id"]: p for p in self.our_pats()}

    def agent_id(self, d):
        with open(os.path.join(d.state_dir, "agent_id")) as f:
            return f.read().strip()


class ClonedAgentTest(ClonedAgentTestCase):
    def test_a_copied_state_dir_on_another_machine_is_another_agent(self):
        machine1, machine2 = self.machine_file("one"), self.machine_file("two")
        # The image: daemon 1 ran once and minted a PAT, then stopped.
        d1 = self.daemon(machine1)
        p1a = self.get_pat(d1, 30)
        d1.stop()
        # The VM made from it: the same state_dir, the same instance, another machine.
        cloned = os.path.join(self.tmp, "cloned-state")
        shutil.copytree(d1.state_dir, cloned, symlinks=True)
        d1.start()
        p1b = self.get_pat(d1, 30)  # its value was memory only: a new PAT
        t = int(time.time())
        d2 = self.daemon(machine2, state_dir=cloned)
        self.wait_reconciled(d2, t)
        ids = self.listed()
        self.assertIn(p1b["token_id"], ids, "the clone deleted daemon 1's PAT as its orphan")
        self.assertIn(p1a["token_id"], ids, "the clone deleted a PAT of the copied ledger")
        p2 = self.get_pat(d2, 30)
        # Both serve, and keep serving across reconciles on either side.
        self.restart(d1)
        self.restart(d2)
        ids = self.listed()
        for p, who in ((p1a, "daemon 1's first"), (p1b, "daemon 1's"), (p2, "daemon 2's")):
            self.assertIn(p["token_id"], ids, f"{who} PAT was deleted by the other daemon")
            self.assertTrue(self.works_at_workspace(p["token"]), p["token_id"])
        self.assertTrue(self.works_at_workspace(self.get_pat(d1, 30)["token"]))
        self.assertTrue(self.works_at_workspace(self.get_pat(d2, 30)["token"]))
        # Two agents now, each PAT's comment naming its own.
        a1, a2 = self.agent_id(d1), self.agent_id(d2)
        self.assertNotEqual(a1, a2)
        self.assertEqual(agent_of(ids[p1b["token_id"]]["comment"]), a1)
        self.assertEqual(agent_of(ids[p2["token_id"]]["comment"]), a2)
        # One warning line saying so, with fingerprints (never the machine id itself).
        lines = [l for l in d2.log().splitlines() if "another machine" in l]
        self.assertEqual(len(lines), 1, d2.log())
        with open(machine1) as f:
            self.assertNotIn(f.read().strip(), d2.log())
        with open(machine2) as f:
            self.assertNotIn(f.read().strip(), d2.log())
        self.assertEqual([l for l in d1.log().splitlines() if "another machine" in l], [])
        self.assert_no_secret(d1.log(), d2.log())

    def test_machine_record_is_0600_and_the_agent_survives_restarts_on_its_machine(self):
        machine = self.machine_file("one")
        d = self.daemon(machine)
        p = self.get_pat(d, 30)
        path = os.path.join(d.state_dir, "machine")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(machine) as f, open(path) as record:
            self.assertNotIn(f.read().strip(), record.read())  # a digest, not the id
        agent = self.agent_id(d)
        self.restart(d)
        self.assertEqual(self.agent_id(d), agent)
        self.assertIn(p["token_id"], self.listed())
        self.assertNotIn("another machine", d.log())


class PatReapTest(ClonedAgentTestCase):
    def test_reap_deletes_exactly_that_agents_pats_operator_only(self):
        machine1, machine2 = self.machine_file("one"), self.machine_file("two")
        d1 = self.daemon(machine1)
        p1 = self.get_pat(d1, 30)
        d2 = self.daemon(machine2)
        p2 = self.get_pat(d2, 30)
        # A second PAT of daemon 2 (forced by a longer min_valid).
        p2b = self.get_pat(d2, 400)
        self.assertNotEqual(p2b["token_id"], p2["token_id"])
        a2 = self.agent_id(d2)
        d2.stop()
        foreign = self.emu.add_foreign_pats("sp-client", count=1, comment="a human's")[0]
        # Another user may not reap.
        os.chmod(self.tmp, 0o755)
        os.chmod(d1.tmp, 0o755)
        os.chmod(os.path.dirname(d1.socket), 0o755)
        os.chmod(d1.socket, 0o666)
        e = dict(os.environ, DBXCRED_SOCKET=d1.socket)
        r = subprocess.run([DBXCRED, "-w", "prod", "pat", "reap", "--agent", a2],
                           capture_output=True, text=True, env=e, preexec_fn=as_nobody,
                           timeout=60)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(p2["token_id"], self.listed())
        # Its own agent id is refused: those PATs are the daemon's own to manage.
        r = d1.cli("-w", "prod", "pat", "reap", "--agent", self.agent_id(d1))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("this daemon's own", r.stderr)
        r = d1.cli("-w", "prod", "pat", "reap", "--agent", "not-an-id")
        self.assertEqual(r.returncode, 2, r.stderr)
        # The operator (root here) reaps daemon 2's.
        r = d1.cli("-w", "prod", "pat", "reap", "--agent", a2)
        self.assertEqual(r.returncode, 0, r.stderr + d1.log())
        ids = self.listed()
        self.assertNotIn(p2["token_id"], ids)
        self.assertNotIn(p2b["token_id"], ids)
        self.assertIn(p1["token_id"], ids)
        self.assertIn(foreign["token_id"], [p["token_id"] for p in self.emu.pats()])
        self.assertIn(p2["token_id"], r.stdout)
        self.assertIn(p2b["token_id"], r.stdout)
        self.assertTrue(self.works_at_workspace(p1["token"]))
        self.assertFalse(self.works_at_workspace(p2["token"]))
        self.assert_no_secret(r.stdout, r.stderr, d1.log())


class StateDirOwnershipTest(ClonedAgentTestCase):
    def refused(self, d):
        rc = d.proc.wait(timeout=10)
        self.assertEqual(rc, 1, d.log())
        lines = d.log().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        return lines[0]

    def prepared(self):
        machine = self.machine_file("one")
        d = self.daemon(machine)
        self.get_pat(d, 30)
        d.stop()
        os.truncate(d.stderr_path, 0)
        return d

    def test_group_writable_state_dir_is_refused(self):
        d = self.prepared()
        os.chmod(d.state_dir, 0o770)
        d.start(wait=False)
        line = self.refused(d)
        self.assertIn(d.state_dir, line)
        self.assertIn("0770", line)

    def test_world_writable_pats_dir_is_refused(self):
        d = self.prepared()
        pats = os.path.join(d.state_dir, "pats")
        os.chmod(pats, 0o757)
        d.start(wait=False)
        line = self.refused(d)
        self.assertIn(pats, line)
        self.assertIn("0757", line)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give a file away")
    def test_agent_id_owned_by_another_user_is_refused(self):
        d = self.prepared()
        path = os.path.join(d.state_dir, "agent_id")
        os.chown(path, NOBODY, NOBODY)
        d.start(wait=False)
        line = self.refused(d)
        self.assertIn(path, line)
        self.assertIn(str(NOBODY), line)


if __name__ == "__main__":
    unittest.main()
