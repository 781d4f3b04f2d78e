"""CI job identity sessions end to end (issue 23): a job step hands the daemon its own OIDC request
URL and token (`dbxcred session start`), and the job's later steps get tokens exchanged from fresh
OIDC tokens for the whole job, although each OIDC token lives only minutes.

Time is compressed as in the other e2e tests: the emulator issues short lifetimes. A 20-minute job
with 5-minute OIDC tokens (the job outlives four of them) becomes a 60 s job with 50 s OIDC tokens
and exchanged tokens capped at the OIDC token's exp: the job outlives its first OIDC token and the
daemon exchanges every ~10 s (a token is served only with at least 40 s left, SPEC.md). 50 s, not
15 s: below 40 s nothing could be served at all (Databricks' 30 s rule plus the trip).

Runs as root for the other-uid checks (setpriv); they are skipped otherwise.
"""
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import DBXCRED, E2ETestCase, _complete
from test_security import OTHER_USER, ensure_other_user

IS_ROOT = os.geteuid() == 0
HAVE_TOOLS = all(shutil.which(t) for t in ("useradd", "groupadd", "usermod", "setpriv"))

OIDC_LIFETIME = 50  # seconds: the job's OIDC tokens (GitHub's are 5 minutes)
JOB_SECONDS = 60    # the simulated job's length (20 minutes)
AUDIENCE = "dbx-account-audience"


