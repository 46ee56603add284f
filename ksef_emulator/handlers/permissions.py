"""Permissions management (``/permissions/*``, uprawnienia.md): grants, queries, revocation, operations.

Every grant or revocation is an asynchronous operation: ``202 {referenceNumber}``, then
``GET /permissions/operations/{ref}`` says 100 until ``permissionProcessingDelaySeconds`` have
passed and the result after that (200, or 410/430/440/450 with details); a grant gives its
permission, and a revocation takes it away, from that moment. Who may call what comes from the
spec's ``x-required-permissions`` (the owner holds them all). A repeated grant of a scope the
subject already holds is ignored (the docs allow either). When a revocation leaves a subject with
nothing in the context, the KSeF tokens it generated there are revoked (tokeny-ksef.md). The rows live in
:mod:`ksef_emulator.grants`; logins read them through :func:`ksef_emulator.permissions.permissions_for`.

Not modelled: EU entities (``/permissions/eu-entities/*``), entity roles (local government, VAT
groups, bailiffs: the role queries answer an empty list) and the check of self-billing /
tax-representative authorizations against invoice data.
"""
import json
import uuid

from ..clock import iso
from ..errors import ApiError, gone
from ..grants import SCHEMA, delegating_grant_exists, is_active, normalize_subject
from ..ids import is_valid_nip, reference_number
from ..permissions import OWNER_PERMISSIONS, permissions_for
from ..web import json_response

OPERATION_RETENTION_SECONDS = 30 * 24 * 3600
STATUS = {
    100: "Operacja przyjęta do realizacji",
    200: "Operacja zakończona sukcesem",
    400: "Operacja zakończona niepowodzeniem",
    410: "Podane identyfikatory są niezgodne lub pozostają w niewłaściwej relacji",
    420: "Użyte poświadczenia nie mają uprawnień do wykonania tej operacji",
    430: "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom",
    440: "Operacja niedozwolona dla wskazanych powiązań identyfikatorów",
    450: "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu",
}
COMMON_KINDS = ("person", "entity", "indirect", "subunit")


