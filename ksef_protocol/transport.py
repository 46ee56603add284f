"""HTTP transport shared by every API mixin: one ``_request`` method.

Responsibilities (and nothing else): build the URL and auth header, wait for
the client-side rate limiter, log one line per call without secrets, surface
``X-System-Warning``, turn error responses into :mod:`.errors` exceptions and
retry what is safe to retry:

* 429 is always retried (KSeF did not process the request) after
  ``Retry-After`` plus jitter, at most ``max_retries`` times;
* 5xx, timeouts and dropped connections are retried only for idempotent
  requests (GET/PUT/DELETE and POSTs flagged ``idempotent=True``).  A
  non-idempotent POST that may have reached KSeF raises with
  ``may_have_been_accepted=True`` so the caller can reconcile first (see
  ``send_invoice``);
* a connection that was never established (refused, connect timeout) is safe
  to retry for every method.

All waiting goes through the injected ``sleep`` so tests never really sleep.
"""
import email.utils
import json
import logging
import random
import re
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import requests

from .errors import KsefError, KsefProtocolError, KsefTransportError, error_from_response
from .ratelimit import RateLimiter

_logger = logging.getLogger("ksef_protocol")

#: Documented parser for ``X-System-Warning`` (changelog 2.6.0), in Python syntax.
SYSTEM_WARNING_RE = re.compile(r"\[(?P<code>[^\]]+)\]: (?P<message>[^|]+)")

#: HTTP statuses from which idempotent requests are retried: every 5xx (KSeF also uses 550
#: for "cancelled by system, retry").
RETRYABLE_STATUS_MIN = 500

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def parse_system_warning(value):
    """Split an ``X-System-Warning`` header into ``[(code, message), ...]``.

    Format: ``[code]: message | [code]: message``.  Returns ``[]`` for an empty header.
    """
    return [(m.group("code").strip(), m.group("message").strip())
            for m in SYSTEM_WARNING_RE.finditer(value or "")]


class HttpResponse(NamedTuple):
    """A raw HTTP answer, returned by ``_request(..., raw=True)``."""

    status_code: int
    headers: dict
    content: bytes

    def header(self, name, default=None):
        """Case-insensitive header lookup."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def json(self):
        """The body parsed as JSON (raises :class:`KsefProtocolError` if it is not JSON)."""
        return _parse_json(self.content, "response")


def _parse_json(content, what):
    try:
        return json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise KsefProtocolError("KSeF returned a non-JSON %s: %r" % (what, content[:200]))


def _safe_url_for_log(url):
    """Scheme, host and path only: query strings of pre-signed URLs carry signatures."""
    parts = urlsplit(url)
    return "%s://%s%s" % (parts.scheme, parts.netloc, parts.path)


def _connection_never_established(exc):
    """True when ``exc`` proves the request never left this machine (safe to resend)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text or "Name or service" in text
    return False


