"""End-to-end tests of dbxcred-emulator itself: real process, real HTTPS, verified TLS.

Run: cd tests/e2e && DBXCRED_BIN_DIR=<build dir> python3 -m unittest -v test_emulator
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import emulator
from emulator import (DATABRICKS_RESOURCE, MANAGEMENT_RESOURCE, Emulator, EmulatorError)

RESOURCE_ID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Databricks/workspaces/ws1"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class EmulatorTestCase(emulator.EmulatorTestCase):
    def setUp(self):
        super().setUp()
        self.emu.add_principal("sp1", client_secret="s3cret")

    def now_ms(self):
        return int(time.time() * 1000)

    def create_pat(self, headers, lifetime=3600, comment="test", host=None):
        body = {"comment": comment}
        if lifetime is not None:
            body["lifetime_seconds"] = lifetime
        return self.emu.request("POST", "/api/2.0/token/create", headers=headers, body=body,
                                host=host)


class TlsAndCliTest(unittest.TestCase):
    def test_ready_file_and_ca_key_mode(self):
        with Emulator() as emu:
            with open(os.path.join(emu.state_dir, "emulator.json")) as f:
                info = json.load(f)
            self.assertEqual(info, {"port": emu.port, "ca_file": emu.ca_file, "url": emu.url})
            self.assertEqual(os.stat(os.path.join(emu.state_dir, "ca.key")).st_mode & 0o777,
                             0o600)
            # Verified TLS for both names the certificate covers.
            for name in ("127.0.0.1", "localhost"):
                conn = http.client.HTTPSConnection(name, emu.port, context=emu.ssl_context(),
                                                   timeout=10)
                conn.request("GET", "/_emulator/health")
                self.assertEqual(conn.getresponse().status, 200)
                conn.close()
            # An unverified client cannot pass as trusted: the system store lacks the test CA.
            with self.assertRaises(ssl.SSLCertVerificationError):
                conn = http.client.HTTPSConnection("127.0.0.1", emu.port, timeout=10,
                                                   context=ssl.create_default_context())
                conn.request("GET", "/_emulator/health")

    def test_restart_reuses_the_ca(self):
        state = tempfile.mkdtemp(prefix="dbxcred-emu-test-")
        self.addCleanup(shutil.rmtree, state, True)
        with Emulator(state_dir=state) as emu:
            with open(emu.ca_file) as f:
                first = f.read()
        with Emulator(state_dir=state) as emu:
            with open(emu.ca_file) as f:
                self.assertEqual(first, f.read())
            self.assertEqual(emu.request("GET", "/_emulator/health").status, 200)

    def test_curl_verifies_with_the_ca(self):
        with Emulator() as emu:
            out = subprocess.run(["curl", "-sS", "--cacert", emu.ca_file,
                                  emu.url + "/_emulator/settings"],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["pat_quota"], 600)


class EntraTest(EmulatorTestCase):
    def test_v1_numbers_are_strings(self):
        before = int(time.time())
        r = self.emu.aad_token("sp1", "s3cret", raw=True)
        self.assertEqual(r.status, 200)
        body = r.json()
        for key in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
            self.assertIsInstance(body[key], str, key)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["resource"], DATABRICKS_RESOURCE)
        self.assertEqual(body["expires_in"], "3600")
        self.assertAlmostEqual(int(body["expires_on"]), before + 3600, delta=3)
        self.assertTrue(body["access_token"])

    def test_v2_numbers_are_numbers_and_no_expires_on(self):
        r = self.emu.aad_token("sp1", "s3cret", v2=True, raw=True)
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertIsInstance(body["expires_in"], int)
        self.assertIsInstance(body["ext_expires_in"], int)
        self.assertNotIn("expires_on", body)
        self.assertEqual(body["token_type"], "Bearer")

    def test_bad_secret_is_401_aadsts7000215(self):
        r = self.emu.aad_token("sp1", "wrong", raw=True)
        self.assertEqual(r.status, 401)
        body = r.json()
        self.assertEqual(body["error"], "invalid_client")
        self.assertTrue(body["error_description"].startswith("AADSTS7000215: "))
        self.assertIn("\r\nTrace ID: ", body["error_description"])
        self.assertEqual(body["error_codes"], [7000215])
        for key in ("timestamp", "trace_id", "correlation_id"):
            self.assertTrue(body[key])
        self.assertNotIn("wrong", r.text)

    def test_unknown_client_and_malformed_requests(self):
        r = self.emu.aad_token("nobody", "x", raw=True)
        self.assertEqual(r.status, 400)
        self.assertTrue(r.json()["error_description"].startswith("AADSTS700016: "))
        r = self.emu.request("POST", "/t/oauth2/token", body="grant_type=client_credentials",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_request")
        r = self.emu.aad_token("sp1", raw=True)  # neither secret nor assertion
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error_codes"], [7000218])

    def test_v2_scope_must_end_in_default(self):
        r = self.emu.request("POST", "/t/oauth2/v2.0/token",
                             body="grant_type=client_credentials&client_id=sp1"
                                  "&client_secret=s3cret&scope=" + DATABRICKS_RESOURCE)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_federated_token_rotation(self):
        self.emu.add_principal("wi", federated_token="fed-token-1")
        self.assertTrue(self.emu.aad_token("wi", assertion="fed-token-1"))
        self.emu.add_principal("wi", federated_token="fed-token-2")
        r = self.emu.aad_token("wi", assertion="fed-token-1", raw=True)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertTrue(r.json()["error_description"].startswith("AADSTS700024: "))
        self.assertTrue(self.emu.aad_token("wi", assertion="fed-token-2", v2=True))
        r = self.emu.aad_token("wi", assertion="never-issued", raw=True)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error_codes"], [70021])


class CertificateAssertionTest(EmulatorTestCase):
    """JWTs signed with openssl(1): RS256 and PS256, thumbprint, aud, iss/sub, exp checks."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="dbxcred-emu-cert-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        for name in ("good", "other"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", os.path.join(cls.dir, name + ".key"),
                            "-out", os.path.join(cls.dir, name + ".pem"),
                            "-days", "2", "-subj", "/CN=" + name],
                           check=True, capture_output=True)
        with open(os.path.join(cls.dir, "good.pem")) as f:
            cls.cert_pem = f.read()
        der = subprocess.run(["openssl", "x509", "-outform", "DER",
                              "-in", os.path.join(cls.dir, "good.pem")],
                             check=True, capture_output=True).stdout
        cls.x5t_s256 = b64url(hashlib.sha256(der).digest())
        cls.x5t = b64url(hashlib.sha1(der).digest())

    def setUp(self):
        super().setUp()
        self.emu.add_principal("cert-sp", certificate_pem=self.cert_pem)
        self.aud = "https://%s/tenant/oauth2/v2.0/token" % self.emu.host

    def jwt(self, alg="PS256", key="good", aud=None, iss="cert-sp", exp_in=600, thumb="s256"):
        now = int(time.time())
        header = {"alg": alg, "typ": "JWT"}
        header["x5t#S256" if thumb == "s256" else "x5t"] = (
            self.x5t_s256 if thumb == "s256" else self.x5t)
        claims = {"aud": aud or self.aud, "iss": iss, "sub": iss, "jti": "1", "nbf": now,
                  "iat": now, "exp": now + exp_in}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        cmd = ["openssl", "dgst", "-sha256", "-sign", os.path.join(self.dir, key + ".key")]
        if alg == "PS256":
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        sig = subprocess.run(cmd, input=signing_input, check=True, capture_output=True).stdout
        return signing_input.decode() + "." + b64url(sig)

    def test_ps256_and_rs256_accepted(self):
        self.assertTrue(self.emu.aad_token("cert-sp", assertion=self.jwt(), v2=True))
        v1_aud = "https://%s/tenant/oauth2/token" % self.emu.host
        self.assertTrue(self.emu.aad_token("cert-sp", assertion=self.jwt("RS256", thumb="sha1",
                                                                         aud=v1_aud)))

    def test_wrong_key_is_401_aadsts700027(self):
        r = self.emu.aad_token("cert-sp", assertion=self.jwt(key="other"), v2=True, raw=True)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertEqual(r.json()["error_codes"], [700027])

    def test_wrong_audience_subject_or_expired(self):
        r = self.emu.aad_token("cert-sp", v2=True, raw=True,
                               assertion=self.jwt(aud="https://login.example/t/oauth2/token"))
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertEqual(r.status, 401)
        r = self.emu.aad_token("cert-sp", v2=True, raw=True, assertion=self.jwt(iss="someone"))
        self.assertEqual(r.status, 401)
        r = self.emu.aad_token("cert-sp", v2=True, raw=True, assertion=self.jwt(exp_in=-5))
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error_codes"], [700024])