class _Refused(Exception):
    """The operation is accepted (202) but ends with ``code``."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


# -- identifiers ---------------------------------------------------------------------------------
def _valid_pesel(pesel):
    if not (len(pesel) == 11 and pesel.isdigit()):
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return (10 - sum(int(d) * w for d, w in zip(pesel, weights)) % 10) % 10 == int(pesel[10])


def _check_identifier(identifier_type, value):
    value = (value or "").strip()
    if identifier_type == "Nip" and not is_valid_nip(value):
        raise _Refused(450, "Nieprawidłowy numer NIP: %s." % value)
    if identifier_type == "Pesel" and not _valid_pesel(value):
        raise _Refused(450, "Nieprawidłowy numer PESEL: %s." % value)
    if identifier_type == "Fingerprint" and not (len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)):
        raise _Refused(450, "Odcisk palca certyfikatu to 64 znaki szesnastkowe (SHA-256).")
    if identifier_type == "InternalId" and not (len(value) == 16 and value[10] == "-" and is_valid_nip(value[:10])
                                                and value[11:].isdigit()):
        raise _Refused(450, "Identyfikator wewnętrzny ma postać NIP-5 cyfr: %s." % value)


def _author(request):
    """Who acts: the certificate subject, or the author of the KSeF token used to log in."""
    auth = request.auth
    if auth.subject_type == "Token":
        row = request.app.store.one("SELECT author_type, author_value FROM ksef_tokens WHERE reference_number=?",
                                    (auth.ksef_token_reference,))
        if row is not None:
            return row["author_type"], row["author_value"]
        return "Nip", auth.context_nip
    return auth.subject_type, auth.subject_value


# -- operations ----------------------------------------------------------------------------------
def _new_operation(request, code=200, detail=None):
    app = request.app
    now = app.clock.time()
    reference = reference_number("PO", app.clock.now())
    app.store.execute(
        "INSERT INTO permission_operations(reference_number, context_type, context_value, status_code, status_details,"
        " created_ts, ready_at) VALUES (?,?,?,?,?,?,?)",
        (reference, request.auth.context_type, request.auth.context_value, code,
         json.dumps([detail]) if detail else None, now, now + float(app.config["permissionProcessingDelaySeconds"])))
    request.log_note = "permissions op=%s status=%s" % (reference, code)
    return reference


def _accepted(reference):
    return json_response(202, {"referenceNumber": reference})


def _operation_ready_at(request):
    return request.app.clock.time() + float(request.app.config["permissionProcessingDelaySeconds"])


def _insert_grants(request, kind, *, grantor, context, subject, scopes, description, subject_details=None,
                   subunit_name=None):
    """Create the rows of one grant operation (``scopes``: ``[(scope, can_delegate)]``); returns the operation."""
    app = request.app
    subject = normalize_subject(*subject)
    author = _author(request)
    active_from = _operation_ready_at(request)
    now = app.clock.time()
    with app.store.transaction() as conn:
        reference = _new_operation(request)
        for scope, can_delegate in scopes:
            existing = conn.execute(
                "SELECT * FROM permission_grants WHERE kind=? AND grantor_type=? AND grantor_value=?"
                " AND context_type IS ? AND context_value IS ? AND subject_type=? AND subject_value=? AND scope=?",
                (kind, grantor[0], grantor[1], context[0], context[1], subject[0], subject[1], scope)).fetchall()
            if any(row["revoked_from"] is None or row["revoked_from"] > now for row in existing):
                continue  # already granted: KSeF may ignore a duplicate
            conn.execute(
                "INSERT INTO permission_grants(id, kind, grantor_type, grantor_value, context_type, context_value,"
                " subject_type, subject_value, scope, can_delegate, description, subject_details, subunit_name,"
                " author_type, author_value, start_date, active_from, revoked_from, operation_reference)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,?)",
                (str(uuid.uuid4()), kind, grantor[0], grantor[1], context[0], context[1], subject[0], subject[1],
                 scope, int(bool(can_delegate)), description, json.dumps(subject_details) if subject_details else None,
                 subunit_name, author[0], author[1], iso(active_from), active_from, reference))
    return reference


def _grant(request, kind, **kwargs):
    try:
        return _accepted(_insert_grants(request, kind, **kwargs))
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))


def _current(request):
    return request.auth.context_type, request.auth.context_value


def _require_nip_context(request, what):
    if request.auth.context_type not in ("Nip", "InternalId"):
        raise _Refused(430, "%s wymaga kontekstu Nip lub InternalId." % what)


# -- grants --------------------------------------------------------------------------------------
def grant_persons(request):
    body = request.json()
    subject = body["subjectIdentifier"]
    try:
        _require_nip_context(request, "Nadanie uprawnień osobie")
        _check_identifier(subject["type"], subject["value"])
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))
    return _grant(request, "person", grantor=_current(request), context=_current(request),
                  subject=(subject["type"], subject["value"]), scopes=[(p, False) for p in body["permissions"]],
                  description=body["description"], subject_details=body.get("subjectDetails"))


def grant_entities(request):
    body = request.json()
    subject = body["subjectIdentifier"]
    try:
        _require_nip_context(request, "Nadanie uprawnień podmiotowi")
        _check_identifier("Nip", subject["value"])
        if subject["value"] == request.auth.context_nip:
            raise _Refused(410, "Podmiot nie może nadać uprawnień samemu sobie.")
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))
    scopes = [(p["type"], p.get("canDelegate", False)) for p in body["permissions"]]
    return _grant(request, "entity", grantor=_current(request), context=_current(request),
                  subject=("Nip", subject["value"]), scopes=scopes, description=body["description"],
                  subject_details=body.get("subjectDetails"))


def grant_authorizations(request):
    body = request.json()
    subject = body["subjectIdentifier"]
    try:
        _require_nip_context(request, "Nadanie uprawnień podmiotowych")
        if subject["type"] == "Nip":
            _check_identifier("Nip", subject["value"])
            if subject["value"] == request.auth.context_nip:
                raise _Refused(410, "Podmiot nie może nadać uprawnień samemu sobie.")
        if (subject["type"] == "PeppolId") != (body["permission"] == "PefInvoicing"):
            raise _Refused(450, "PefInvoicing nadaje się dostawcy usług Peppol (PeppolId), pozostałe uprawnienia"
                                " podmiotowe podmiotowi identyfikowanemu NIP.")
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))
    return _grant(request, "authorization", grantor=_current(request), context=(None, None),
                  subject=(subject["type"], subject["value"]), scopes=[(body["permission"], False)],
                  description=body["description"], subject_details=body.get("subjectDetails"))


def grant_indirect(request):
    body = request.json()
    subject = body["subjectIdentifier"]
    target = body.get("targetIdentifier") or {"type": "AllPartners"}
    app = request.app
    try:
        if request.auth.context_type != "Nip":
            raise _Refused(430, "Uprawnienia w sposób pośredni nadaje pośrednik w kontekście swojego NIP.")
        _check_identifier(subject["type"], subject["value"])
        if target["type"] == "AllPartners":
            target_value = "*"
        else:
            target_value = (target.get("value") or "").strip()
            _check_identifier(target["type"], target_value)
            client_nip = target_value[:10]
            if not delegating_grant_exists(app.store, app.clock.time(), client_nip, request.auth.context_value):
                raise _Refused(440, "Klient %s nie nadał podmiotowi %s uprawnień z prawem do dalszego przekazywania"
                                    " (canDelegate)." % (client_nip, request.auth.context_value))
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))
    return _grant(request, "indirect", grantor=_current(request), context=("Nip", target_value),
                  subject=(subject["type"], subject["value"]), scopes=[(p, False) for p in body["permissions"]],
                  description=body["description"], subject_details=body.get("subjectDetails"))


def grant_subunits(request):
    body = request.json()
    subject = body["subjectIdentifier"]
    context = body["contextIdentifier"]
    try:
        _check_identifier(subject["type"], subject["value"])
        _check_identifier(context["type"], context["value"])
        if context["type"] == "InternalId" and context["value"][:10] != request.auth.context_nip:
            raise _Refused(440, "Identyfikator wewnętrzny %s nie należy do podmiotu %s."
                                % (context["value"], request.auth.context_nip))
        if context["type"] == "Nip":
            # Subordinate entities need the role of a parent local-government unit or VAT group (not modelled).
            raise _Refused(430, "Podmiot %s nie ma roli jednostki nadrzędnej JST ani grupy VAT."
                                % request.auth.context_nip)
    except _Refused as refused:
        return _accepted(_new_operation(request, refused.code, refused.detail))
    return _grant(request, "subunit", grantor=_current(request), context=(context["type"], context["value"]),
                  subject=(subject["type"], subject["value"]), scopes=[("CredentialsManage", False)],
                  description=body["description"], subject_details=body.get("subjectDetails"),
                  subunit_name=body.get("subunitName"))


# -- revocation ----------------------------------------------------------------------------------
def _revoke(request, kinds):
    app = request.app
    permission_id = request.path_params["permissionId"]
    now = app.clock.time()
    row = app.store.one("SELECT * FROM permission_grants WHERE id=?", (permission_id,))
    placeholders = ",".join("?" * len(kinds))
    if row is None or row["kind"] not in kinds or (row["grantor_type"], row["grantor_value"]) != _current(request) \
            or (row["revoked_from"] is not None and row["revoked_from"] <= now):
        return _accepted(_new_operation(request, 410, "Brak aktywnego uprawnienia %s nadanego w bieżącym kontekście."
                                        % permission_id))
    with app.store.transaction() as conn:
        reference = _new_operation(request)
        conn.execute("UPDATE permission_grants SET revoked_from=? WHERE id=? AND kind IN (%s)" % placeholders,
                     (_operation_ready_at(request), permission_id, *kinds))
    _revoke_orphaned_tokens(app, row)
    return _accepted(reference)


def _revoke_orphaned_tokens(app, row):
    """KSeF tokens die with their author's permissions (tokeny-ksef.md: "Tokeny są automatycznie unieważniane
    w przypadku utraty uprawnień"): once the subject holds nothing in the context, its tokens there are revoked."""
    if row["kind"] not in ("person", "entity", "subunit"):
        return
    if permissions_for(app.store, row["context_type"], row["context_value"], row["subject_type"], row["subject_value"]):
        return
    app.store.execute("UPDATE ksef_tokens SET status='Revoked' WHERE context_type=? AND context_value=?"
                      " AND author_type=? AND author_value=? AND status IN ('Active', 'Pending')",
                      (row["context_type"], row["context_value"], row["subject_type"], row["subject_value"]))


