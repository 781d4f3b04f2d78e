"""End-to-end tests of the emulator's Databricks OAuth (PROTOCOLS.md "Databricks OAuth"):
discovery, M2M (Basic and form), RFC 8693 token exchange against federation policies, OAuth
errors, lifetimes, faults and counters, and the workspace APIs accepting the tokens.

Run: cd tests/e2e && DBXCRED_BIN_DIR=<build dir> python3 -m unittest -v test_emulator_oidc
"""

import base64
import time
import unittest
import urllib.parse

from emulator import JWT_TOKEN_TYPE, TOKEN_EXCHANGE, EmulatorTestCase, make_jwt

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:acme/app:ref:refs/heads/main"
AUDIENCE = "https://github.com/acme"


class OidcTestCase(EmulatorTestCase):
    def setUp(self):
        super().setUp()
        self.emu.add_oauth_client("sp-app-id", "dose-secret")

    def post_token(self, form, headers=None, host=None):
        h = dict(FORM)
        h.update(headers or {})
        return self.emu.request("POST", "/oidc/v1/token", body=urllib.parse.urlencode(form),
                                headers=h, host=host)

    def exchange(self, jwt, client_id=None, host=None):
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": jwt,
                "subject_token_type": JWT_TOKEN_TYPE, "scope": "all-apis"}
        if client_id is not None:
            form["client_id"] = client_id
        return self.post_token(form, host=host)

    def clusters(self, token, host=None):
        return self.emu.request("GET", "/api/2.1/clusters/list", host=host,
                                headers={"Authorization": "Bearer " + token})


class DiscoveryTest(OidcTestCase):
    def test_discovery_names_this_hosts_token_endpoint(self):
        r = self.emu.request("GET", "/oidc/.well-known/oauth-authorization-server")
        self.assertEqual(r.status, 200)
        d = r.json()
        self.assertEqual(d["token_endpoint"], "https://%s/oidc/v1/token" % self.emu.host)
        self.assertEqual(d["issuer"], "https://%s/oidc" % self.emu.host)
        self.assertIn("client_credentials", d["grant_types_supported"])
        self.assertIn(TOKEN_EXCHANGE, d["grant_types_supported"])
        self.assertTrue(d["authorization_endpoint"].startswith("https://"))
        other = self.emu.request("GET", "/oidc/.well-known/oauth-authorization-server",
                                 host=self.emu.localhost).json()
        self.assertEqual(other["token_endpoint"], "https://%s/oidc/v1/token" % self.emu.localhost)


