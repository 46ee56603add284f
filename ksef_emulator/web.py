"""Request/response objects and the router shared by every handler module."""
import json
import re
import urllib.parse


class Request:
    """An incoming HTTP request as handlers see it.

    Attributes: ``app`` (the :class:`~ksef_emulator.app.EmulatorApp`), ``method``,
    ``path`` (no query), ``query`` (name -> list of values), ``headers`` (case-insensitive
    ``email.message.Message``), ``body`` (bytes), ``client_ip``, ``path_params``,
    ``auth`` (:class:`~ksef_emulator.auth_tokens.AuthContext` for bearer routes, else None),
    ``operation`` (the spec :class:`~ksef_emulator.openapi.Operation` or None).
    """

    def __init__(self, app, method, raw_path, headers, body, client_ip):
        self.app = app
        self.method = method
        parsed = urllib.parse.urlsplit(raw_path)
        self.path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.client_ip = client_ip
        self.received_at = app.clock.time()  # arrival time: rate-limit windows count from here
        self.path_params = {}
        self.auth = None
        self.operation = None
        self.route = None
        self._json = None
        self.log_note = ""

    @property
    def problem_details(self):
        return (self.headers.get("X-Error-Format") or "").strip().lower() == "problem-details"

    def json(self):
        """The body parsed as JSON (raises ValueError on invalid JSON)."""
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8")) if self.body else None
        return self._json

    def query_value(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def host_url(self):
        """``http://host:port`` as the client called it (URLs we return use the same host)."""
        return "http://%s" % (self.headers.get("Host") or self.app.default_host)

    @property
    def api_url(self):
        return self.host_url + "/v2"


class Response:
    def __init__(self, status=200, body=b"", content_type=None, headers=None, json_body=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.json_body = json_body  # kept for response validation


def json_response(status, obj, headers=None, content_type="application/json"):
    return Response(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), content_type, headers, json_body=obj)


def xml_response(content, headers=None, status=200):
    return Response(status, content, "application/xml", headers)


def empty_response(status=204, headers=None):
    return Response(status, b"", None, headers)


class Route:
    def __init__(self, method, pattern, handler, *, operation, token, permissions, rate_group, validate_body):
        self.method = method
        self.pattern = pattern
        self.handler = handler
        self.operation = operation
        self.token = token
        self.permissions = permissions
        self.rate_group = rate_group
        self.validate_body = validate_body
        names = re.findall(r"{(\w+)}", pattern)
        self.param_count = len(names)
        regex = re.escape(pattern)
        for name in names:
            regex = regex.replace(re.escape("{%s}" % name), "(?P<%s>[^/]+)" % name)
        self.regex = re.compile("^%s$" % regex)


class Router:
    """Maps ``METHOD /path/{param}`` to handlers. Literal segments win over parameters."""

    def __init__(self, openapi):
        self.openapi = openapi
        self.routes = []

    def add(self, method, pattern, handler, *, spec=True, token=None, permissions=None, rate_group=None,
            validate_body=True):
        """Register ``handler(request) -> Response``.

        ``pattern``: full path, e.g. ``/v2/sessions/{referenceNumber}``. With ``spec=True`` it must
        be in open-api.json (under ``/v2``): then the request is validated against the spec, the
        bearer token is resolved (``token`` defaults to ``"access"`` for secured operations; use
        ``"authentication"``, ``"refresh"`` or ``"access_or_refresh"`` where the spec says so), the
        spec's ``x-required-permissions`` are enforced (override with ``permissions=[...]``, ``[]``
        disables the check) and its ``x-rate-limits`` applied (``rate_group`` names a shared counter).
        """
        method = method.upper()
        operation = None
        if spec:
            if not pattern.startswith("/v2/"):
                raise ValueError("spec routes live under /v2: %s" % pattern)
            operation = self.openapi.operation(method, pattern[3:])
            if operation is None:
                raise ValueError("%s %s is not in open-api.json" % (method, pattern))
            if token is None and operation.secured:
                token = "access"
            if permissions is None:
                permissions = operation.required_permissions
        route = Route(method, pattern, handler, operation=operation, token=token, permissions=permissions or [],
                      rate_group=rate_group, validate_body=validate_body)
        self.routes.append(route)
        self.routes.sort(key=lambda r: r.param_count)
        return route

    def match(self, method, path):
        """``(route, params)``; ``(None, allowed_methods)`` when only the method differs; ``(None, None)``."""
        other_methods = []
        for route in self.routes:
            found = route.regex.match(path)
            if found:
                if route.method == method:
                    return route, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                other_methods.append(route.method)
        return None, (other_methods or None)