def revoke_common(request):
    return _revoke(request, COMMON_KINDS)


def revoke_authorization(request):
    return _revoke(request, ("authorization",))


# -- operation status ----------------------------------------------------------------------------
def operation_status(request):
    app = request.app
    row = app.store.one("SELECT * FROM permission_operations WHERE reference_number=? AND context_type=?"
                        " AND context_value=?", (request.path_params["referenceNumber"], *_current(request)))
    if row is None:
        raise ApiError(21405, details=["Operacja %s nie istnieje w bieżącym kontekście."
                                       % request.path_params["referenceNumber"]])
    now = app.clock.time()
    if now - row["created_ts"] > OPERATION_RETENTION_SECONDS:
        raise gone()
    code = 100 if now < row["ready_at"] else row["status_code"]
    status = {"code": code, "description": STATUS[code]}
    if code != 100 and row["status_details"]:
        status["details"] = json.loads(row["status_details"])
    return json_response(200, {"status": status})


# -- queries -------------------------------------------------------------------------------------
def _page(request, items, key):
    offset = int(request.query_value("pageOffset", "0") or 0)
    size = int(request.query_value("pageSize", "10") or 10)
    items.sort(key=lambda item: item["id"])
    items.sort(key=lambda item: item["startDate"], reverse=True)
    start = offset * size
    return json_response(200, {key: items[start:start + size], "hasMore": len(items) > start + size})


