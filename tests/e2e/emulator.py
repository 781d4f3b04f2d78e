"""Start and drive dbxcred-emulator from end-to-end tests (Python 3 standard library only).

    with Emulator() as emu:
        emu.add_principal("sp", client_secret="s")
        r = emu.request("POST", "/tenant/oauth2/token", body={...form...})

The binary is $DBXCRED_BIN_DIR/tests/emulator/dbxcred-emulator. Requests are real HTTPS, verified
against the emulator's generated CA. Leaving the `with` block stops the emulator with SIGTERM and
fails if it crashed or exited non-zero.
"""

import base64
import http.client
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
MANAGEMENT_RESOURCE = "https://management.core.windows.net/"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def make_jwt(claims, alg="RS256"):
    """A JWT-shaped subject token (the emulator checks claims and alg, not the signature)."""
    def enc(o):
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (enc({"alg": alg, "typ": "JWT", "kid": "k1"}), enc(claims),
                         base64.urlsafe_b64encode(os.urandom(64)).rstrip(b"=").decode())


class EmulatorError(Exception):
    pass


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body  # bytes

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.text[:200])


def emulator_binary():
    bin_dir = os.environ.get("DBXCRED_BIN_DIR")
    if not bin_dir:
        raise EmulatorError("DBXCRED_BIN_DIR is not set (the CMake build directory)")
    path = os.path.join(bin_dir, "tests", "emulator", "dbxcred-emulator")
    if not os.access(path, os.X_OK):
        raise EmulatorError("no emulator binary at %s (build target dbxcred-emulator)" % path)
    return path


