"""The emulator application: shared services, request pipeline and HTTP server.

Pipeline for every request (``EmulatorApp.handle``): route match -> bearer token
(401/403) -> rate limit (429) -> required permissions (403) -> OpenAPI validation
of parameters and JSON body (400/21405) -> handler -> optional response
validation. Fault injection and the one-line request log sit in the HTTP layer.
"""
import datetime
import json
import socket
import sys
import threading
import time
import traceback
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import errors
from .auth_tokens import TokenService
from .clock import Clock, iso
from .config import Config
from .faults import FaultInjector
from .handlers import register_all
from .keys import KeyStore
from .openapi import get_openapi
from .presign import UrlSigner
from .ratelimit import LimitPolicy, RateLimiter, group_for, spec_group
from .store import Store
from .web import Request, Router, json_response

TOKEN_TYPES = {
    "access": ("access",),
    "authentication": ("authentication",),
    "refresh": ("refresh",),
    "access_or_refresh": ("access", "refresh"),
}


class EmulatorApp:
    """Everything a handler can reach through ``request.app``.

    ``store`` (SQLite), ``clock``, ``config``, ``openapi``, ``router``, ``tokens`` (JWT),
    ``keys`` (MF key pairs), ``signer`` (pre-signed URLs), ``faults``, ``limiter``, ``log(line)``, ``on_start(fn)``.
    """

    def __init__(self, state_dir, config=None, log_stream=None):
        self.state_dir = state_dir
        self.log_stream = log_stream if log_stream is not None else sys.stderr
        self._log_lock = threading.Lock()
        self.store = Store(state_dir)
        self.clock = Clock(self.store)
        self.config = Config(self.store, config)
        self.openapi = get_openapi()
        self.router = Router(self.openapi)
        self.tokens = TokenService(self.store, self.clock)
        self.keys = KeyStore(self.store, self.clock)
        self.faults = FaultInjector()
        self.limiter = RateLimiter(self.clock)
        self.limit_policy = LimitPolicy(self.openapi, self.store)
        self.signer = UrlSigner(self.store, self.clock)
        self.default_host = "127.0.0.1"
        self.services = {}  # handler modules may publish helpers here for each other
        self.request_gates = []  # gate(request) -> Response or None, before routing (e.g. an announced outage)
        self._start_hooks = []
        register_all(self)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_start(self, function):
        """Run ``function()`` once the server listens (e.g. start a background worker thread)."""
        self._start_hooks.append(function)

    def started(self):
        for hook in self._start_hooks:
            hook()

    def log(self, line):
        with self._log_lock:
            try:
                self.log_stream.write(line.rstrip("\n") + "\n")
                self.log_stream.flush()
            except (OSError, ValueError):
                pass

    def now_iso(self):
        return iso(self.clock.now())

    # -- request pipeline ---------------------------------------------------------------------
    def handle(self, request):
        for gate in self.request_gates:
            response = gate(request)
            if response is not None:
                return response
        route, params = self.router.match(request.method, request.path)
        if route is None:
            if params:
                return json_response(405, {"title": "Method Not Allowed", "status": 405,
                                           "detail": "Allowed: %s" % ", ".join(sorted(set(params)))},
                                     content_type="application/problem+json")
            return json_response(404, {"title": "Not Found", "status": 404, "instance": request.path,
                                       "detail": "No such endpoint in the KSeF emulator: %s %s"
                                                 % (request.method, request.path)},
                                 content_type="application/problem+json")
        request.route = route
        request.operation = route.operation
        request.path_params = params
        try:
            response = self._run(route, request)
        except errors.ApiError as error:
            response = self._render_api_error(request, error)
        except errors.ProblemError as problem:
            response = json_response(problem.status, errors.problem_body(problem, self.now_iso(), request.path),
                                     headers=problem.headers, content_type="application/problem+json")
        except errors.RateLimited as limited:
            body = errors.too_many_requests_body(limited, self.now_iso(), request.path, request.problem_details)
            response = json_response(429, body, headers={"Retry-After": str(limited.retry_after)},
                                     content_type="application/problem+json" if request.problem_details else "application/json")
        except Exception:  # a bug in the emulator: say so loudly, never hang the client
            self.log("ERROR %s %s\n%s" % (request.method, request.path, traceback.format_exc()))
            response = json_response(500, {"title": "Internal Server Error", "status": 500,
                                           "detail": "KSeF emulator bug; see its log."},
                                     content_type="application/problem+json")
        if route.operation is not None:
            warning = system_warning(request, self.config)
            if warning:
                response.headers["X-System-Warning"] = warning
        if route.operation is not None and self.config["validateResponses"]:
            response = self._checked(route.operation, response)
        return response

    def _run(self, route, request):
        operation = route.operation
        if route.token:
            request.auth = self.tokens.resolve(request, TOKEN_TYPES[route.token])
        if operation is not None and self.config["rateLimitsEnabled"]:
            context = (request.auth.context_type, request.auth.context_value) if request.auth is not None else None
            counter = route.rate_group or group_for(operation)
            limits = self.limit_policy.limits_for(context, route.rate_group or spec_group(operation), operation)
            for name, group_limits in (("global", self.limit_policy.limits_for(context, "global", operation)),
                                       (counter, limits)):
                verdict = self.limiter.check(context + (request.client_ip, name) if context else
                                             (None, None, request.client_ip, name), group_limits, request.received_at)
                if verdict:
                    raise errors.RateLimited(*verdict)
        if route.permissions and request.auth is not None and request.auth.token_type == "access":
            if not set(route.permissions) & set(request.auth.permissions):
                raise errors.missing_permissions(route.permissions, request.auth.permissions)
        if operation is not None:
            problems = self.openapi.parameter_errors(operation, request.path_params, request.query, request.headers)
            if route.validate_body and operation.request_schema is not None:
                try:
                    body = request.json()
                except (ValueError, UnicodeDecodeError) as exc:
                    raise errors.ApiError(21001, details=["Treść żądania nie jest poprawnym JSON: %s" % exc])  # 2.9.0 tables
                if body is None and operation.body_required:
                    problems.append("(body): request body is required")
                else:
                    # OpenAPI 3.0: requestBody.required defaults to false, so an absent body is an empty
                    # object, valid when the schema requires nothing (e.g. a revocation without a reason).
                    if body is None:
                        body = request._json = {}
                    problems.extend(self.openapi.request_body_errors(operation, body))
            if problems:
                raise errors.ApiError(21405, details=problems)
        return route.handler(request)

    def _render_api_error(self, request, error):
        if error.http_status != 400:
            problem = errors.ProblemError(error.http_status, "Error", "%s %s" % (error.description, " ".join(error.details)))
            return json_response(error.http_status, errors.problem_body(problem, self.now_iso(), request.path),
                                 content_type="application/problem+json")
        request.log_note = "code=%s" % error.code
        if request.problem_details:
            return json_response(400, errors.bad_request_problem(error, self.now_iso(), request.path),
                                 content_type="application/problem+json")
        return json_response(400, errors.exception_response(error, self.now_iso()))

    def _checked(self, operation, response):
        if response.json_body is not None:
            body = response.json_body
        elif response.content_type and "json" in response.content_type and response.body:
            body = json.loads(response.body)
        else:
            body = response.body or None
        problems = self.openapi.response_errors(operation, response.status, response.content_type, body,
                                                response.headers)
        if not problems:
            return response
        self.log("RESPONSE-MISMATCH %s %s: %s" % (operation.key, response.status, problems))
        return json_response(500, {"title": "Emulator response does not match open-api.json", "status": 500,
                                   "detail": "; ".join(problems)[:2000]}, content_type="application/problem+json")