def session_get(sock_path, path, secret):
    """GET over the daemon's socket with the X-Dbxcred-Session header; (status, JSON)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(sock_path)
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Dbxcred-Session: {secret}\r\n"
                   "Connection: close\r\n\r\n").encode())
        data = b""
        while not _complete(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


class SessionTestCase(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.emu.ci_settings(lifetime=OIDC_LIFETIME)
        self.github_env = os.path.join(self.tmp, "github_env")

    def github_job(self, repository="octo/app", duration=JOB_SECONDS + 30, **kw):
        job = self.emu.add_ci_job("github", repository=repository, duration=duration, **kw)
        self.secrets.append(job["request_token"])
        return job

    def github_env_of(self, job):
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": job["request_url"],
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": job["request_token"],
                "GITHUB_ENV": self.github_env}

    def federation_daemon(self, job, subjects=("repo:octo/app:*",), socket_group=None):
        """A daemon with workspace `ci` whose sessions are exchanged by Databricks federation."""
        self.emu.oidc_settings(federated_lifetime=3600)  # capped at the subject token's exp
        self.emu.add_federation_policy(job["issuer"], job["subject"], AUDIENCE,
                                       client_id="fed-sp")
        creds = {"gh-fed": {"type": "databricks_federation", "client_id": "fed-sp"}}
        ws = {"ci": self.workspace(credential="gh-fed",
                                   sessions={"issuers": [job["issuer"]],
                                             "subjects": list(subjects),
                                             "audience": AUDIENCE})}
        extra = None
        if socket_group:
            extra = {"socket": {"path": os.path.join(self.tmp, "d0", "run", "dbxcred.sock"),
                                "mode": "0660", "group": socket_group}}
        return self.start_daemon(creds, ws, extra=extra)

    def start_session(self, d, job):
        r = d.cli("-w", "ci", "session", "start", "--github-actions", env=self.github_env_of(job))
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        with open(self.github_env) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("DBXCRED_SESSION=")]
        self.assertEqual(len(lines), 1)
        secret = lines[-1].split("=", 1)[1]
        self.assertTrue(secret.startswith("dbxs_"))
        # Masked for the job's log before anything could print it; not printed in the clear.
        self.assertEqual(r.stdout, "::add-mask::" + secret + "\n")
        self.secrets.append(secret)
        return secret

    def clusters_list(self, token):
        return self.emu.request("GET", "/api/2.0/clusters/list",
                                headers={"Authorization": "Bearer " + token})


class GithubFederationSessionTest(SessionTestCase):
    def test_a_long_job_gets_valid_tokens_and_one_oidc_fetch_per_exchange(self):
        job = self.github_job()
        d = self.federation_daemon(job)
        secret = self.start_session(d, job)
        env = {"DBXCRED_SESSION": secret}
        start = time.monotonic()
        served = set()
        checks = 0
        while time.monotonic() - start < JOB_SECONDS:
            # What a step runs: `dbxcred token`, and `dbxcred exec` for a tool.
            r = d.cli("-w", "ci", "token", env=env)
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            token = r.stdout.strip()
            served.add(token)
            self.assertEqual(self.clusters_list(token).status, 200, "a served token was refused")
            status, body = session_get(d.socket, "/v1/workspaces/ci/token", secret)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["kind"], "oauth")
            self.assertGreaterEqual(body["expires_at"] - time.time(), 39,
                                    "served with less than the 40 s floor left")
            checks += 1
            time.sleep(2)
        r = d.cli("-w", "ci", "exec", "--", "sh", "-c", 'printf %s "$DATABRICKS_TOKEN"', env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.clusters_list(r.stdout).status, 200)

        c = self.emu.ci_settings()
        # The job outlived its first OIDC token: the daemon exchanged fresh ones all along ...
        self.assertGreaterEqual(c["exchanges"], 3, c)
        self.assertGreaterEqual(len(served), 3)
        # ... asking the job's OIDC endpoint exactly once per exchange, never reusing a token.
        self.assertEqual(c["github_fetches"], c["exchanges"], c)
        self.assertEqual(c["reused"], 0, c)
        print(f"\n  {JOB_SECONDS}s job, {OIDC_LIFETIME}s OIDC tokens: {checks} checks, "
              f"{c['exchanges']} exchanges, {c['github_fetches']} OIDC fetches, "
              f"{len(served)} distinct tokens")

        self.assert_no_secret(d.log(), r.stderr)
        # The audit names the session (issuer, subject, repository) and the uid; no secret.
        audit = d.cli("audit", "--json")
        self.assertEqual(audit.returncode, 0, audit.stderr)
        records = [json.loads(l) for l in audit.stdout.splitlines()]
        starts = [x for x in records if x["kind"] == "session-start"]
        self.assertEqual(len(starts), 1, audit.stdout)
        self.assertEqual(starts[0]["outcome"], "served")
        self.assertEqual(starts[0]["uid"], os.geteuid())
        for part in ("iss=" + job["issuer"], "sub=" + job["subject"], "repository=octo/app"):
            self.assertIn(part, starts[0]["session"])
        tokens = [x for x in records if x["kind"] == "token" and x.get("session")]
        self.assertGreaterEqual(len(tokens), checks)
        self.assert_no_secret(audit.stdout)

    def test_the_same_uid_without_or_with_a_wrong_secret_is_refused(self):
        job = self.github_job()
        d = self.federation_daemon(job)
        secret = self.start_session(d, job)
        r = d.cli("-w", "ci", "token")
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("serves CI sessions only", r.stderr)
        wrong = secret[:-4] + ("0000" if not secret.endswith("0000") else "1111")
        r = d.cli("-w", "ci", "token", env={"DBXCRED_SESSION": wrong})
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        status, body = session_get(d.socket, "/v1/workspaces/ci/token", wrong)
        self.assertEqual(status, 403, body)
        self.assertNotIn("token", body)
        self.assert_no_secret(r.stderr, d.log())

    def test_an_unconfigured_subject_or_issuer_is_refused_at_start(self):
        job = self.github_job()
        d = self.federation_daemon(job)
        other = self.github_job(repository="evil/other")
        r = d.cli("-w", "ci", "session", "start", "--github-actions", env=self.github_env_of(other))
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("subject", r.stderr)
        self.assertIn("sessions.subjects", r.stderr)
        stranger = self.github_job(issuer="https://token.example.invalid")
        r = d.cli("-w", "ci", "session", "start", "--github-actions",
                  env=self.github_env_of(stranger))
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("sessions.issuers", r.stderr)
        self.assertFalse(os.path.exists(self.github_env), "no session secret was handed out")
        self.assert_no_secret(r.stderr, d.log())

    def test_session_end_and_the_jobs_end_forget_the_session(self):
        job = self.github_job()
        d = self.federation_daemon(job)
        secret = self.start_session(d, job)
        env = {"DBXCRED_SESSION": secret}
        self.assertEqual(d.cli("-w", "ci", "token", env=env).returncode, 0)
        r = d.cli("session", "end", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.cli("-w", "ci", "token", env=env)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        # A job that ends: its request token expires, and so does the session.
        short = self.github_job(duration=3)
        os.unlink(self.github_env)
        secret2 = self.start_session(d, short)
        time.sleep(4)
        r = d.cli("-w", "ci", "token", env={"DBXCRED_SESSION": secret2})
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)


@unittest.skipUnless(IS_ROOT and HAVE_TOOLS, "needs root, useradd/groupadd/usermod and setpriv")
class OtherUidSessionTest(SessionTestCase):
    def test_another_uid_with_the_secret_is_refused(self):
        uid, gid, _ = ensure_other_user()
        os.chmod(self.tmp, 0o711)  # the other user must reach the socket below the temp dir
        job = self.github_job()
        d = self.federation_daemon(job, socket_group=OTHER_USER)
        secret = self.start_session(d, job)
        e = dict(os.environ)
        e.pop("DBXCRED_WORKSPACE", None)
        e.update({"DBXCRED_SOCKET": d.socket, "DBXCRED_SESSION": secret})
        r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups",
                            DBXCRED, "-w", "ci", "token"],
                           capture_output=True, text=True, env=e, timeout=60)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertIn("belongs to uid", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assert_no_secret(r.stderr, d.log())


class AzureDevOpsEntraSessionTest(SessionTestCase):
    def test_entra_exchange_with_the_service_connection(self):
        self.emu.settings(aad_token_lifetime=OIDC_LIFETIME)
        job = self.emu.add_ci_job("azure-devops", pipeline="org/project/deploy",
                                  duration=JOB_SECONDS)
        self.secrets.append(job["request_token"])
        self.emu.add_principal("ado-sp", workspace_user=True)
        self.emu.add_federated_credential("ado-sp", job["issuer"], job["subject"])
        creds = {"ado": {"type": "workload_identity", "tenant_id": "t1", "client_id": "ado-sp"}}
        ws = {"ci": self.workspace(credential="ado",
                                   sessions={"issuers": [job["issuer"]],
                                             "subjects": ["sc://org/project/*"]})}
        d = self.start_daemon(creds, ws)
        env = {"SYSTEM_OIDCREQUESTURI": job["request_url"],
               "SYSTEM_ACCESSTOKEN": job["request_token"]}
        r = d.cli("-w", "ci", "session", "start", "--azure-devops", env=env)
        self.assertEqual(r.returncode, 2, "--service-connection is required")
        r = d.cli("-w", "ci", "session", "start", "--azure-devops", "--service-connection",
                  job["service_connection_id"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr + d.log())
        prefix = "##vso[task.setvariable variable=DBXCRED_SESSION;issecret=true]"
        self.assertTrue(r.stdout.startswith(prefix), r.stdout)
        secret = r.stdout.strip()[len(prefix):]
        self.secrets.append(secret)
        start = time.monotonic()
        while time.monotonic() - start < 25:
            r = d.cli("-w", "ci", "aad", env={"DBXCRED_SESSION": secret})
            self.assertEqual(r.returncode, 0, r.stderr + d.log())
            self.assertEqual(self.clusters_list(r.stdout.strip()).status, 200)
            time.sleep(2)
        c = self.emu.ci_settings()
        self.assertGreaterEqual(c["exchanges"], 2, c)
        self.assertEqual(c["azure_devops_fetches"], c["exchanges"], c)
        self.assertEqual(c["reused"], 0, c)
        self.assert_no_secret(d.log())


if __name__ == "__main__":
    unittest.main()