class Emulator:
    def __init__(self, state_dir=None, args=(), ready_timeout=10.0):
        self._own_dir = state_dir is None
        self.state_dir = state_dir
        self._args = list(args)
        self._ready_timeout = ready_timeout
        self.proc = None
        self.url = self.port = self.ca_file = self.host = None
        self._ssl = None
        self._stderr = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="dbxcred-emu-")
        self._stderr = open(os.path.join(self.state_dir, "emulator.log"), "wb")
        self.proc = subprocess.Popen(
            [emulator_binary(), "--state-dir", self.state_dir] + self._args,
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        line = self._read_ready_line()
        if not line.startswith("ready https://127.0.0.1:"):
            self._kill()
            raise EmulatorError("emulator did not become ready (got %r); log:\n%s"
                                % (line, self.log_tail()))
        self.url = line.split(" ", 1)[1]
        with open(os.path.join(self.state_dir, "emulator.json")) as f:
            info = json.load(f)
        self.port = int(info["port"])
        self.ca_file = info["ca_file"]
        self.host = "127.0.0.1:%d" % self.port
        self.localhost = "localhost:%d" % self.port  # a different workspace on the same port
        self._ssl = ssl.create_default_context(cafile=self.ca_file)
        return self

    def _read_ready_line(self):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self._ready_timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        sel.close()
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def stop(self):
        """Stops the emulator; raises EmulatorError if it had crashed or exits non-zero."""
        if self.proc is None:
            return
        crashed = self.proc.poll()
        if crashed is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
                raise EmulatorError("emulator ignored SIGTERM for 10 s")
        else:
            rc = crashed
        self.proc.stdout.close()
        self.proc = None
        self._stderr.close()
        if crashed is not None:
            raise EmulatorError("emulator died during the test (exit %s); log:\n%s"
                                % (crashed, self.log_tail()))
        if rc != 0:
            raise EmulatorError("emulator exited %s on SIGTERM; log:\n%s" % (rc, self.log_tail()))
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            with open(os.path.join(self.state_dir, "emulator.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        except EmulatorError:
            if exc_type is None:
                raise  # fail the test: the emulator crashed or exited badly
        return False

    # -- HTTPS -------------------------------------------------------------------------------
    def ssl_context(self):
        return self._ssl

    def connection(self, timeout=30):
        """A fresh verified HTTPS connection (for tests that need keep-alive or raw control)."""
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self._ssl)

    def request(self, method, path, headers=None, body=None, host=None, timeout=30):
        """One request on a new connection. `body`: dict/list (sent as JSON), str or bytes.
        `host` overrides the Host header (it selects the Databricks workspace)."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        if host is not None:
            hdrs["Host"] = host
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def _control(self, method, path, body=None):
        r = self.request(method, "/_emulator/" + path, body=body)
        if r.status != 200:
            raise EmulatorError("control %s %s: %d %s" % (method, path, r.status, r.text))
        return r.json()

    # -- control API -------------------------------------------------------------------------
    def reset(self):
        return self._control("POST", "reset")

    def add_principal(self, client_id, client_secret=None, certificate_pem=None,
                      federated_token=None, managed_identity=None, workspace_user=None):
        body = {"client_id": client_id}
        for k, v in (("client_secret", client_secret), ("certificate_pem", certificate_pem),
                     ("federated_token", federated_token), ("managed_identity", managed_identity),
                     ("workspace_user", workspace_user)):
            if v is not None:
                body[k] = v
        return self._control("POST", "principals", body)

    def add_workspace(self, resource_id, workspace_url=None, workspace_id=None, location=None):
        body = {"resource_id": resource_id, "workspace_url": workspace_url or self.host}
        if workspace_id is not None:
            body["workspace_id"] = workspace_id
        if location is not None:
            body["location"] = location
        return self._control("POST", "workspaces", body)

    def settings(self, **changes):
        """settings() reads; settings(aad_token_lifetime=60, pat_quota=3, pat_max_lifetime=None)."""
        if not changes:
            return self._control("GET", "settings")
        return self._control("POST", "settings", changes)

    def fault(self, endpoint, status=None, body=None, headers=None, delay_ms=None, drop=None,
              malformed=None, count=None):
        spec = {"endpoint": endpoint}
        for k, v in (("status", status), ("body", body), ("headers", headers),
                     ("delay_ms", delay_ms), ("drop", drop), ("malformed", malformed),
                     ("count", count)):
            if v is not None:
                spec[k] = v
        return self._control("POST", "faults", spec)

    def faults(self):
        return self._control("GET", "faults")

    def clear_faults(self):
        return self._control("DELETE", "faults")

    def counters(self):
        return self._control("GET", "counters")

    def reset_counters(self):
        return self._control("DELETE", "counters")

    def pats(self, host=None):
        return self._control("GET", "pats?host=" + urllib.parse.quote(host or self.host))

    def add_foreign_pats(self, owner, count=1, comment="foreign", host=None,
                         lifetime_seconds=None):
        body = {"host": host or self.host, "owner": owner, "count": count, "comment": comment}
        if lifetime_seconds is not None:
            body["lifetime_seconds"] = lifetime_seconds
        return self._control("POST", "pats", body)["tokens"]

    def revoke_pat(self, token_id, host=None):
        q = urllib.parse.urlencode({"host": host or self.host, "token_id": token_id})
        return self._control("DELETE", "pats?" + q)

    # CI OIDC issuers (GitHub Actions, Azure DevOps; tests/emulator/ci_oidc.h) ----------------
    def add_ci_job(self, kind="github", **fields):
        """Registers a running CI job; returns {"request_url","request_token","issuer","subject",
        "service_connection_id","ends_at"}. fields: repository, pipeline, subject, issuer,
        service_connection_id, duration (seconds until the job ends)."""
        body = {"kind": kind}
        body.update(fields)
        return self._control("POST", "ci/jobs", body)

    def end_ci_job(self, request_token):
        return self._control("POST", "ci/end-job", {"request_token": request_token})

    def add_federated_credential(self, client_id, issuer, subject,
                                 audience="api://AzureADTokenExchange"):
        return self._control("POST", "ci/federated-credentials",
                             {"client_id": client_id, "issuer": issuer, "subject": subject,
                              "audience": audience})

    def ci_settings(self, **changes):
        """ci_settings() reads {"lifetime","github_fetches","azure_devops_fetches","exchanges",
        "reused"}; ci_settings(lifetime=50) sets the OIDC tokens' lifetime."""
        if not changes:
            return self._control("GET", "ci/settings")
        return self._control("POST", "ci/settings", changes)

    # Databricks OAuth (the workspace's /oidc endpoints) -----------------------------------
    def add_oauth_client(self, client_id, client_secret):
        """A Databricks-managed OAuth secret of service principal `client_id` (M2M)."""
        return self._control("POST", "oidc/clients",
                             {"client_id": client_id, "client_secret": client_secret})

    def remove_oauth_client(self, client_id):
        return self._control("DELETE", "oidc/clients?client_id=" + urllib.parse.quote(client_id))

    def add_federation_policy(self, issuer, subject, audience, client_id=None, principal=None):
        body = {"issuer": issuer, "subject": subject, "audience": audience}
        if client_id is not None:
            body["client_id"] = client_id
        if principal is not None:
            body["principal"] = principal
        return self._control("POST", "oidc/policies", body)

    def oidc_settings(self, **changes):
        """oidc_settings() reads; oidc_settings(m2m_lifetime=120, federated_lifetime=60)."""
        if not changes:
            return self._control("GET", "oidc/settings")
        return self._control("POST", "oidc/settings", changes)

    def oauth_tokens(self):
        """The live Databricks OAuth tokens: [{host, principal, expires_at}] (no values)."""
        return self._control("GET", "oidc/tokens")

    def oauth_token(self, client_id, client_secret, host=None, raw=False):
        """M2M exactly as the Databricks SDKs ask (Basic auth, scope all-apis)."""
        basic = base64.b64encode(("%s:%s" % (client_id, client_secret)).encode()).decode()
        r = self.request("POST", "/oidc/v1/token", host=host,
                         body="grant_type=client_credentials&scope=all-apis",
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Authorization": "Basic " + basic})
        if raw:
            return r
        if r.status != 200:
            raise EmulatorError("oauth token request failed: %d %s" % (r.status, r.text))
        return r.json()["access_token"]

    # -- conveniences for tests --------------------------------------------------------------
    def aad_token(self, client_id, client_secret=None, resource=DATABRICKS_RESOURCE, v2=False,
                  tenant="tenant", assertion=None, raw=False):
        """Client-credentials token request. Returns the access token, or the Response if raw."""
        form = {"grant_type": "client_credentials", "client_id": client_id}
        if client_secret is not None:
            form["client_secret"] = client_secret
        if assertion is not None:
            form["client_assertion_type"] = JWT_BEARER
            form["client_assertion"] = assertion
        if v2:
            form["scope"] = resource.rstrip("/") + "/.default" if resource.startswith(
                "https://") else resource + "/.default"
            path = "/%s/oauth2/v2.0/token" % tenant
        else:
            form["resource"] = resource
            path = "/%s/oauth2/token" % tenant
        r = self.request("POST", path, body=urllib.parse.urlencode(form),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        if raw:
            return r
        if r.status != 200:
            raise EmulatorError("token request failed: %d %s" % (r.status, r.text))
        return r.json()["access_token"]

    def aad_headers(self, client_id, client_secret,
                    resource_id="/subscriptions/s/resourceGroups/rg/providers/"
                                "Microsoft.Databricks/workspaces/w"):
        """The three headers a service principal that is no workspace user sends to Databricks."""
        return {
            "Authorization": "Bearer " + self.aad_token(client_id, client_secret),
            "X-Databricks-Azure-SP-Management-Token":
                self.aad_token(client_id, client_secret, resource=MANAGEMENT_RESOURCE),
            "X-Databricks-Azure-Workspace-Resource-Id": resource_id,
        }


class EmulatorTestCase(unittest.TestCase):
    """One emulator for the class; every test starts from a reset state (subclasses add their
    principals in setUp after calling this one)."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator().start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.assertTrue(self.emu.alive(), "emulator died:\n" + self.emu.log_tail())
        self.emu.reset()
