"""Limits: ``GET /rate-limits``, ``GET /limits/context``, ``GET /limits/subject`` and the TEST-only
``/testdata/rate-limits`` and ``/testdata/limits/...`` overrides (per context or subject).

Other handlers read the effective context limits through ``app.services["context_limits"](context)``
(sessions, batch, collective identifiers) so an override set here is what they enforce.
"""
from . import certificates
from ..web import empty_response, json_response

MB = 1000000
COLLECTIVE_IDENTIFIER_MAX_INVOICES = 500  # limity/limity.md: at most 500 invoices in one IZ


def _context(request):
    return request.auth.context_type, request.auth.context_value


def _key(pair):
    return "%s:%s" % pair


def default_context_limits(config):
    session = {"maxInvoiceSizeInMB": config["maxInvoiceSizeBytes"] // MB,
               "maxInvoiceWithAttachmentSizeInMB": config["maxInvoiceWithAttachmentSizeBytes"] // MB,
               "maxInvoices": config["maxInvoicesPerSession"]}
    return {"onlineSession": dict(session), "batchSession": dict(session),
            "collectiveIdentifier": {"maxInvoices": COLLECTIVE_IDENTIFIER_MAX_INVOICES}}


def context_limits_of(app, context):
    """``EffectiveContextLimits`` of a context ``(type, value)``: config defaults or the test override."""
    limits = default_context_limits(app.config)
    override = app.store.get_json("context_limit_overrides", _key(context), None) if context else None
    for group, values in (override or {}).items():
        limits.setdefault(group, {}).update(values)
    return limits


def rate_limits(request):
    context = _context(request) if request.auth is not None else None
    return json_response(200, request.app.limit_policy.effective(context))


def _known(body, shape):
    """Only the groups and fields the spec defines (the schemas allow extra properties; they mean nothing)."""
    return {group: {name: value for name, value in values.items() if name in shape[group]}
            for group, values in (body or {}).items() if group in shape and isinstance(values, dict)}


RATE_FIELDS = ("perSecond", "perMinute", "perHour")
SESSION_FIELDS = ("maxInvoiceSizeInMB", "maxInvoiceWithAttachmentSizeInMB", "maxInvoices")


def set_rate_limits(request):
    from ..ratelimit import OVERRIDABLE_GROUPS
    shape = {group: RATE_FIELDS for group in OVERRIDABLE_GROUPS}
    request.app.limit_policy.set_override(_context(request), _known(request.json()["rateLimits"], shape))
    return empty_response(200)


def set_production_rate_limits(request):
    request.app.limit_policy.set_production(_context(request))
    return empty_response(200)


def reset_rate_limits(request):
    request.app.limit_policy.reset(_context(request))
    return empty_response(200)


def context_limits(request):
    return json_response(200, context_limits_of(request.app, _context(request)))


def set_context_limits(request):
    shape = {"onlineSession": SESSION_FIELDS, "batchSession": SESSION_FIELDS, "collectiveIdentifier": ("maxInvoices",)}
    request.app.store.put_json("context_limit_overrides", _key(_context(request)), _known(request.json(), shape))
    return empty_response(200)


def reset_context_limits(request):
    request.app.store.put_json("context_limit_overrides", _key(_context(request)), {})
    return empty_response(200)


def _subject(request):
    return request.auth.subject_type, request.auth.subject_value


def subject_limits_of(app, subject):
    enrollments, active = certificates.LIMITS.get(subject[0], certificates.DEFAULT_LIMITS)
    override = app.store.get_json("subject_limit_overrides", _key(subject), None) or {}
    enrollments = (override.get("enrollment") or {}).get("maxEnrollments", enrollments)
    active = (override.get("certificate") or {}).get("maxCertificates", active)
    return {"enrollment": {"maxEnrollments": enrollments}, "certificate": {"maxCertificates": active}}


def subject_limits(request):
    return json_response(200, subject_limits_of(request.app, _subject(request)))


def set_subject_limits(request):
    body = request.json()
    override = {group: {k: v for k, v in (body.get(group) or {}).items() if v is not None}
                for group in ("enrollment", "certificate") if body.get(group)}
    request.app.store.put_json("subject_limit_overrides", _key(_subject(request)), override)
    return empty_response(200)


def reset_subject_limits(request):
    request.app.store.put_json("subject_limit_overrides", _key(_subject(request)), {})
    return empty_response(200)


def register(app):
    add = app.router.add
    add("GET", "/v2/rate-limits", rate_limits, permissions=[])
    add("GET", "/v2/limits/context", context_limits, permissions=[])
    add("GET", "/v2/limits/subject", subject_limits, permissions=[])
    add("POST", "/v2/testdata/rate-limits", set_rate_limits, permissions=[])
    add("DELETE", "/v2/testdata/rate-limits", reset_rate_limits, permissions=[])
    add("POST", "/v2/testdata/rate-limits/production", set_production_rate_limits, permissions=[])
    add("POST", "/v2/testdata/limits/context/session", set_context_limits, permissions=[])
    add("DELETE", "/v2/testdata/limits/context/session", reset_context_limits, permissions=[])
    add("POST", "/v2/testdata/limits/subject/certificate", set_subject_limits, permissions=[])
    add("DELETE", "/v2/testdata/limits/subject/certificate", reset_subject_limits, permissions=[])
    app.services["context_limits"] = lambda context: context_limits_of(app, context)
    app.services["subject_limits"] = lambda subject: subject_limits_of(app, subject)
