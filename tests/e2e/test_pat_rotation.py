"""PAT rotation in real time (issue 3): with a 2 min PAT rotated 1 min before expiry, the daemon
mints a successor on its own, keeps the superseded PAT valid until it expires, deletes it from the
workspace then, and never holds more than pat.max_active of its PATs — sampled throughout.
Takes about 2 minutes (the PAT's lifetime); alone in its file for ctest's 300 s timeout.
"""
import json
import time
import unittest

from test_pat import OURS, PatTestCase


class PatRotationTest(PatTestCase):
    def test_rotates_keeps_superseded_until_expiry_then_deletes_it(self):
        d = self.start_pat_daemon()
        first = self.get_pat(d, 30)
        seen = {first["token_id"]: first}
        max_ours = 0
        samples = 0
        superseded_checked = False
        start = time.time()
        deadline = first["expires_at"] + 20
        # Sample every 0.5 s until the first PAT has expired and its deletion was asked for.
        while time.time() < deadline:
            ours = [p for p in self.emu.pats() if p["comment"].startswith(OURS)]
            max_ours = max(max_ours, len(ours))
            self.assertLessEqual(len(ours), 3, ours)
            samples += 1
            if samples % 4 == 0:  # a client every 2 s: a working PAT with min_valid left
                p = self.get_pat(d, 30)
                seen.setdefault(p["token_id"], p)
            if len(seen) >= 2 and not superseded_checked and time.time() < first["expires_at"] - 5:
                # Rotated: the superseded first PAT still works until it expires.
                self.assertTrue(self.works_at_workspace(first["token"]))
                self.assertIn(first["token_id"], [p["token_id"] for p in ours])
                superseded_checked = True
            if (time.time() > first["expires_at"] + 1
                    and f"token {first['token_id']} expired; deleting it" in d.log()):
                break
            time.sleep(0.5)
        self.assertGreaterEqual(len(seen), 2, "no rotation happened")
        self.assertTrue(superseded_checked, "rotation came too late to check the superseded PAT")
        second = [p for tid, p in seen.items() if tid != first["token_id"]][0]
        # The successor was minted rotate_before (1 m) ahead of the first PAT's expiry, or up to
        # 10 % of it earlier (the per-PAT jitter), by the daemon's own timer (not a client's
        # min_valid, which the first PAT still met).
        minted_at = second["expires_at"] - 120
        self.assertGreaterEqual(minted_at, first["expires_at"] - 66 - 5)
        self.assertLessEqual(minted_at, first["expires_at"] - 60 + 5)
        # Expired: deleted from the workspace (a token/delete after its expiry) and not listed.
        self.assertIn(f"token {first['token_id']} expired; deleting it", d.log())
        deletes = [t / 1000 for t in self.emu.counters()["times"].get("token_delete", [])]
        self.assertTrue(any(t >= first["expires_at"] for t in deletes), deletes)
        self.assertNotIn(first["token_id"], [p["token_id"] for p in self.emu.pats()])
        self.assertFalse(self.works_at_workspace(first["token"]))
        self.assertTrue(self.works_at_workspace(second["token"]))
        status = json.loads(d.cli("status", "--json").stdout)["workspaces"][0]["pat"]
        self.assertGreaterEqual(status["deletions"], 1)
        self.assertLessEqual(status["active"], 3)
        print(f"\n  rotation: {len(seen)} PATs seen in {time.time() - start:.0f} s, "
              f"{samples} samples, max {max_ours} of ours active (max_active 3), "
              f"successor minted {first['expires_at'] - minted_at:.0f} s before expiry")
        self.assert_no_secret(d.log())


if __name__ == "__main__":
    unittest.main()
