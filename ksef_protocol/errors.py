"""Exceptions raised by the KSeF protocol client.

Every error the client raises derives from :class:`KsefError`, which carries the
parsed KSeF error list (``errors`` / ``codes``), the HTTP status and a truncated
copy of the response body, so callers can branch on documented codes (e.g.
21470, 21405) without parsing text.

Three body shapes are understood (digest §14):

* the default ``ExceptionResponse``
  ``{"exception": {"exceptionDetailList": [{"exceptionCode", "exceptionDescription", "details"}], "referenceNumber", ...}}``;
* Problem Details (``application/problem+json``) used for 400 (opt-in), 401, 403,
  410 and 429: ``{title, status, detail, instance, errors?, reasonCode?, security?, traceId}``;
* the legacy 429 body ``{"status": {"code": 429, "description", "details"}}``.

Anything else (an HTML 502 page from a proxy, an empty body) still produces a
readable error.  Messages never contain request secrets: they are built only
from the server's response.
"""
import json
from typing import List, NamedTuple

#: How much of a response body is kept on an exception (enough to debug, small enough to log).
BODY_EXCERPT_LENGTH = 2000


class KsefErrorDetail(NamedTuple):
    """One entry of a KSeF error list: numeric ``code``, ``description`` and extra ``details``."""

    code: int
    description: str
    details: List[str]


