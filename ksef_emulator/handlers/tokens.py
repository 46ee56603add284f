"""KSeF token management: ``POST/GET /tokens``, ``GET/DELETE /tokens/{referenceNumber}``.

Tokens live in the core ``ksef_tokens`` table (see :mod:`ksef_emulator.ksef_tokens`). A new
token is ``Pending`` for ``tokenActivationDelaySeconds`` (emulated clock), then ``Active``;
with no delay it is ``Active`` at once. A revoked token then fails authentication (450) and
redeem/refresh (21301) in :mod:`ksef_emulator.handlers.auth`.
"""
import json

from ..errors import ApiError, forbidden
from ..ksef_tokens import create_token
from ..web import empty_response, json_response
from .session_status import decode_continuation, encode_continuation

SCHEMA = """
CREATE TABLE IF NOT EXISTS ksef_token_activation (
    reference_number TEXT PRIMARY KEY, active_at REAL NOT NULL);
"""
MANAGERS = ("CredentialsManage",)
READERS = ("CredentialsManage", "CredentialsRead")


def activate_due_tokens(app):
    """Pending tokens whose activation time has come become Active (also run by the worker)."""
    now = app.clock.time()
    if app.store.one("SELECT 1 FROM ksef_token_activation WHERE active_at<=? LIMIT 1", (now,)) is None:
        return  # the common case: no write transaction
    with app.store.transaction() as conn:
        due = [row[0] for row in conn.execute("SELECT reference_number FROM ksef_token_activation WHERE active_at<=?",
                                              (now,)).fetchall()]
        for reference in due:
            conn.execute("UPDATE ksef_tokens SET status='Active' WHERE reference_number=? AND status='Pending'",
                         (reference,))
            conn.execute("DELETE FROM ksef_token_activation WHERE reference_number=?", (reference,))


def _item(row):
    item = {
        "referenceNumber": row["reference_number"],
        "authorIdentifier": {"type": row["author_type"], "value": row["author_value"]},
        "contextIdentifier": {"type": row["context_type"], "value": row["context_value"]},
        "description": row["description"],
        "requestedPermissions": json.loads(row["permissions"]),
        "dateCreated": row["date_created"],
        "status": row["status"],
    }
    if row["last_use_date"]:
        item["lastUseDate"] = row["last_use_date"]
    return item


def _visible(auth, row, roles=READERS):
    """CredentialsRead/Manage see every token of the context; others their own ones."""
    if (row["context_type"], row["context_value"]) != (auth.context_type, auth.context_value):
        return False
    if set(auth.permissions) & set(roles):
        return True
    if auth.auth_category == "Token":
        return row["reference_number"] == auth.ksef_token_reference
    return (row["author_type"], row["author_value"]) == (auth.subject_type, auth.subject_value)


def generate(request):
    app = request.app
    auth = request.auth
    body = request.json()
    if auth.auth_category != "XadesSignature":
        raise forbidden("auth-method-not-allowed",
                        "Token KSeF można wygenerować tylko po uwierzytelnieniu podpisem XAdES.")
    if auth.context_type not in ("Nip", "InternalId"):
        raise ApiError(26002, description="Nie można wygenerować tokena dla tego typu kontekstu.",
                       details=["Token KSeF można wygenerować tylko w kontekście Nip lub InternalId (bieżący: %s)."
                                % auth.context_type])
    requested = list(dict.fromkeys(body["permissions"]))
    lacking = sorted(set(requested) - set(auth.permissions))
    if not requested or lacking:
        raise ApiError(26001, description="Nie można nadać tokenowi uprawnień, których nie posiadasz.",
                       details=["Brak uprawnień: %s; posiadane: %s." % (", ".join(lacking) or "(pusta lista)",
                                                                       ", ".join(auth.permissions))])
    delay = float(app.config["tokenActivationDelaySeconds"])
    created = create_token(app.store, app.clock, auth.context_value, requested, body["description"],
                           context_type=auth.context_type, author_type=auth.subject_type,
                           author_value=auth.subject_value, status="Pending" if delay > 0 else "Active")
    if delay > 0:
        app.store.execute("INSERT INTO ksef_token_activation(reference_number, active_at) VALUES (?,?)",
                          (created["referenceNumber"], app.clock.time() + delay))
        app.processor.submit_task(lambda: activate_due_tokens(app), delay)
    return json_response(202, {"referenceNumber": created["referenceNumber"], "token": created["token"]})


def list_tokens(request):
    app = request.app
    activate_due_tokens(app)
    auth = request.auth
    statuses = request.query.get("status") or []
    description = (request.query_value("description") or "").lower()
    author = (request.query_value("authorIdentifier") or "").upper()
    author_type = request.query_value("authorIdentifierType")
    size = int(request.query_value("pageSize", "10"))
    offset = decode_continuation(request)
    rows = app.store.query("SELECT * FROM ksef_tokens WHERE context_type=? AND context_value=?"
                           " ORDER BY date_created DESC, reference_number", (auth.context_type, auth.context_value))
    matching = [row for row in rows if _visible(auth, row)
                and (not statuses or row["status"] in statuses)
                and description in row["description"].lower()
                and author in row["author_value"].upper()
                and (not author_type or row["author_type"] == author_type)]
    page = matching[offset:offset + size]
    body = {"tokens": [_item(row) for row in page]}
    headers = {}
    if offset + size < len(matching):
        body["continuationToken"] = encode_continuation(offset + size)
        headers["x-continuation-token"] = body["continuationToken"]
    return json_response(200, body, headers=headers)


def _load(request, roles=READERS):
    app = request.app
    activate_due_tokens(app)
    reference = request.path_params["referenceNumber"]
    row = app.store.one("SELECT * FROM ksef_tokens WHERE reference_number=?", (reference,))
    if row is None or not _visible(request.auth, row, roles):
        raise ApiError(21405, details=["Brak tokena KSeF %s dostępnego w bieżącym kontekście." % reference])
    return row


def get_token(request):
    return json_response(200, _item(_load(request)))


def revoke(request):
    row = _load(request, roles=MANAGERS)
    if row["status"] not in ("Revoked", "Revoking"):
        request.app.store.execute("UPDATE ksef_tokens SET status='Revoked' WHERE reference_number=?",
                                  (row["reference_number"],))
        request.app.store.execute("DELETE FROM ksef_token_activation WHERE reference_number=?", (row["reference_number"],))
    return empty_response(204)


def register(app):
    app.store.add_schema(SCHEMA)
    # called by /auth/ksef-token, so a Pending token activates on the emulated clock without a /tokens call
    app.services["activate_due_tokens"] = lambda: activate_due_tokens(app)
    add = app.router.add
    add("POST", "/v2/tokens", generate)
    add("GET", "/v2/tokens", list_tokens)
    add("GET", "/v2/tokens/{referenceNumber}", get_token)
    add("DELETE", "/v2/tokens/{referenceNumber}", revoke)