def _state_matches(row, now, wanted):
    active = is_active(row, now)
    if wanted == "Active":
        return active
    if wanted == "Inactive":
        return not active
    return active or row["active_from"] > now  # default: what holds or is about to


def _identifier(kind_type, value):
    return {"type": kind_type, "value": value}


def _details(row):
    details = json.loads(row["subject_details"]) if row["subject_details"] else None
    result = {}
    if not details:
        return result
    if "fullName" in details:
        result["subjectEntityDetails"] = {"subjectDetailsType": "EntityByIdentifier", "fullName": details["fullName"]}
        return result
    person = details.get("personById") or details.get("personByFpWithId") or details.get("personByFpNoId")
    if person:
        item = {"subjectDetailsType": details.get("subjectDetailsType", "PersonByIdentifier"),
                "firstName": person["firstName"], "lastName": person["lastName"]}
        if person.get("identifier"):
            item["personIdentifier"] = person["identifier"]
        if person.get("birthDate"):
            item["birthDate"] = person["birthDate"]
        if person.get("idDocument"):
            item["idDocument"] = person["idDocument"]
        result["subjectPersonDetails"] = item
    return result


def _person_item(row, now):
    item = {
        "id": row["id"],
        "authorizedIdentifier": _identifier(row["subject_type"], row["subject_value"]),
        "authorIdentifier": _identifier(row["author_type"], row["author_value"]),
        "permissionScope": row["scope"],
        "description": row["description"],
        "permissionState": "Active" if is_active(row, now) else "Inactive",
        "startDate": row["start_date"],
        "canDelegate": bool(row["can_delegate"]),
    }
    if row["kind"] == "indirect":
        item["targetIdentifier"] = ({"type": "AllPartners"} if row["context_value"] == "*"
                                    else _identifier(row["context_type"], row["context_value"]))
    elif row["kind"] == "subunit":
        item["contextIdentifier"] = _identifier(row["context_type"], row["context_value"])
    item.update(_details(row))
    return item


def _matches_identifier(row, prefix, wanted):
    if not wanted:
        return True
    kind_type, value = normalize_subject(wanted.get("type"), wanted.get("value"))
    return row[prefix + "_type"] == kind_type and (value == "" or row[prefix + "_value"] == value)