class ImdsAndArmTest(EmulatorTestCase):
    IMDS = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="

    def test_imds_requires_metadata_header(self):
        self.emu.add_principal("mi-1", managed_identity=True)
        r = self.emu.request("GET", self.IMDS + DATABRICKS_RESOURCE)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_imds_answers_like_v1_and_selects_by_client_id(self):
        self.emu.add_principal("mi-1", managed_identity=True)
        self.emu.add_principal("mi-2", managed_identity=True)
        r = self.emu.request("GET", self.IMDS + DATABRICKS_RESOURCE, headers={"Metadata": "true"})
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["client_id"], "mi-1")
        for key in ("expires_in", "expires_on", "not_before"):
            self.assertIsInstance(body[key], str)
        r = self.emu.request("GET", self.IMDS + DATABRICKS_RESOURCE + "&client_id=mi-2",
                             headers={"Metadata": "true"})
        self.assertEqual(r.json()["client_id"], "mi-2")
        r = self.emu.request("GET", self.IMDS + DATABRICKS_RESOURCE + "&client_id=nope",
                             headers={"Metadata": "true"})
        self.assertEqual(r.status, 400)

    def test_arm_workspace_lookup(self):
        self.emu.add_workspace(RESOURCE_ID)
        # A v2 token for "https://management.core.windows.net//.default": same resource as v1's.
        token = self.emu.aad_token("sp1", "s3cret", resource=MANAGEMENT_RESOURCE, v2=True)
        auth = {"Authorization": "Bearer " + token}
        r = self.emu.request("GET", RESOURCE_ID + "?api-version=2018-04-01", headers=auth)
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertEqual(body["id"], RESOURCE_ID)
        self.assertEqual(body["name"], "ws1")
        self.assertEqual(body["location"], "westeurope")
        self.assertEqual(body["properties"]["workspaceUrl"], self.emu.host)
        self.assertEqual(body["properties"]["workspaceId"], "1234567890123456")
        r = self.emu.request("GET", RESOURCE_ID + "x?api-version=2018-04-01", headers=auth)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["code"], "ResourceNotFound")
        r = self.emu.request("GET", RESOURCE_ID + "?api-version=2018-04-01",
                             headers={"Authorization": "Bearer nonsense"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["code"], "InvalidAuthenticationToken")


class DatabricksTest(EmulatorTestCase):
    def pat_headers(self, host=None):
        r = self.create_pat(self.emu.aad_headers("sp1", "s3cret"), host=host)
        self.assertEqual(r.status, 200, r.text)
        return {"Authorization": "Bearer " + r.json()["token_value"]}

    def test_pat_create_list_delete_in_milliseconds(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        before = self.now_ms()
        r = self.create_pat(headers, lifetime=3600, comment="dbxcred test")
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertRegex(body["token_value"], r"^dapi[0-9a-f]{32}$")
        info = body["token_info"]
        self.assertGreaterEqual(info["creation_time"], before)
        self.assertLessEqual(info["creation_time"], self.now_ms())
        self.assertEqual(info["expiry_time"], info["creation_time"] + 3600 * 1000)
        self.assertEqual(info["comment"], "dbxcred test")

        r = self.emu.request("GET", "/api/2.0/token/list", headers=headers)
        self.assertEqual(r.json(), {"token_infos": [info]})
        # The PAT itself authenticates token APIs too, as its owner.
        pat = {"Authorization": "Bearer " + body["token_value"]}
        r = self.emu.request("GET", "/api/2.0/token/list", headers=pat)
        self.assertEqual(len(r.json()["token_infos"]), 1)

        r = self.emu.request("POST", "/api/2.0/token/delete", headers=headers,
                             body={"token_id": info["token_id"]})
        self.assertEqual((r.status, r.json()), (200, {}))
        r = self.emu.request("GET", "/api/2.0/token/list", headers=headers)
        self.assertEqual(r.body, b"{}")  # Databricks omits the empty list
        r = self.emu.request("POST", "/api/2.0/token/delete", headers=headers,
                             body={"token_id": info["token_id"]})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error_code"], "RESOURCE_DOES_NOT_EXIST")

    def test_no_lifetime_means_no_expiry(self):
        r = self.create_pat(self.emu.aad_headers("sp1", "s3cret"), lifetime=None)
        self.assertEqual(r.json()["token_info"]["expiry_time"], -1)

    def test_max_lifetime(self):
        self.emu.settings(pat_max_lifetime=600)
        r = self.create_pat(self.emu.aad_headers("sp1", "s3cret"), lifetime=3600)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error_code"], "INVALID_PARAMETER_VALUE")

    def test_quota_counts_foreign_pats_of_the_principal(self):
        self.emu.settings(pat_quota=3)
        foreign = self.emu.add_foreign_pats("sp1", count=2, comment="foreign")
        self.emu.add_foreign_pats("someone-else", count=5)
        headers = self.emu.aad_headers("sp1", "s3cret")
        self.assertEqual(self.create_pat(headers).status, 200)
        r = self.create_pat(headers)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error_code"], "QUOTA_EXCEEDED")
        self.assertIn("Cannot create more than 3 tokens", r.json()["message"])
        pats = self.emu.pats()
        self.assertEqual(len(pats), 8)
        self.assertEqual(sum(1 for p in pats if p["owner"] == "sp1"), 3)
        self.assertTrue(all("token_value" not in p and "value" not in p for p in pats))
        # Another workspace (another Host) has its own quota.
        self.assertEqual(self.create_pat(headers, host=self.emu.localhost).status, 200)
        # Revoking a foreign token frees a slot.
        self.emu.revoke_pat(foreign[0]["token_id"])
        self.assertEqual(self.create_pat(headers).status, 200)

    def test_expired_pat_stops_working(self):
        r = self.create_pat(self.emu.aad_headers("sp1", "s3cret"), lifetime=1)
        pat = {"Authorization": "Bearer " + r.json()["token_value"]}
        self.assertEqual(self.emu.request("GET", "/api/2.0/clusters/list", headers=pat).status,
                         200)
        time.sleep(1.2)
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=pat)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.emu.pats(), [])

    def test_clusters_list_with_pat(self):
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=self.pat_headers())
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["clusters"][0]["cluster_id"], "0123-456789-abc")

    def test_pat_belongs_to_its_workspace(self):
        pat = self.pat_headers()
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=pat, host=self.emu.localhost)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json(), {"error_code": 403, "message": "Invalid access token."})

    def test_clusters_list_with_aad_and_management_headers(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.assertEqual(r.status, 200, r.text)
        del headers["X-Databricks-Azure-SP-Management-Token"]
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error_code"], 403)
        self.assertIsInstance(r.json()["error_code"], int)

    def test_management_header_needs_a_management_token(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        headers["X-Databricks-Azure-SP-Management-Token"] = self.emu.aad_token("sp1", "s3cret")
        self.assertEqual(
            self.emu.request("GET", "/api/2.0/clusters/list", headers=headers).status, 403)

    def test_aad_token_expiring_within_30_seconds(self):
        self.emu.settings(aad_token_lifetime=20)
        r = self.emu.request("GET", "/api/2.0/clusters/list",
                             headers=self.emu.aad_headers("sp1", "s3cret"))
        self.assertEqual(r.status, 403)
        self.assertIn("expiring within 30 seconds", r.json()["message"])

    def test_expired_aad_token_stops_working(self):
        self.emu.settings(aad_token_lifetime=1)
        token = self.emu.aad_token("sp1", "s3cret", resource=MANAGEMENT_RESOURCE)
        self.emu.add_workspace(RESOURCE_ID)
        time.sleep(1.2)
        r = self.emu.request("GET", RESOURCE_ID + "?api-version=2018-04-01",
                             headers={"Authorization": "Bearer " + token})
        self.assertEqual(r.status, 401)


class FaultAndCounterTest(EmulatorTestCase):
    def test_status_with_retry_after_then_normal(self):
        self.emu.fault("aad", status=429, headers={"Retry-After": "8"}, count=1)
        r = self.emu.aad_token("sp1", "s3cret", raw=True)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.headers["retry-after"], "8")
        self.assertIn("error", r.json())
        self.assertEqual(self.emu.aad_token("sp1", "s3cret", raw=True).status, 200)

    def test_custom_body_and_databricks_default_shape(self):
        self.emu.fault("clusters_list", status=502, body="<html>Bad gateway</html>", count=1)
        self.emu.fault("clusters_list", status=503, count=1)
        headers = self.emu.aad_headers("sp1", "s3cret")
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.assertEqual((r.status, r.text), (502, "<html>Bad gateway</html>"))
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error_code"], "TEMPORARILY_UNAVAILABLE")
        self.assertEqual(self.emu.request("GET", "/api/2.0/clusters/list",
                                          headers=headers).status, 200)

    def test_drop_closes_without_answer(self):
        self.emu.fault("aad", drop=True, count=1)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            self.emu.aad_token("sp1", "s3cret", raw=True)
        self.assertEqual(self.emu.aad_token("sp1", "s3cret", raw=True).status, 200)

    def test_malformed_is_200_with_invalid_json_but_really_handled(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        self.emu.fault("token_create", malformed=True, count=1)
        r = self.create_pat(headers)
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            r.json()
        self.assertEqual(len(self.emu.pats()), 1)  # the token exists: only the answer was lost

    def test_fault_without_count_lasts_until_cleared(self):
        self.emu.fault("imds", status=503)
        self.emu.add_principal("mi", managed_identity=True)
        path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x"
        for _ in range(3):
            self.assertEqual(self.emu.request("GET", path, headers={"Metadata": "true"}).status,
                             503)
        self.emu.clear_faults()
        self.assertEqual(self.emu.request("GET", path, headers={"Metadata": "true"}).status, 200)

    def test_delay_blocks_only_its_own_request_and_still_creates(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        self.emu.fault("token_create", delay_ms=1500, count=1)
        result = {}
        started = time.monotonic()
        t = threading.Thread(target=lambda: result.setdefault("r", self.create_pat(headers)))
        t.start()
        time.sleep(0.2)
        self.assertEqual(len(self.emu.pats()), 0)  # not yet handled
        r = self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.assertEqual(r.status, 200)
        self.assertLess(time.monotonic() - started, 1.2)  # other connections were served
        t.join(10)
        self.assertGreaterEqual(time.monotonic() - started, 1.5)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(len(self.emu.pats()), 1)

    def test_client_gone_during_delay_still_creates(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        self.emu.fault("token_create", delay_ms=800, count=1)
        conn = self.emu.connection()
        conn.request("POST", "/api/2.0/token/create", headers=headers,
                     body=json.dumps({"lifetime_seconds": 60, "comment": "orphan"}))
        conn.sock.close()  # the client dies mid-call
        conn.close()
        deadline = time.monotonic() + 5
        while not self.emu.pats() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual([p["comment"] for p in self.emu.pats()], ["orphan"])
        self.assertTrue(self.emu.alive())

    def test_bad_fault_spec_is_rejected(self):
        r = self.emu.request("POST", "/_emulator/faults", body={"endpoint": "nope"})
        self.assertEqual(r.status, 400)

    def test_counters_and_times(self):
        self.emu.reset_counters()
        before = self.now_ms()
        headers = self.emu.aad_headers("sp1", "s3cret")  # two AAD calls
        self.emu.request("GET", "/api/2.0/clusters/list", headers=headers)
        self.emu.fault("token_list", status=500, count=1)
        self.emu.request("GET", "/api/2.0/token/list", headers=headers)  # faulted: still counted
        c = self.emu.counters()
        self.assertEqual(c["aad"], 2)
        self.assertEqual(c["clusters_list"], 1)
        self.assertEqual(c["token_list"], 1)
        self.assertEqual(c["token_create"], 0)
        self.assertEqual(len(c["times"]["aad"]), 2)
        for t in c["times"]["aad"]:
            self.assertGreaterEqual(t, before)
            self.assertLessEqual(t, self.now_ms())
        self.emu.reset_counters()
        self.assertEqual(self.emu.counters()["aad"], 0)


class ConcurrencyTest(EmulatorTestCase):
    def test_300_concurrent_connections(self):
        headers = self.emu.aad_headers("sp1", "s3cret")
        conns = []
        try:
            for _ in range(300):
                c = self.emu.connection(timeout=30)
                c.connect()
                conns.append(c)
            for c in conns:
                c.request("GET", "/api/2.0/clusters/list", headers=headers)
            statuses = []
            for c in conns:
                resp = c.getresponse()
                resp.read()
                statuses.append(resp.status)
            self.assertEqual(statuses, [200] * 300)
            # Keep-alive: the same connections answer again.
            for c in conns[:10]:
                c.request("GET", "/_emulator/health")
                self.assertEqual(c.getresponse().read(), b'{"status":"ok"}')
        finally:
            for c in conns:
                c.close()


if __name__ == "__main__":
    unittest.main()
