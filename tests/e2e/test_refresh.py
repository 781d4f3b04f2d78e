"""Refresh engine end to end (issue 5) with the emulator's fault injection: single-flight under 200
concurrent first requests, stale-on-error through 30 s of 503s, Retry-After obeyed, and bounded
waits on a hanging upstream with recovery once it answers again.
"""
import hashlib
import threading
import time
import unittest

from harness import E2ETestCase, poll_until, unix_get

RESOURCE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w"


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class RefreshTest(E2ETestCase):
    def aad_only(self, extra=None, **ws):
        return self.start_daemon({"sp": self.add_sp()},
                                 {"prod": self.workspace(pat=False, **ws)}, extra=extra)

    def test_200_concurrent_first_requests_cause_one_call_per_resource_and_one_mint(self):
        # Every Entra call takes 1.5 s, so the daemon's eager start-up fetch is still in flight
        # when the clients arrive: they must all join it.
        self.emu.fault("aad", delay_ms=1500)
        d = self.start_daemon({"sp": self.add_sp()},
                              {"prod": self.workspace(management_token=True,
                                                      resource_id=RESOURCE_ID)})
        n = 200
        barrier = threading.Barrier(2 * n)
        results = {"aad": [], "pat": []}
        lock = threading.Lock()

        def client(kind, path):
            barrier.wait()
            try:
                r = unix_get(d.socket, path, timeout=60)
            except OSError as e:
                r = (0, str(e))
            with lock:
                results[kind].append(r)

        threads = [threading.Thread(target=client, args=("aad", "/v1/workspaces/prod/aad"))
                   for _ in range(n)]
        threads += [threading.Thread(target=client,
                                     args=("pat", "/v1/workspaces/prod/pat?min_valid=60"))
                    for _ in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        elapsed = time.monotonic() - t0
        for kind in ("aad", "pat"):
            bad = [r for r in results[kind] if r[0] != 200]
            self.assertEqual(len(results[kind]), n)
            self.assertEqual(bad, [], f"{kind}: {len(bad)} failed")
        aad_tokens = {digest(b["access_token"]) for _, b in results["aad"]}
        pat_ids = {b["token_id"] for _, b in results["pat"]}
        self.assertEqual(len(aad_tokens), 1)
        self.assertEqual(len(pat_ids), 1)
        c = self.emu.counters()
        # Two resources (Databricks and the management API): exactly one Entra call each.
        self.assertEqual(c["aad"], 2, c)
        self.assertEqual(c["token_create"], 1, c)
        print(f"\n  {2 * n} concurrent requests in {elapsed:.1f} s: {c['aad']} Entra calls, "
              f"{c['token_create']} token/create")
        for _, b in results["pat"]:
            self.secrets.append(b["token"])
        for _, b in results["aad"][:1]:
            self.secrets.append(b["access_token"])
        self.assert_no_secret(d.log())

    def test_thirty_seconds_of_503_while_cached_every_request_succeeds(self):
        # 120 s tokens: the background refresh starts at min(TTL/2, 20 m) ± 10 % = 54..66 s after
        # the fetch. The 503 window [45 s, 75 s] contains it, and a token fetched at 0 still has
        # 45 s left at its end (more than the 40 s floor a client with min_valid 30 gets).
        self.emu.settings(aad_token_lifetime=120)
        d = self.aad_only()
        status, first = d.get("/v1/workspaces/prod/aad?min_valid=30")
        self.assertEqual(status, 200, first)
        fetched = first["expires_at"] - 120
        poll_until(lambda: time.time() >= fetched + 45, 60, interval=0.2, what="window start")
        calls_before = self.emu.counters()["aad"]
        self.emu.fault("aad", status=503)
        window_start = time.time()
        samples = ok = 0
        while time.time() < window_start + 30:
            status, body = d.get("/v1/workspaces/prod/aad?min_valid=30")
            samples += 1
            self.assertEqual(status, 200, body)
            self.assertGreaterEqual(body["expires_at"] - time.time(), 30)
            ok += 1
            time.sleep(0.5)
        c = self.emu.counters()
        failed_refreshes = c["aad"] - calls_before
        self.assertGreaterEqual(failed_refreshes, 1, "the refresh should have run in the window")
        # The CLI too, and the status shows the last error and the next attempt.
        r = d.cli("aad", "--min-valid", "30s")
        self.assertEqual(r.returncode, 0, r.stderr)
        status, body = d.get("/v1/status")
        token = body["credentials"][0]["tokens"][0]
        self.assertIn("503", token["last_error"] or "")
        self.assertGreaterEqual(token["consecutive_failures"], 1)
        self.assertIsNotNone(token["next_refresh"])
        self.emu.clear_faults()
        window = time.time() - window_start
        # Recovery: a fresh token once Entra answers again (on the backoff schedule).
        fresh = poll_until(
            lambda: (lambda s, b: s == 200 and b["expires_at"] > first["expires_at"] and b)(
                *d.get("/v1/workspaces/prod/aad?min_valid=30")),
            40, interval=0.5, what="a refreshed token after the outage")
        self.assertNotEqual(digest(fresh["access_token"]), digest(first["access_token"]))
        print(f"\n  503 window {window:.0f} s: {ok}/{samples} client requests succeeded, "
              f"{failed_refreshes} refresh attempts failed upstream")
        self.secrets += [first["access_token"], fresh["access_token"]]
        self.assert_no_secret(d.log())

    def test_retry_after_8_means_no_call_for_8_seconds(self):
        # The eager start-up fetch is throttled: 429 with Retry-After: 8.
        self.emu.fault("aad", status=429, headers={"Retry-After": "8"}, count=1)
        d = self.aad_only(extra={"request_deadline": "3s"})
        poll_until(lambda: self.emu.counters()["aad"] >= 1, 10, what="the first Entra call")
        # Clients keep asking meanwhile; none of them may cause an earlier call.
        asked = 0
        while self.emu.counters()["aad"] < 2 and asked < 60:
            unix_get(d.socket, "/v1/workspaces/prod/aad?min_valid=30")
            asked += 1
            time.sleep(0.25)
        times = self.emu.counters()["times"]["aad"]
        self.assertGreaterEqual(len(times), 2, "no retry after Retry-After")
        gap = (times[1] - times[0]) / 1000
        self.assertGreaterEqual(gap, 8.0, times)
        self.assertLess(gap, 12.0, "the retry should follow soon after Retry-After ends")
        r = d.cli("aad")
        self.assertEqual(r.returncode, 0, r.stderr)
        print(f"\n  Retry-After 8: next Entra call after {gap:.2f} s, "
              f"{asked} client requests in between")

    def test_retry_after_on_token_create_delays_the_next_mint(self):
        self.emu.fault("token_create", status=429, headers={"Retry-After": "8"}, count=1)
        d = self.start_daemon({"sp": self.add_sp()},
                              {"prod": self.workspace(management_token=True,
                                                      resource_id=RESOURCE_ID)},
                              extra={"request_deadline": "3s"})
        r = d.cli("pat", "--min-valid", "60s")
        self.assertEqual(r.returncode, 5, r.stderr)
        while self.emu.counters()["token_create"] < 2:
            d.get("/v1/workspaces/prod/pat?min_valid=60")
            time.sleep(0.5)
            times = self.emu.counters()["times"]["token_create"]
            if time.time() * 1000 - times[0] > 15000:
                break
        times = self.emu.counters()["times"]["token_create"]
        self.assertGreaterEqual(len(times), 2, "no mint after Retry-After")
        self.assertGreaterEqual((times[1] - times[0]) / 1000, 8.0, times)
        status, body = d.get("/v1/workspaces/prod/pat?min_valid=60")
        self.assertEqual(status, 200, body)
        self.secrets.append(body["token"])

    def test_hanging_entra_fails_the_client_within_the_deadline_then_recovers(self):
        self.emu.fault("aad", delay_ms=8000)
        d = self.aad_only(extra={"request_deadline": "3s"})
        t0 = time.monotonic()
        r = d.cli("aad", "--min-valid", "30s")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertLessEqual(took, 3 + 1.5)
        status, body = d.get("/v1/workspaces/prod/aad?min_valid=30")
        self.assertIn(status, (502, 503), body)
        self.assertEqual(body["error"]["code"], "upstream_unavailable")
        # The hang blocks neither the socket nor other endpoints.
        h0 = time.monotonic()
        self.assertEqual(d.get("/healthz")[0], 200)
        self.assertEqual(d.get("/v1/status")[0], 200)
        self.assertLess(time.monotonic() - h0, 1.0)
        self.emu.clear_faults()
        c0 = time.monotonic()
        poll_until(lambda: d.cli("aad", "--min-valid", "30s").returncode == 0, 30, interval=0.5,
                   what="recovery after the fault is cleared")
        print(f"\n  hanging Entra: client error after {took:.2f} s (deadline 3 s), "
              f"recovered {time.monotonic() - c0:.1f} s after the fault was cleared")

    def test_hanging_token_create_fails_the_client_within_the_deadline_then_serves(self):
        self.emu.fault("token_create", delay_ms=8000, count=1)
        d = self.start_daemon({"sp": self.add_sp()},
                              {"prod": self.workspace(management_token=True,
                                                      resource_id=RESOURCE_ID)},
                              extra={"request_deadline": "3s"})
        d.cli("aad")  # warm the AAD caches: only token/create hangs
        t0 = time.monotonic()
        r = d.cli("pat", "--min-valid", "60s")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertLessEqual(took, 3 + 1.5)
        self.assertEqual(r.stdout, "")
        # The mint finishes in the background; the next client gets that PAT, no second mint.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = d.cli("pat", "--min-valid", "60s")
            if got.returncode == 0:
                break
            time.sleep(0.5)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.secrets.append(got.stdout.strip())
        self.assertEqual(self.emu.counters()["token_create"], 1)
        print(f"\n  hanging token/create: client error after {took:.2f} s (deadline 3 s)")


if __name__ == "__main__":
    unittest.main()