class M2mTest(OidcTestCase):
    def test_basic_auth_as_the_sdks_send_it(self):
        r = self.emu.oauth_token("sp-app-id", "dose-secret", raw=True)
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["scope"], "all-apis")
        self.assertIsInstance(body["expires_in"], int)
        self.assertTrue(3590 <= body["expires_in"] <= 3600)
        self.assertNotIn("refresh_token", body)

    def test_form_credentials_are_accepted(self):
        r = self.post_token({"grant_type": "client_credentials", "scope": "all-apis",
                             "client_id": "sp-app-id", "client_secret": "dose-secret"})
        self.assertEqual(r.status, 200, r.text)

    def test_wrong_secret_unknown_client_or_none_is_invalid_client(self):
        for headers, form in (
                ({"Authorization": "Basic " + base64.b64encode(b"sp-app-id:nope").decode()}, {}),
                ({"Authorization": "Basic " + base64.b64encode(b"who:dose-secret").decode()}, {}),
                ({}, {})):
            form = dict(form, grant_type="client_credentials", scope="all-apis")
            r = self.post_token(form, headers)
            self.assertEqual(r.status, 401, r.text)
            self.assertEqual(r.json()["error"], "invalid_client")
            self.assertIn("error_description", r.json())

    def test_second_secret_works_and_removed_client_fails(self):
        self.emu.add_oauth_client("sp-app-id", "second-secret")
        self.emu.oauth_token("sp-app-id", "second-secret")
        self.emu.oauth_token("sp-app-id", "dose-secret")
        self.emu.remove_oauth_client("sp-app-id")
        self.assertEqual(self.emu.oauth_token("sp-app-id", "dose-secret", raw=True).status, 401)

    def test_bad_grant_scope_and_method(self):
        r = self.post_token({"grant_type": "password", "scope": "all-apis"})
        self.assertEqual((r.status, r.json()["error"]), (400, "unsupported_grant_type"))
        r = self.post_token({"scope": "all-apis"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        r = self.post_token({"grant_type": "client_credentials", "scope": "root"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))
        self.assertEqual(self.emu.request("GET", "/oidc/v1/token").status, 405)

    def test_lifetime_is_configurable(self):
        self.emu.oidc_settings(m2m_lifetime=120)
        r = self.emu.oauth_token("sp-app-id", "dose-secret", raw=True)
        self.assertTrue(110 <= r.json()["expires_in"] <= 120)

    def test_workspace_apis_accept_the_token_of_their_host_only(self):
        token = self.emu.oauth_token("sp-app-id", "dose-secret")
        self.assertEqual(self.clusters(token).status, 200)
        # token/create with the OAuth bearer: a PAT of the same principal.
        r = self.emu.request("POST", "/api/2.0/token/create", body={"lifetime_seconds": 600},
                             headers={"Authorization": "Bearer " + token})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual([p["owner"] for p in self.emu.pats()], ["sp-app-id"])
        # Another workspace host (same port, other name) refuses it.
        self.assertEqual(self.clusters(token, host=self.emu.localhost).status, 403)
        self.assertEqual(self.clusters(token + "x").status, 403)

    def test_expired_token_is_refused(self):
        self.emu.oidc_settings(m2m_lifetime=1)
        token = self.emu.oauth_token("sp-app-id", "dose-secret")
        time.sleep(1.2)
        self.assertEqual(self.clusters(token).status, 403)

    def test_tokens_view_names_principal_never_value(self):
        token = self.emu.oauth_token("sp-app-id", "dose-secret")
        tokens = self.emu.oauth_tokens()
        self.assertEqual([(t["host"], t["principal"]) for t in tokens],
                         [(self.emu.host, "sp-app-id")])
        self.assertNotIn(token, str(tokens))


class FaultsAndCountersTest(OidcTestCase):
    def test_counters_and_injected_429_with_retry_after(self):
        self.emu.reset_counters()
        self.emu.fault("oidc_token", status=429, headers={"Retry-After": "7"}, count=1)
        r = self.emu.oauth_token("sp-app-id", "dose-secret", raw=True)
        self.assertEqual(r.status, 429)
        self.assertEqual(r.headers.get("retry-after"), "7")
        self.assertIn("error", r.json())  # OAuth-shaped
        self.emu.oauth_token("sp-app-id", "dose-secret")
        self.emu.request("GET", "/oidc/.well-known/oauth-authorization-server")
        c = self.emu.counters()
        self.assertEqual(c["oidc_token"], 2)
        self.assertEqual(c["oidc_discovery"], 1)
        self.assertEqual(len(c["times"]["oidc_token"]), 2)

    def test_discovery_fault(self):
        self.emu.fault("oidc_discovery", status=503, count=1)
        r = self.emu.request("GET", "/oidc/.well-known/oauth-authorization-server")
        self.assertEqual(r.status, 503)


class TokenExchangeTest(OidcTestCase):
    def jwt(self, **over):
        claims = {"iss": ISSUER, "sub": SUBJECT, "aud": AUDIENCE, "exp": int(time.time()) + 300,
                  "iat": int(time.time())}
        claims.update(over)
        return make_jwt(claims)

    def test_service_principal_policy_needs_its_client_id(self):
        self.emu.add_federation_policy(ISSUER, SUBJECT, AUDIENCE, client_id="sp-app-id")
        r = self.exchange(self.jwt(), client_id="sp-app-id")
        self.assertEqual(r.status, 200, r.text)
        token = r.json()["access_token"]
        self.assertEqual(self.clusters(token).status, 200)
        self.assertEqual(self.emu.oauth_tokens()[0]["principal"], "sp-app-id")
        # Without the client id it does not match (that would be an account-wide policy).
        r = self.exchange(self.jwt())
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"))

    def test_account_wide_policy_without_client_id(self):
        self.emu.add_federation_policy(ISSUER, SUBJECT, AUDIENCE, principal="ci@acme.com")
        r = self.exchange(self.jwt(aud=["other", AUDIENCE]))
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.emu.oauth_tokens()[0]["principal"], "ci@acme.com")

    def test_lifetime_capped_by_subject_token(self):
        self.emu.add_federation_policy(ISSUER, SUBJECT, AUDIENCE)
        r = self.exchange(self.jwt(exp=int(time.time()) + 90))
        self.assertTrue(80 <= r.json()["expires_in"] <= 90, r.text)

    def test_refusals(self):
        self.emu.add_federation_policy(ISSUER, SUBJECT, AUDIENCE)
        cases = [self.jwt(sub="repo:evil/app"), self.jwt(iss="https://evil"),
                 self.jwt(aud="other"), self.jwt(exp=int(time.time()) - 5),
                 make_jwt({"iss": ISSUER, "sub": SUBJECT, "aud": AUDIENCE,
                           "exp": int(time.time()) + 300}, alg="HS256"),
                 "not-a-jwt"]
        for jwt in cases:
            r = self.exchange(jwt)
            self.assertEqual((r.status, r.json()["error"]), (400, "invalid_grant"), r.text)
        r = self.post_token({"grant_type": TOKEN_EXCHANGE, "subject_token": self.jwt(),
                             "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))


if __name__ == "__main__":
    unittest.main()
