"""Session and invoice status: ``GET /sessions``, ``/sessions/{ref}``, ``.../invoices``,
``.../invoices/failed``, ``.../invoices/{invoiceReferenceNumber}``."""
import base64
import json

from .. import upo
from ..clock import iso, parse_iso
from ..errors import ApiError
from ..processing import invoice_status, refresh_session
from ..web import json_response
from .sessions import check_session_access, load_session

FAILED_CODES = (405, 410, 415, 430, 435, 440, 450, 500, 550)
COMMON_STATUS = {"InProgress": (100, 150, 170), "Succeeded": (200,), "Failed": (405, 415, 420, 430, 435, 445, 500),
                 "Cancelled": (440,)}


def encode_continuation(offset):
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode("ascii")


def decode_continuation(request):
    token = request.headers.get("x-continuation-token")
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode("ascii")))["o"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(21418, details=["Przekazany token kontynuacji ma nieprawidłowy format."])


def _counts(app, reference):
    row = app.store.one("SELECT COUNT(*) AS total, SUM(status_code=200) AS ok, SUM(status_code IN (%s)) AS failed"
                        " FROM invoices WHERE session_reference=?" % ",".join(map(str, FAILED_CODES)), (reference,))
    return row["total"] or 0, row["ok"] or 0, row["failed"] or 0


def _status(row):
    status = {"code": row["status_code"], "description": row["status_description"]}
    details = json.loads(row["status_details"] or "[]")
    if details:
        status["details"] = details
    return status


def session_status(request):
    app = request.app
    session = load_session(app, request.path_params["referenceNumber"])
    check_session_access(request, session)
    total, ok, failed = _counts(app, session["reference_number"])
    body = {"status": _status(session), "dateCreated": iso(session["created_ts"]), "dateUpdated": iso(session["updated_ts"]),
            "validUntil": iso(session["valid_until_ts"]), "invoiceCount": total, "successfulInvoiceCount": ok,
            "failedInvoiceCount": failed}
    pages = upo.session_pages(app, session["reference_number"])
    if pages:
        ttl = app.config["presignedUrlTtlSeconds"]
        items = []
        for page in pages:
            url, expires = app.signer.sign(request, "/storage/upo/%s/page/%s" % (session["reference_number"],
                                                                                  page["referenceNumber"]), ttl)
            items.append({"referenceNumber": page["referenceNumber"], "downloadUrl": url,
                          "downloadUrlExpirationDate": iso(expires)})
        body["upo"] = {"pages": items}
    return json_response(200, body)


def invoice_item(request, row):
    """``SessionInvoiceStatusResponse`` for an invoice row."""
    app = request.app
    code, description, details, extensions = invoice_status(app, row)
    status = {"code": code, "description": description}
    if details:
        status["details"] = details
    if extensions:
        status["extensions"] = extensions
    item = {"ordinalNumber": row["ordinal_number"], "referenceNumber": row["reference_number"],
            "invoiceHash": row["invoice_hash"], "invoicingDate": iso(row["invoicing_ts"]), "status": status}
    if row["invoice_number"]:
        item["invoiceNumber"] = row["invoice_number"]
    if row["file_name"]:
        item["invoiceFileName"] = row["file_name"]
    if code == 200:
        url, expires = app.signer.sign(request, "/storage/upo/%s/invoice/%s" % (row["session_reference"],
                                                                                  row["reference_number"]),
                                       app.config["presignedUrlTtlSeconds"])
        item.update(ksefNumber=row["ksef_number"], acquisitionDate=iso(row["acquisition_ts"]),
                    invoicingMode=row["invoicing_mode"], upoDownloadUrl=url, upoDownloadUrlExpirationDate=iso(expires))
        if row["permanent_storage_ts"] is not None and row["permanent_storage_ts"] <= app.clock.time():
            item["permanentStorageDate"] = iso(row["permanent_storage_ts"])
    return item


def single_invoice(request):
    app = request.app
    session = load_session(app, request.path_params["referenceNumber"])
    check_session_access(request, session)
    row = app.store.one("SELECT * FROM invoices WHERE session_reference=? AND reference_number=?",
                        (session["reference_number"], request.path_params["invoiceReferenceNumber"]))
    if row is None:
        raise ApiError(21164, "Faktura o podanym identyfikatorze nie istnieje.",
                       ["Faktura %s nie istnieje w sesji %s." % (request.path_params["invoiceReferenceNumber"],
                                                                 session["reference_number"])])
    return json_response(200, invoice_item(request, row))


def _invoice_page(request, failed_only):
    app = request.app
    session = load_session(app, request.path_params["referenceNumber"])
    check_session_access(request, session)
    page_size = int(request.query_value("pageSize", "10"))
    offset = decode_continuation(request)
    condition = " AND status_code IN (%s)" % ",".join(map(str, FAILED_CODES)) if failed_only else ""
    rows = app.store.query("SELECT * FROM invoices WHERE session_reference=?%s ORDER BY ordinal_number LIMIT ? OFFSET ?"
                           % condition, (session["reference_number"], page_size + 1, offset))
    body = {"invoices": [invoice_item(request, row) for row in rows[:page_size]]}
    headers = {}
    if len(rows) > page_size:
        body["continuationToken"] = encode_continuation(offset + page_size)
        headers["x-continuation-token"] = body["continuationToken"]
    return json_response(200, body, headers=headers)


def session_invoices(request):
    return _invoice_page(request, failed_only=False)


def failed_invoices(request):
    return _invoice_page(request, failed_only=True)


def list_sessions(request):
    app = request.app
    auth = request.auth
    page_size = int(request.query_value("pageSize", "10"))
    offset = decode_continuation(request)
    clauses = ["context_type=?", "context_value=?"]
    params = [auth.context_type, auth.context_value]
    if not set(auth.permissions) & {"Introspection", "EnforcementOperations"}:
        # InvoiceWrite alone sees only the sessions its own subject (person, certificate, token) opened
        clauses.append("auth_reference IN (SELECT reference_number FROM auth_operations"
                       " WHERE subject_type IS ? AND subject_value IS ?)")
        params.extend([auth.subject_type, auth.subject_value])
    if request.query_value("sessionType"):
        clauses.append("session_type=?")
        params.append(request.query_value("sessionType"))
    if request.query_value("referenceNumber"):
        clauses.append("reference_number=?")
        params.append(request.query_value("referenceNumber"))
    for name, column, operator in (("dateCreatedFrom", "created_ts", ">="), ("dateCreatedTo", "created_ts", "<="),
                                   ("dateClosedFrom", "closed_ts", ">="), ("dateClosedTo", "closed_ts", "<="),
                                   ("dateModifiedFrom", "updated_ts", ">="), ("dateModifiedTo", "updated_ts", "<=")):
        value = request.query_value(name)
        if value:
            try:
                params.append(parse_iso(value).timestamp())
            except ValueError:
                raise ApiError(21405, details=["%s: nieprawidłowa data %r" % (name, value)])
            clauses.append("%s %s ?" % (column, operator))
    rows = [refresh_session(app, row) for row in app.store.query(
        "SELECT * FROM sessions WHERE %s ORDER BY created_ts DESC" % " AND ".join(clauses), params)]
    statuses = request.query.get("statuses") or []
    if statuses:
        wanted = set(code for name in statuses for code in COMMON_STATUS.get(name, ()))
        rows = [row for row in rows if row["status_code"] in wanted]
    page = rows[offset:offset + page_size]
    items = []
    for row in page:
        total, ok, failed = _counts(app, row["reference_number"])
        items.append({"referenceNumber": row["reference_number"], "status": _status(row),
                      "dateCreated": iso(row["created_ts"]), "dateUpdated": iso(row["updated_ts"]),
                      "validUntil": iso(row["valid_until_ts"]), "totalInvoiceCount": total,
                      "successfulInvoiceCount": ok, "failedInvoiceCount": failed})
    body = {"sessions": items}
    if len(rows) > offset + page_size:
        body["continuationToken"] = encode_continuation(offset + page_size)
    return json_response(200, body)


def register(app):
    add = app.router.add
    add("GET", "/v2/sessions", list_sessions)
    add("GET", "/v2/sessions/{referenceNumber}", session_status)
    add("GET", "/v2/sessions/{referenceNumber}/invoices", session_invoices)
    add("GET", "/v2/sessions/{referenceNumber}/invoices/failed", failed_invoices)
    add("GET", "/v2/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}", single_invoice)