class KsefError(Exception):
    """Base class of every error raised by :mod:`ksef_protocol`."""

    def __init__(self, message, *, http_status=None, errors=None, reference_number=None,
                 retry_after=None, body=None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.errors = list(errors or [])
        self.reference_number = reference_number
        self.retry_after = retry_after
        self.body = body

    @property
    def codes(self):
        """Set of the numeric KSeF error codes carried by this error."""
        return {error.code for error in self.errors}

    def __str__(self):
        return self.message


class KsefHttpError(KsefError):
    """KSeF answered with an unexpected HTTP status (base of the status-specific errors)."""


class KsefBadRequest(KsefHttpError):
    """HTTP 400: the request was rejected; see ``codes`` (e.g. 21405 validation, 21470 unknown key)."""


class KsefUnauthorized(KsefHttpError):
    """HTTP 401: the bearer token is missing, invalid or expired; re-authenticate or refresh."""


class KsefForbidden(KsefHttpError):
    """HTTP 403: authenticated but not allowed; ``reason_code`` and ``security`` say why."""

    def __init__(self, message, *, reason_code=None, security=None, **kwargs):
        super().__init__(message, **kwargs)
        self.reason_code = reason_code
        self.security = security or {}


class KsefGone(KsefHttpError):
    """HTTP 410: the retention of an asynchronous operation status has expired."""


class KsefRateLimited(KsefHttpError):
    """HTTP 429 (or the client-side limiter refusing to wait): retry after ``retry_after`` seconds."""


class KsefRateLimitHandOver(KsefRateLimited):
    """The client-side limiter's next permitted request comes after the caller's deadline: nothing was
    sent for this request; the caller hands over (e.g. a scheduled job re-triggered for ``retry_after``
    seconds from now) instead of sleeping. Not a fault of KSeF.

    ``may_have_been_accepted`` is True when an earlier attempt of the same operation may have reached
    KSeF (the limiter refused the look-up or the retry that followed it).
    """

    def __init__(self, message, *, may_have_been_accepted=False, **kwargs):
        super().__init__(message, **kwargs)
        self.may_have_been_accepted = may_have_been_accepted


class KsefServerError(KsefHttpError):
    """HTTP 5xx: KSeF or a proxy in front of it failed."""

    def __init__(self, message, *, may_have_been_accepted=False, **kwargs):
        super().__init__(message, **kwargs)
        self.may_have_been_accepted = may_have_been_accepted


class KsefTransportError(KsefError):
    """No usable HTTP answer (connection refused/reset, timeout).

    ``may_have_been_accepted`` is True when the request may have reached KSeF and been
    processed (e.g. a read timeout after sending a POST): do not blindly resend it.
    """

    def __init__(self, message, *, may_have_been_accepted=False, **kwargs):
        super().__init__(message, **kwargs)
        self.may_have_been_accepted = may_have_been_accepted


class KsefProtocolError(KsefError):
    """KSeF answered something this client cannot use (bad JSON, hash mismatch, wrong shape)."""


class KsefAuthFailed(KsefError):
    """The asynchronous authentication ended with a failure status (``status_code`` 415/425/450/460/...)."""

    def __init__(self, message, *, status_code=None, details=None, **kwargs):
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.details = list(details or [])


class KsefAuthPending(KsefError):
    """Authentication is still in progress (status 100) after the allowed wait.

    Persist ``reference_number`` and ``authentication_token`` and call
    ``client.resume_authentication(reference_number, authentication_token)`` later.
    The token is deliberately kept out of the message.
    """

    def __init__(self, reference_number, authentication_token, message=None):
        super().__init__(
            message or "KSeF authentication %s is still in progress; resume it later." % reference_number,
            reference_number=reference_number)
        self.authentication_token = authentication_token

    def __repr__(self):
        return "KsefAuthPending(%r)" % self.reference_number


_STATUS_CLASSES = {400: KsefBadRequest, 401: KsefUnauthorized, 403: KsefForbidden, 410: KsefGone,
                   429: KsefRateLimited}


def _excerpt(body_bytes):
    text = body_bytes.decode("utf-8", errors="replace") if isinstance(body_bytes, bytes) else str(body_bytes or "")
    if len(text) > BODY_EXCERPT_LENGTH:
        return text[:BODY_EXCERPT_LENGTH] + "...[truncated]"
    return text


def _as_int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _details_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def parse_error_body(body_bytes):
    """Parse a KSeF error body.

    Returns ``(summary, errors, reference_number, extra)`` where ``extra`` holds
    Problem Details' ``reasonCode`` / ``security``.  Never raises: unparseable
    bodies give ``(None, [], None, {})``.
    """
    try:
        payload = json.loads(body_bytes.decode("utf-8") if isinstance(body_bytes, bytes) else body_bytes)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None, [], None, {}
    if not isinstance(payload, dict):
        return None, [], None, {}
    errors = []
    reference_number = None
    summary = None
    extra = {}
    exception = payload.get("exception")
    if isinstance(exception, dict):
        for item in exception.get("exceptionDetailList") or []:
            if isinstance(item, dict):
                errors.append(KsefErrorDetail(_as_int(item.get("exceptionCode")),
                                              str(item.get("exceptionDescription") or ""),
                                              _details_list(item.get("details"))))
        reference_number = exception.get("referenceNumber")
    elif isinstance(payload.get("status"), dict):
        # Legacy 429 body {"status": {"code", "description", "details"}}.
        status = payload["status"]
        errors.append(KsefErrorDetail(_as_int(status.get("code")), str(status.get("description") or ""),
                                      _details_list(status.get("details"))))
    else:
        # Problem Details.
        for item in payload.get("errors") or []:
            if isinstance(item, dict):
                errors.append(KsefErrorDetail(_as_int(item.get("code")), str(item.get("description") or ""),
                                              _details_list(item.get("details"))))
        title, detail = payload.get("title"), payload.get("detail")
        parts = [str(p) for p in (title, detail) if p]
        summary = ": ".join(parts) or None
        if payload.get("reasonCode"):
            extra["reasonCode"] = payload["reasonCode"]
        if isinstance(payload.get("security"), dict):
            extra["security"] = payload["security"]
    return summary, errors, reference_number, extra


def error_from_response(http_status, body_bytes, *, method="", path="", retry_after=None,
                        may_have_been_accepted=False):
    """Build the right :class:`KsefHttpError` subclass for an HTTP error response."""
    summary, errors, reference_number, extra = parse_error_body(body_bytes)
    if errors:
        described = "; ".join(
            "%s %s%s" % (e.code, e.description, (" (%s)" % ", ".join(e.details)) if e.details else "")
            for e in errors)
        summary = "%s [%s]" % (summary, described) if summary else described
    if not summary:
        summary = "unexpected response (%s)" % (_excerpt(body_bytes)[:200].strip() or "empty body")
    security = extra.get("security") or {}
    if extra.get("reasonCode") == "missing-permissions" and security:
        # Say which permission is missing: what the context owner must grant.
        summary += " [missing-permissions: required any of %s; present %s]" % (
            ", ".join(map(str, security.get("requiredAnyOfPermissions") or [])) or "?",
            ", ".join(map(str, security.get("presentPermissions") or [])) or "none")
    message = "KSeF %s %s failed with HTTP %s: %s" % (method, path, http_status, summary)
    kwargs = dict(http_status=http_status, errors=errors, reference_number=reference_number,
                  retry_after=retry_after, body=_excerpt(body_bytes))
    if http_status == 403:
        return KsefForbidden(message, reason_code=extra.get("reasonCode"), security=extra.get("security"),
                             **kwargs)
    if http_status >= 500:
        return KsefServerError(message, may_have_been_accepted=may_have_been_accepted, **kwargs)
    return _STATUS_CLASSES.get(http_status, KsefHttpError)(message, **kwargs)


class KsefOperationFailed(KsefError):
    """An asynchronous KSeF operation (export, enrollment, ...) ended with a failure ``status_code``."""

    def __init__(self, message, *, status_code=None, **kwargs):
        super().__init__(message, **kwargs)
        self.status_code = status_code


class KsefOperationPending(KsefError):
    """An asynchronous operation is still running after the allowed wait; poll it again later."""
