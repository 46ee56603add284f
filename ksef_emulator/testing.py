"""Start the emulator in a subprocess for tests, demos and benchmarks.

    from ksef_emulator.testing import start_emulator
    emu = start_emulator()                 # fresh temporary state, rate limits off, responses validated
    token = emu.admin("/tokens", {"nip": "5265877635", "permissions": ["InvoiceWrite"]})["token"]
    ... talk HTTP to emu.base_url ...
    emu.restart()                          # same port, same state
    emu.stop()

``start_emulator(state_dir=None, **config)``: ``config`` are ``/admin/config`` keys applied at
start-up. Defaults here differ from a bare ``python -m ksef_emulator`` in two ways:
``rateLimitsEnabled=False`` and ``validateResponses=True`` (any response not matching
open-api.json becomes a 500, so every test also checks the emulator's contract).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LISTEN_PREFIX = "KSeF emulator listening on "
TEST_DEFAULTS = {"rateLimitsEnabled": False, "validateResponses": True}


class EmulatorError(RuntimeError):
    pass


class EmulatorHandle:
    """A running emulator subprocess. Use as a context manager or call :meth:`stop`."""

    def __init__(self, state_dir, config, owns_state, start_timeout=15.0):
        self.state_dir = state_dir
        self.config = config
        self._owns_state = owns_state
        self._start_timeout = start_timeout
        self.log_path = os.path.join(state_dir, "emulator.log")
        self.process = None
        self.port = 0
        self.startup_seconds = None
        self._log_checked = 0
        self._start()

    # -- process control ------------------------------------------------------------------------
    def _start(self):
        command = [sys.executable, "-m", "ksef_emulator", "--host", "127.0.0.1", "--port", str(self.port),
                   "--state", self.state_dir, "--config", json.dumps(self.config)]
        log = open(self.log_path, "ab")
        started = time.monotonic()
        try:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        line = self._read_listen_line()
        self.startup_seconds = time.monotonic() - started
        url = line[len(LISTEN_PREFIX):].strip()
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])

    def _read_listen_line(self):
        result = {}

        def reader():
            result["line"] = self.process.stdout.readline().decode("utf-8", "replace")

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(self._start_timeout)
        line = result.get("line", "")
        if not line.startswith(LISTEN_PREFIX):
            self._kill()
            raise EmulatorError("KSeF emulator did not start (got %r); log:\n%s" % (line, self.log_text()[-3000:]))
        return line

    def _kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()

    def restart(self):
        """Stop and start again on the same port with the same state directory."""
        self._kill()
        self._start()
        return self

    def stop(self):
        self._kill()
        if self._owns_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- URLs and admin API -----------------------------------------------------------------------
    @property
    def root_url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def base_url(self):
        return self.root_url + "/v2"

    def admin(self, path, payload=None, method="POST"):
        """Call ``/admin<path>`` with a JSON payload; return the decoded JSON answer.

        Raises :class:`EmulatorError` with the emulator's message on a non-2xx answer."""
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith("/admin"):
            path = "/admin" + path
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        if method == "GET":
            data = None
        request = urllib.request.Request(self.root_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise EmulatorError("admin %s %s -> %s: %s" % (method, path, exc.code, exc.read().decode("utf-8", "replace")))
        return json.loads(raw) if raw else {}

    def create_token(self, nip, permissions=("InvoiceRead", "InvoiceWrite"), description="test token"):
        """Shortcut for ``POST /admin/tokens``; returns ``{"token", "referenceNumber"}``."""
        return self.admin("/tokens", {"nip": nip, "permissions": list(permissions), "description": description})

    def contract_violations(self):
        """Log lines written since the last call where the emulator broke open-api.json (a response that did
        not match the spec, turned into a 500) or crashed (a traceback). Tests fail on any."""
        text = self.log_text()
        new, self._log_checked = text[self._log_checked:], len(text)
        return [line for line in new.splitlines() if line.startswith(("RESPONSE-MISMATCH", "ERROR "))]

    def assert_contract_clean(self):
        violations = self.contract_violations()
        if violations:
            raise EmulatorError("the KSeF emulator broke its contract (open-api.json 2.9.0):\n%s"
                                % "\n".join(violations[:20]))

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""


def start_emulator(state_dir=None, **config):
    """Start ``python -m ksef_emulator --port 0`` (same interpreter, repo root as cwd)."""
    owns_state = state_dir is None
    if owns_state:
        state_dir = tempfile.mkdtemp(prefix="ksef-emulator-test-")
    merged = dict(TEST_DEFAULTS)
    merged.update(config)
    return EmulatorHandle(state_dir, merged, owns_state)