def query_persons(request):
    app = request.app
    body = request.json() or {}
    now = app.clock.time()
    context = _current(request)
    if body["queryType"] == "PermissionsInCurrentContext":
        rows = app.store.query(
            "SELECT * FROM permission_grants WHERE kind IN ('person','entity') AND context_type=? AND context_value=?"
            " UNION ALL SELECT * FROM permission_grants WHERE kind='indirect' AND grantor_type=? AND grantor_value=?",
            (*context, *context))
    else:
        author = _author(request)
        rows = [row for row in app.store.query(
            "SELECT * FROM permission_grants WHERE kind IN ('person','entity','indirect','subunit')"
            " AND grantor_type=? AND grantor_value=?", context) if (row["author_type"], row["author_value"]) == author]
    target = body.get("targetIdentifier")
    items = []
    for row in rows:
        if not _state_matches(row, now, body.get("permissionState")):
            continue
        if body.get("permissionTypes") and row["scope"] not in body["permissionTypes"]:
            continue
        if not _matches_identifier(row, "subject", body.get("authorizedIdentifier")):
            continue
        if not _matches_identifier(row, "author", body.get("authorIdentifier")):
            continue
        if target and not (row["kind"] == "indirect" and (
                (target["type"] == "AllPartners" and row["context_value"] == "*")
                or (target["type"] != "AllPartners" and row["context_value"] == target.get("value")))):
            continue
        items.append(_person_item(row, now))
    return _page(request, items, "permissions")


def query_personal(request):
    app = request.app
    auth = request.auth
    body = request.json() or {}
    now = app.clock.time()
    subject = normalize_subject(auth.subject_type, auth.subject_value)
    is_owner = auth.subject_type == "Nip" and auth.subject_value == auth.context_nip
    items = []
    for row in app.store.query("SELECT * FROM permission_grants WHERE subject_type=? AND subject_value=?", subject):
        if row["kind"] in ("person", "entity", "subunit") and (row["context_type"], row["context_value"]) != _current(request):
            continue
        if row["kind"] == "indirect" and auth.context_nip not in (row["grantor_value"], row["context_value"]) \
                and row["context_value"] != "*":
            continue
        if row["kind"] == "authorization":
            continue
        items.append((row, _identifier(row["grantor_type"], row["grantor_value"])))
    if is_owner:  # what other entities granted this one to handle their invoices
        for row in app.store.query("SELECT * FROM permission_grants WHERE kind='entity' AND subject_type='Nip'"
                                   " AND subject_value=?", (auth.context_nip,)):
            items.append((row, _identifier(row["grantor_type"], row["grantor_value"])))
    result = []
    for row, context in items:
        if not _state_matches(row, now, body.get("permissionState")):
            continue
        if body.get("permissionTypes") and row["scope"] not in body["permissionTypes"]:
            continue
        if body.get("contextIdentifier") and context != {"type": body["contextIdentifier"]["type"],
                                                         "value": body["contextIdentifier"]["value"]}:
            continue
        item = {"id": row["id"], "contextIdentifier": context,
                "authorizedIdentifier": _identifier(row["subject_type"], row["subject_value"]),
                "permissionScope": row["scope"], "description": row["description"],
                "permissionState": "Active" if is_active(row, now) else "Inactive",
                "startDate": row["start_date"], "canDelegate": bool(row["can_delegate"])}
        if row["kind"] == "indirect":
            item["targetIdentifier"] = ({"type": "AllPartners"} if row["context_value"] == "*"
                                        else _identifier(row["context_type"], row["context_value"]))
        item.update(_details(row))
        result.append(item)
    response = _page(request, result, "permissions")
    if is_owner:
        body_out = response.json_body
        body_out["ownerPermissions"] = list(OWNER_PERMISSIONS)
        response = json_response(200, body_out)
    return response


def _active_grants(app, where, params):
    """The grants matching ``where`` that are in force now (not revoked, not expired)."""
    now = app.clock.time()
    return [row for row in app.store.query("SELECT * FROM permission_grants WHERE " + where, params)
            if is_active(row, now)]


def query_entities(request):
    """Invoice permissions other entities granted to the current context's entity."""
    app = request.app
    body = request.json() or {}
    wanted = body.get("contextIdentifier")
    items = []
    for row in _active_grants(app, "kind='entity' AND subject_type='Nip' AND subject_value=?",
                              (request.auth.context_nip,)):
        if wanted and (row["grantor_type"], row["grantor_value"]) != (wanted["type"], wanted["value"]):
            continue
        items.append({"id": row["id"], "contextIdentifier": _identifier(row["grantor_type"], row["grantor_value"]),
                      "permissionScope": row["scope"], "description": row["description"],
                      "startDate": row["start_date"], "canDelegate": bool(row["can_delegate"])})
    return _page(request, items, "permissions")


