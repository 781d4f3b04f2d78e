"""End-to-end harness: a real dbxcredd and the real dbxcred CLI against a real dbxcred-emulator.

Every test gets a temp dir holding the config, the secret files, the state dir and the socket.
Secrets are generated per test and never printed; assert_no_secret() checks outputs for them.
"""
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from emulator import Emulator

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(E2E_DIR, "node_modules")


def ensure_npm_clients():
    """Installs the real SDK clients (package-lock.json) into tests/e2e/node_modules once, for every
    test module that needs them. ctest runs modules in parallel and `npm ci` first deletes
    node_modules, so the check and the install happen under one lock. Returns why the clients are
    unavailable (no npm/node), or None; a failed install is an error."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "npm/node not installed: the real-SDK tests need Node.js 20+ and npm"
    wanted = [os.path.join(NODE_MODULES, "@databricks", "sdk-experimental", "package.json"),
              os.path.join(NODE_MODULES, "@azure", "identity", "package.json")]
    with open(os.path.join(tempfile.gettempdir(), "dbxcred-e2e-npm.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.path.exists(p) for p in wanted):
            return None
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=E2E_DIR, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci failed in tests/e2e:\n" + r.stderr[-3000:])
    return None

BIN = os.environ.get("DBXCRED_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
DBXCREDD = os.path.join(BIN, "daemon", "dbxcredd")
DBXCRED = os.path.join(BIN, "client", "dbxcred")
DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"


def _complete(data, at_eof=False):
    """True when `data` holds a whole HTTP answer (by Content-Length; without one, only at EOF)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return at_eof


def unix_request(sock_path, path, timeout=30):
    """GET over the daemon's Unix socket, one connection; returns the raw answer (head and body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while not _complete(data):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                # A server may close right after a complete answer (e.g. a 503 over a connection
                # cap); only a reset before the answer is whole is an error.
                if _complete(data, at_eof=True):
                    break
                raise
            if not chunk:
                break
            data += chunk
    return data


def unix_get(sock_path, path, timeout=30):
    """GET over the daemon's Unix socket; returns (status, parsed JSON or text)."""
    head, _, body = unix_request(sock_path, path, timeout).partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    text = body.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def poll_until(predicate, timeout, interval=0.1, what="condition"):
    """Calls predicate() until it returns a truthy value (returned) or `timeout` seconds pass
    (AssertionError naming `what`). Use instead of fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Daemon:
    """A dbxcredd process with a generated config. `workspaces` and `credentials` are merged into it."""

    def __init__(self, emu, tmp, credentials=None, workspaces=None, extra=None, env=None):
        self.emu = emu
        self.tmp = tmp
        self.state_dir = os.path.join(tmp, "state")
        self.socket = os.path.join(tmp, "run", "dbxcred.sock")
        self.config_path = os.path.join(tmp, "config.json")
        self.stderr_path = os.path.join(tmp, "dbxcredd.stderr")
        self.config = {
            "socket": {"path": self.socket, "mode": "0660"},
            "state_dir": self.state_dir,
            "instance": "e2e",
            "log": {"level": "debug"},
            "endpoints": {
                "authority": emu.url,
                "resource_manager": emu.url,
                "imds": emu.url,
            },
            "tls": {"ca_file": emu.ca_file},
            "credentials": credentials or {},
            "workspaces": workspaces or {},
        }
        if extra:
            self.config.update(extra)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    def write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        os.chmod(self.config_path, 0o600)

    def start(self, wait=True):
        self.write_config()
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([DBXCREDD, "--config", self.config_path],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dbxcredd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if unix_get(self.socket, "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("dbxcredd did not become ready:\n" + self.log())

    def get(self, path):
        return unix_get(self.socket, path)

    def cli(self, *args, env=None, timeout=60):
        e = dict(os.environ)
        e.pop("DBXCRED_WORKSPACE", None)
        e["DBXCRED_SOCKET"] = self.socket
        e.update(env or {})
        return subprocess.run([DBXCRED, *args], capture_output=True, text=True, env=e,
                              timeout=timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.stderr.close()  # start() reopens it (append) for a restart

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()

    def log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class E2ETestCase(unittest.TestCase):
    """Starts an emulator per test; helpers to register a service principal and start a daemon."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="dbxcred-e2e-")
        self.tmp = self._tmp.name
        self.emu = Emulator().__enter__()
        self.daemons = []
        self.secrets = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        self.emu.__exit__(None, None, None)
        self._tmp.cleanup()

    def secret(self):
        s = "sec-" + secrets.token_hex(16)
        self.secrets.append(s)
        return s

    def add_sp(self, client_id="sp-client", tenant="tenant-1", name="sp"):
        """Registers a service principal at the emulator; returns its credential config."""
        sec = self.secret()
        self.emu.add_principal(client_id=client_id, client_secret=sec)
        path = os.path.join(self.tmp, f"{name}.secret")
        with open(path, "w") as f:
            f.write(sec + "\n")
        os.chmod(path, 0o600)
        return {"type": "client_secret", "tenant_id": tenant, "client_id": client_id,
                "client_secret_file": path}

    def workspace(self, credential="sp", host=None, **kw):
        ws = {"credential": credential, "host": "https://" + (host or self.emu.host)}
        ws.update(kw)
        return ws

    def start_daemon(self, credentials, workspaces, extra=None, env=None, wait=True):
        d = Daemon(self.emu, os.path.join(self.tmp, f"d{len(self.daemons)}"), credentials,
                   workspaces, extra, env)
        os.makedirs(d.tmp, exist_ok=True)
        self.daemons.append(d)
        return d.start(wait=wait)

    def assert_no_secret(self, *texts):
        for t in texts:
            for s in self.secrets:
                self.assertNotIn(s, t)