class KsefTransport:
    """Base of :class:`~ksef_protocol.client.KsefClient`: configuration plus ``_request``.

    ``http`` is a ``requests.Session``-compatible object (default: a new session),
    ``limiter`` a :class:`~ksef_protocol.ratelimit.RateLimiter` (default: one with
    the documented limits, using ``sleep``), ``clock`` returns Unix seconds and
    ``jitter`` returns extra seconds added to every retry wait.
    """

    def __init__(self, environment, *, timeout=30.0, http=None, limiter=None, clock=time.time,
                 sleep=time.sleep, max_retries=3, user_agent=None, jitter=None, max_retry_wait=120.0):
        if isinstance(environment, str):
            from .environments import Environment
            environment = Environment.get(environment)
        self.environment = environment
        self.timeout = timeout
        self._http = http if http is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self.limiter = limiter if limiter is not None else RateLimiter(
            clock=time.monotonic if clock is time.time else clock, sleep=sleep)
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.user_agent = user_agent or "l10n_pl_ksef-ksef_protocol/1.0"
        self._jitter = jitter if jitter is not None else (lambda: random.uniform(0.0, 0.5))
        #: Bearer for protected calls; the caller restores it from storage or authenticates.
        self.access_token = None
        #: Expiry of ``access_token`` when the client obtained it itself (aware UTC datetime).
        self.access_token_valid_until = None
        #: ``(code, message)`` pairs from the last ``X-System-Warning`` header seen.
        self.last_system_warnings = []
        #: TEST only: sent as ``X-Test-System-Warning``; KSeF echoes it as ``X-System-Warning``
        #: (open-api.json 2.9.0, ``SystemWarning``), to test how warnings are surfaced.
        self.test_system_warning = None

    # -- helpers -------------------------------------------------------------------------
    def _url(self, path):
        if path.startswith(("http://", "https://")):
            return path
        return self.environment.api_url.rstrip("/") + "/" + path.lstrip("/")

    def _bearer(self, auth):
        if auth == "none" or auth is None:
            return None
        if auth == "access":
            if not self.access_token:
                raise KsefError("No KSeF access token: authenticate first (or restore client.access_token).")
            return self.access_token
        return auth

    def _retry_after_seconds(self, value):
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - self._clock())

    def _backoff(self, attempt):
        return min(2.0 ** attempt, 30.0) + self._jitter()

    def _log_warnings(self, response_headers, method, log_url):
        value = None
        for key, header_value in response_headers.items():
            if key.lower() == "x-system-warning":
                value = header_value
        warnings = parse_system_warning(value)
        if value is not None:
            self.last_system_warnings = warnings
        for code, message in warnings:
            _logger.warning("KSeF system warning on %s %s: [%s] %s", method, log_url, code, message)

    # -- the request ---------------------------------------------------------------------
    def _request(self, method, path, *, json=None, data=None, params=None, headers=None, auth="access",
                 rate_group="other", expected=(200,), raw=False, idempotent=None, timeout=None):
        """Send one KSeF API call and return its JSON body (``None`` if empty) or, with
        ``raw=True``, an :class:`HttpResponse`.

        ``auth`` is ``"access"`` (the client's access token), ``"none"`` (public or
        pre-signed URLs) or an explicit bearer token string.  ``rate_group`` names the
        limiter group (``None``: not limited).  ``expected`` lists the documented
        success statuses (another 2xx is accepted with a log line).  ``idempotent``
        overrides the method-based guess for retrying after 5xx/timeouts.
        """
        method = method.upper()
        url = self._url(path)
        log_url = _safe_url_for_log(url)
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        request_headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        bearer = self._bearer(auth)
        if bearer:
            request_headers["Authorization"] = "Bearer " + bearer
        body = data
        if json is not None:
            body = _dumps(json)
            request_headers["Content-Type"] = "application/json"
        if self.test_system_warning and not self.environment.is_production:
            request_headers["X-Test-System-Warning"] = self.test_system_warning
        if headers:
            request_headers.update(headers)
        attempt = 0
        while True:
            self.limiter.acquire(rate_group)
            started = time.monotonic()
            try:
                response = self._http.request(method, url, data=body, params=params, headers=request_headers,
                                              timeout=timeout or self.timeout, allow_redirects=False)
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                self.limiter.answered(rate_group)
                never_sent = _connection_never_established(exc)
                _logger.info("KSeF %s %s -> %s (attempt %d)", method, log_url, type(exc).__name__, attempt + 1)
                if (never_sent or idempotent) and attempt < self.max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise KsefTransportError(
                    "KSeF %s %s failed: %s%s" % (
                        method, log_url, type(exc).__name__,
                        "" if never_sent else " (the request may have reached KSeF)"),
                    may_have_been_accepted=not never_sent)
            self.limiter.answered(rate_group)
            elapsed_ms = (time.monotonic() - started) * 1000.0
            status = response.status_code
            content = response.content or b""
            response_headers = dict(response.headers)
            _logger.info("KSeF %s %s -> %s in %.0f ms", method, log_url, status, elapsed_ms)
            self._log_warnings(response_headers, method, log_url)
            if 200 <= status < 300:
                if status not in expected:
                    _logger.info("KSeF %s %s answered %s, documented %s", method, log_url, status, expected)
                if raw:
                    return HttpResponse(status, response_headers, content)
                if status == 204 or not content.strip():
                    return None
                return _parse_json(content, "response to %s %s" % (method, log_url))
            retry_after = self._retry_after_seconds(response.headers.get("Retry-After"))
            if status == 429:
                wait = (retry_after if retry_after is not None else self._backoff(attempt)) + self._jitter()
                if attempt < self.max_retries and wait <= self.max_retry_wait:
                    _logger.info("KSeF rate limit on %s %s: retrying in %.1f s", method, log_url, wait)
                    self._sleep(wait)
                    attempt += 1
                    continue
                # Giving up: KSeF lengthens blocks on repeated breaches, so every later client of
                # this context (other runs, other workers sharing the limiter's store) must pause too.
                self.limiter.penalize(rate_group, wait)
            elif status >= RETRYABLE_STATUS_MIN and idempotent and attempt < self.max_retries:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if wait <= self.max_retry_wait:
                    self._sleep(wait)
                    attempt += 1
                    continue
            raise error_from_response(
                status, content, method=method, path=urlsplit(url).path, retry_after=retry_after,
                may_have_been_accepted=(not idempotent and status != 503))


def _dumps(payload):
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