def query_authorizations(request):
    app = request.app
    body = request.json() or {}
    if body["queryType"] == "Granted":
        rows = _active_grants(app, "kind='authorization' AND grantor_type=? AND grantor_value=?", _current(request))
    else:
        rows = _active_grants(app, "kind='authorization' AND subject_type='Nip' AND subject_value=?",
                              (request.auth.context_nip,))
    items = []
    for row in rows:
        if body.get("permissionTypes") and row["scope"] not in body["permissionTypes"]:
            continue
        if not _matches_identifier(row, "subject", body.get("authorizedIdentifier")):
            continue
        if not _matches_identifier(row, "grantor", body.get("authorizingIdentifier")):
            continue
        item = {"id": row["id"], "authorIdentifier": _identifier(row["author_type"], row["author_value"]),
                "authorizedEntityIdentifier": _identifier(row["subject_type"], row["subject_value"]),
                "authorizingEntityIdentifier": _identifier(row["grantor_type"], row["grantor_value"]),
                "authorizationScope": row["scope"], "description": row["description"], "startDate": row["start_date"]}
        details = json.loads(row["subject_details"]) if row["subject_details"] else None
        if details and details.get("fullName"):
            item["subjectEntityDetails"] = {"subjectDetailsType": "EntityByIdentifier", "fullName": details["fullName"]}
        items.append(item)
    return _page(request, items, "authorizationGrants")


def query_subunits(request):
    app = request.app
    body = request.json() or {}
    wanted = body.get("subunitIdentifier")
    items = []
    for row in _active_grants(app, "kind='subunit' AND grantor_type=? AND grantor_value=?", _current(request)):
        if wanted and (row["context_type"], row["context_value"]) != (wanted["type"], wanted["value"]):
            continue
        item = {"id": row["id"], "authorizedIdentifier": _identifier(row["subject_type"], row["subject_value"]),
                "subunitIdentifier": _identifier(row["context_type"], row["context_value"]),
                "authorIdentifier": _identifier(row["author_type"], row["author_value"]),
                "permissionScope": "CredentialsManage", "description": row["description"],
                "startDate": row["start_date"]}
        if row["subunit_name"]:
            item["subunitName"] = row["subunit_name"]
        item.update({k: v for k, v in _details(row).items() if k == "subjectPersonDetails"})
        items.append(item)
    return _page(request, items, "permissions")


def query_entity_roles(request):
    return json_response(200, {"roles": [], "hasMore": False})


def query_subordinate_roles(request):
    return json_response(200, {"roles": [], "hasMore": False})


def register(app):
    app.store.add_schema(SCHEMA)
    add = app.router.add
    add("POST", "/v2/permissions/persons/grants", grant_persons)
    add("POST", "/v2/permissions/entities/grants", grant_entities)
    add("POST", "/v2/permissions/authorizations/grants", grant_authorizations)
    add("POST", "/v2/permissions/indirect/grants", grant_indirect)
    add("POST", "/v2/permissions/subunits/grants", grant_subunits)
    add("DELETE", "/v2/permissions/common/grants/{permissionId}", revoke_common)
    add("DELETE", "/v2/permissions/authorizations/grants/{permissionId}", revoke_authorization)
    add("GET", "/v2/permissions/operations/{referenceNumber}", operation_status)
    add("POST", "/v2/permissions/query/persons/grants", query_persons)
    add("POST", "/v2/permissions/query/personal/grants", query_personal)
    add("POST", "/v2/permissions/query/entities/grants", query_entities)
    add("POST", "/v2/permissions/query/authorizations/grants", query_authorizations)
    add("POST", "/v2/permissions/query/subunits/grants", query_subunits)
    add("GET", "/v2/permissions/query/entities/roles", query_entity_roles)
    add("POST", "/v2/permissions/query/subordinate-entities/roles", query_subordinate_roles)
