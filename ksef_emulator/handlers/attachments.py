"""Consent to issue invoices with attachments (``Zalacznik``), ``uprawnienia.md`` and
``dane-testowe-scenariusze.md`` scenarios 4/5.

The consent is given outside the API (e-Urząd Skarbowy); the test environment simulates it with
``POST /testdata/attachment {"nip"}`` and withdraws it with ``POST /testdata/attachment/revoke
{"nip", "expectedEndDate"?}`` (from that day, Europe/Warsaw; without it at once).
``GET /permissions/attachments/status`` reports it for the current context. Without an active
consent the invoice worker rejects an invoice with an attachment (status 415): it asks
``app.services["attachments_allowed"](context_type, context_value)``.
"""
import datetime

from ..clock import iso
from ..receiving_query import parse_query_date
from ..web import empty_response, json_response

SCHEMA = """
CREATE TABLE IF NOT EXISTS attachment_consents (
    nip TEXT PRIMARY KEY, granted_ts REAL, revoked_ts REAL);   -- revoked_ts: consent ends then (NULL: open-ended)
"""


def _consent(app, nip):
    """``(allowed_now, revoked_ts)`` for a NIP."""
    row = app.store.one("SELECT * FROM attachment_consents WHERE nip=?", (nip,))
    if row is None or row["granted_ts"] is None:
        return False, row["revoked_ts"] if row is not None else None
    revoked = row["revoked_ts"]
    return revoked is None or app.clock.time() < revoked, revoked


def attachments_allowed(app, context_type, context_value):
    """Whether invoices with attachments are accepted in this context (its NIP holds the consent)."""
    if context_type == "PeppolId" or not context_value:
        return False
    return _consent(app, context_value.split("-", 1)[0])[0]


def grant(request):
    app = request.app
    nip = request.json()["nip"]
    app.store.execute("INSERT INTO attachment_consents(nip, granted_ts, revoked_ts) VALUES (?,?,NULL)"
                      " ON CONFLICT(nip) DO UPDATE SET granted_ts=excluded.granted_ts, revoked_ts=NULL",
                      (nip, app.clock.time()))
    return empty_response(200)


def revoke(request):
    app = request.app
    body = request.json()
    end = body.get("expectedEndDate")
    if end:
        day = datetime.date.fromisoformat(end)  # the spec's "format: date" was validated already
        revoked_ts = parse_query_date(day.isoformat() + "T00:00:00", "expectedEndDate").timestamp()
    else:
        revoked_ts = app.clock.time()
    app.store.execute("INSERT INTO attachment_consents(nip, granted_ts, revoked_ts) VALUES (?,NULL,?)"
                      " ON CONFLICT(nip) DO UPDATE SET revoked_ts=excluded.revoked_ts", (body["nip"], revoked_ts))
    return empty_response(200)


def status(request):
    auth = request.auth
    nip = auth.context_value.split("-", 1)[0] if auth.context_type != "PeppolId" else None
    allowed, revoked = _consent(request.app, nip) if nip else (False, None)
    return json_response(200, {"isAttachmentAllowed": allowed, "revokedDate": iso(revoked) if revoked else None})


def register(app):
    app.store.add_schema(SCHEMA)
    app.services["attachments_allowed"] = lambda context_type, context_value: attachments_allowed(
        app, context_type, context_value)
    add = app.router.add
    add("POST", "/v2/testdata/attachment", grant)
    add("POST", "/v2/testdata/attachment/revoke", revoke)
    add("GET", "/v2/permissions/attachments/status", status)
