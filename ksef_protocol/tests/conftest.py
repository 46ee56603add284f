"""Shared fixtures of the ksef_protocol core tests.

* ``fake_server``: a tiny scripted HTTP server on 127.0.0.1 for transport edge
  cases (HTML 502, Retry-After, dropped connections, paging) that the emulator
  cannot easily produce.  It is a real HTTP peer: the client is never mocked.
* ``emulator``: the project's KSeF emulator (``ksef_emulator.testing``), started
  once per test session.
* ``recorded_sleep``: a ``sleep`` replacement that records the requested delays.
"""
import http.server
import json
import socket
import sys
import threading

import pytest


class RecordedSleep:
    """Callable used as ``sleep=``: records every requested delay instead of waiting."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)

    @property
    def total(self):
        return sum(self.calls)


class FakeClock:
    """Manually advanced clock (Unix seconds); ``sleep`` advances it too."""

    def __init__(self, start=1_760_000_000.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def recorded_sleep():
    return RecordedSleep()


@pytest.fixture
def fake_clock():
    return FakeClock()


class _QuietServer(http.server.ThreadingHTTPServer):
    """Tests of timeouts drop connections on purpose: that is not an error worth a traceback."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ScriptedServer:
    """HTTP server answering from a per-route script.

    ``script(method, path, responses)`` queues responses for a route; each response is
    ``(status, headers, body)`` or the string ``"drop"`` (read the request, close the socket
    without answering).  The last response of a route repeats.  ``requests`` records
    ``(method, path_with_query, headers, body)``.
    """

    def __init__(self):
        self.routes = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                path = self.path.split("?", 1)[0]
                queue = outer.routes.get((self.command, path))
                if not queue:
                    response = (404, {"Content-Type": "text/plain"}, b"no script for %s %s" % (
                        self.command.encode(), path.encode()))
                else:
                    response = queue.pop(0) if len(queue) > 1 else queue[0]
                if callable(response):
                    response = response(self.command, self.path, dict(self.headers), body)
                if response == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, payload = response
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload).encode("utf-8")
                    headers = dict({"Content-Type": "application/json"}, **headers)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/v2" % self.httpd.server_address[1]

    def script(self, method, path, responses):
        self.routes[(method, "/v2" + path if not path.startswith("/v2") else path)] = list(responses)

    def calls(self, method, path):
        full = "/v2" + path
        return [r for r in self.requests if r[0] == method and r[1].split("?", 1)[0] == full]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def fake_client(fake_server, recorded_sleep):
    """A KsefClient pointed at ``fake_server`` with recorded sleeps and no jitter."""
    from ksef_protocol import Environment, KsefClient
    client = KsefClient(Environment.custom(fake_server.base_url), sleep=recorded_sleep, timeout=2.0,
                        jitter=lambda: 0.0)
    client.access_token = "test-access-token-SECRET"
    return client


@pytest.fixture(scope="session")
def emulator():
    """The project's KSeF emulator, one process per test session."""
    from ksef_emulator.testing import start_emulator
    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture
def emulator_client(emulator):
    """A KsefClient for the emulator (real sleeps: polling waits for the emulator's asynchronous work)."""
    from ksef_protocol import Environment, KsefClient
    return KsefClient(Environment.custom(emulator.base_url), timeout=10.0, jitter=lambda: 0.0)


@pytest.fixture(autouse=True)
def _emulator_contract(request):
    """Every test that talks to the emulator fails if the emulator answered outside open-api.json
    (``validateResponses``) or crashed while serving it."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").assert_contract_clean()


def pytest_collection_modifyitems(session, config, items):
    """Do not let pytest import packages through the repository root (the Odoo addon).

    The root holds ``__init__.py`` (it imports odoo), so pytest >= 8 collects the root and
    ``ksef_protocol`` as ``Package`` nodes and, while setting up each test, imports their
    ``__init__.py`` as ``main.ksef_protocol`` looking for ``setup_module``.  Neither defines
    one and the tests import ``ksef_protocol`` as a top-level package: skip that setup.
    """
    root = config.rootpath
    for item in items:
        node = item.parent
        while node is not None:
            if isinstance(node, pytest.Package) and root in (node.path, *node.path.parents):
                node.setup = lambda: None
            node = node.parent