def system_warning(request, config):
    """``X-System-Warning``: the configured warning, and on TEST the echo of ``X-Test-System-Warning``
    (open-api.json, ``SystemWarning``: ``[code]: message | [code]: message``, ASCII-folded)."""
    parts = [config["systemWarning"]] if config["systemWarning"] else []
    test_warning = request.headers.get("X-Test-System-Warning")
    if test_warning and config["environment"] == "TE":
        try:  # http.server hands header bytes over as latin-1; clients send UTF-8
            test_warning = test_warning.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        parts.append(test_warning)
    return ascii_fold(" | ".join(parts)) if parts else ""


def ascii_fold(text):
    text = text.translate(_POLISH_FOLD)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").replace("\r", " ").replace("\n", " ")


_POLISH_FOLD = str.maketrans("łŁ", "lL")


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body would otherwise wait for delayed ACKs (40 ms)
    server_version = "KSeF-emulator/2.0"
    sys_version = ""

    def log_message(self, format, *args):  # the app writes its own one-line log
        pass

    def _read_body(self):
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        app = self.server.app
        started = time.perf_counter()
        try:
            body = self._read_body()
        except ValueError:  # a Content-Length or chunk size that is not a number: unreadable request
            self.close_connection = True
            request = Request(app, self.command, self.path, self.headers, b"", self.client_address[0])
            response = json_response(400, errors.exception_response(
                errors.ApiError(21001, details=["Nieprawidłowa długość treści żądania."]), app.now_iso()))
            self._write(response)
            self._log(app, request, response.status, started, "")
            return
        request = Request(app, self.command, self.path, self.headers, body, self.client_address[0])
        fault = None
        if not request.path.startswith("/admin"):
            fault = app.faults.take(request.method, request.path)
        if fault is not None and fault.kind in ("slow", "timeout"):
            time.sleep(fault.delay)
            if fault.kind == "timeout":
                self._drop(app, request, started, "fault=timeout")
                return
        if fault is not None and fault.kind in ("html", "status"):
            response = fault.response(request, app.now_iso())
        else:
            response = app.handle(request)
            if fault is not None and fault.kind == "drop":
                self._drop(app, request, started, "fault=drop status=%s" % response.status)
                return
        self._write(response)
        self._log(app, request, response.status, started, "fault=%s" % fault.kind if fault else "")

    def _write(self, response):
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self._headers_buffer.append(b"\r\n" + response.body)  # one send() for headers and body
        self.flush_headers()

    def _drop(self, app, request, started, note):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._log(app, request, "---", started, note)

    def _log(self, app, request, status, started, note):
        if not app.config["logRequests"]:
            return
        auth = request.auth
        who = " ctx=%s:%s" % (auth.context_type, auth.context_value) if auth is not None else ""
        extra = " ".join(part for part in (request.log_note, note) if part)
        app.log("%s %s \"%s %s\" %s %.1fms%s%s" % (
            datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), request.client_ip, request.method,
            request.path, status, (time.perf_counter() - started) * 1000, who, (" " + extra) if extra else ""))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def __getattr__(self, name):
        # Any other method (TRACE, OPTIONS, HEAD, PROPFIND...) gets KSeF's JSON 405, never the
        # standard library's 501 HTML page.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self):
        app = self.server.app
        started = time.perf_counter()
        self._read_body()
        request = Request(app, self.command, self.path, self.headers, b"", self.client_address[0])
        response = json_response(405, {"title": "Method Not Allowed", "status": 405, "instance": request.path,
                                       "detail": "Metoda %s nie jest obsługiwana." % self.command},
                                 headers={"Allow": "GET, POST, PUT, DELETE"}, content_type="application/problem+json")
        if self.command == "HEAD":
            response.body = b""
        self._write(response)
        self._log(app, request, response.status, started, "")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, host, port):
        self.app = app
        super().__init__((host, port), _HttpHandler)
        app.default_host = "%s:%s" % (host, self.server_address[1])

    def handle_error(self, request, client_address):
        # A client that gives up (timeout, closed keep-alive connection) is not an emulator error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def serve(app, host, port, announce=sys.stdout):
    """Bind, announce ``KSeF emulator listening on http://HOST:PORT/v2`` and serve forever."""
    # The invoice worker is CPU-bound; a short GIL switch interval keeps request threads responsive.
    sys.setswitchinterval(0.0005)
    server = EmulatorServer(app, host, port)
    app.started()
    app.log("KSeF emulator state: %s (rate limits %s)" % (app.state_dir, "on" if app.config["rateLimitsEnabled"] else "off"))
    announce.write("KSeF emulator listening on http://%s:%s/v2\n" % (host, server.server_address[1]))
    announce.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return server
