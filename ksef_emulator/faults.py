"""Fault injection: the next N requests matching a path pattern misbehave.

Rule (``POST /admin/faults``): ``{"pathPattern": "regex on the path", "method": "POST"?,
"count": 1, "kind": ..., "status": ..., "delaySeconds": ..., "retryAfter": ...}`` where ``kind`` is
- ``html``: answer ``status`` (default 502) with an HTML error page (like a proxy);
- ``status``: answer ``status`` (default 550) with a JSON body; ``status: 429`` gives the
  documented rate-limit answer instead: ``Retry-After`` + ``TooManyRequestsResponse``
  (``TooManyRequestsProblemDetails`` when the client sent ``X-Error-Format: problem-details``);
  ``status: 400`` with ``exceptionCode`` (+ ``exceptionDescription``, ``details``) gives that KSeF
  error as an ``ExceptionResponse`` (for codes no documented rule produces, e.g. 71003);
- ``timeout``: wait ``delaySeconds`` (default 30) and close the connection without an answer;
- ``drop``: process the request normally (it IS accepted), then drop the connection unanswered;
- ``slow``: wait ``delaySeconds`` (default 3) then answer normally.
``retryAfter`` (whole seconds, ``Retry-After`` header) defaults to 30 (the documented example) on
a 429 answer and can be given for any ``html``/``status`` answer (e.g. a 503 from a proxy).
Slow *invoice processing* is the ``invoiceProcessingDelaySeconds`` config value instead.
"""
import re
import threading

from . import errors
from .web import Response, json_response

KINDS = ("html", "status", "timeout", "drop", "slow")
DEFAULT_RETRY_AFTER_SECONDS = 30  # the value of the documented 429 example (limity-api.md, open-api.json)


class FaultRule:
    def __init__(self, spec):
        if spec.get("kind") not in KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(KINDS))
        try:
            self.regex = re.compile(spec.get("pathPattern") or ".*")
        except re.error as exc:
            raise ValueError("pathPattern is not a valid regular expression: %s" % exc)
        self.spec = dict(spec)
        self.kind = spec["kind"]
        self.method = (spec.get("method") or "").upper() or None
        self.remaining = int(spec.get("count", 1))
        default_status = {"html": 502, "status": 550}.get(self.kind)
        self.status = int(spec.get("status") or default_status or 0)
        self.delay = float(spec.get("delaySeconds", {"timeout": 30.0, "slow": 3.0}.get(self.kind, 0.0)))
        self.retry_after = _retry_after(spec.get("retryAfter"))
        if self.retry_after is None and self.status == 429 and self.kind in ("html", "status"):
            self.retry_after = DEFAULT_RETRY_AFTER_SECONDS

    def as_dict(self):
        return dict(self.spec, remaining=self.remaining)

    def response(self, request, timestamp):
        """The injected answer of an ``html``/``status`` rule to ``request``."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.kind == "html":
            page = ("<html><head><title>%d</title></head><body><h1>%d Bad Gateway</h1>"
                    "<p>KSeF emulator injected fault</p></body></html>" % (self.status, self.status)).encode()
            return Response(self.status, page, "text/html; charset=utf-8", headers)
        if self.status == 400 and self.spec.get("exceptionCode") is not None:
            error = errors.ApiError(self.spec["exceptionCode"], self.spec.get("exceptionDescription"),
                                    self.spec.get("details"))
            return json_response(400, errors.exception_response(error, timestamp), headers=headers)
        if self.status == 429:
            limited = errors.RateLimited(self.retry_after, "Przekroczono limit żądań. Spróbuj ponownie po %d sekundach."
                                         % self.retry_after)
            body = errors.too_many_requests_body(limited, timestamp, request.path, request.problem_details)
            content_type = "application/problem+json" if request.problem_details else "application/json"
            return json_response(429, body, headers=headers, content_type=content_type)
        return json_response(self.status, {"title": "Injected fault", "status": self.status,
                                           "detail": "KSeF emulator injected fault"},
                             headers=headers, content_type="application/problem+json")


def _retry_after(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 0 <= value < 2 ** 31:
        raise ValueError("retryAfter must be a whole number of seconds (0 or more), got %r" % (value,))
    return int(value)


class FaultInjector:
    def __init__(self):
        self._rules = []
        self._lock = threading.Lock()

    def add(self, spec):
        rule = FaultRule(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self):
        with self._lock:
            self._rules = []

    def list(self):
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def take(self, method, path):
        """The first matching rule (its count decremented), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and (rule.method in (None, method)) and rule.regex.search(path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None
