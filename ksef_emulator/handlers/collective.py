"""Collective identifiers (IZ): ``POST /collective-identifiers``, ``POST /collective-identifiers/query``,
``POST /collective-identifiers/invoices``, ``GET /collective-identifiers/ksef/{ksefNumber}`` (API 2.9.0).

Rules (open-api.json 2.9.0, limity.md, ksef-docs-changes.md §1 and §10):
- every call needs one of InvoiceRead, InvoiceWrite, CollectiveIdentifierManage (:func:`may_manage`);
  the rate-limit group is ``collectiveIdentifier`` (20/120/240);
- an IZ holds 2..500 invoices (the context limit ``collectiveIdentifierMaxInvoices``), all of one seller,
  each at most once (71005); an invoice is found only when the context is its seller (Podmiot1) or
  buyer (Podmiot2) and it is in permanent storage (71001 otherwise: on TEST a freshly accepted invoice
  is refused until then); different sellers 71004; at most 132 IZs per invoice per context (71002);
- the number is ``NIP-IZYYYYMM-12HEX-CRC``, CRC-8 (0x07, init 0) over the first 32 characters, as
  for KSeF numbers (both examples of open-api.json check out that way);
- the query sees IZs created in the context, and for a NIP context also those of invoices the
  subject sold (Podmiot1); creation ranges span at most 100 days; results are newest first;
- invoice lists are sorted by KSeF number, newest first; payment data only for the creating context
  or a context with a role on the invoice (``detailsHidden`` otherwise).
71003 is in no published table; the emulator never answers it (a fault rule can, for client tests).
"""
import datetime
import json
import os

from ..clock import UTC, iso, parse_iso
from ..errors import ApiError, missing_permissions
from ..ids import crc8
from ..openapi import Operation
from ..web import json_response
from .session_status import decode_continuation, encode_continuation

SCHEMA = """
CREATE TABLE IF NOT EXISTS collective_identifiers (
    number TEXT PRIMARY KEY, seller_nip TEXT NOT NULL,
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    created_ts REAL NOT NULL, invoice_count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS collective_identifiers_seller ON collective_identifiers(seller_nip);
CREATE TABLE IF NOT EXISTS collective_identifier_invoices (
    number TEXT NOT NULL, ksef_number TEXT NOT NULL,
    amount REAL, currency TEXT, description TEXT,
    PRIMARY KEY (number, ksef_number));
CREATE INDEX IF NOT EXISTS collective_identifier_invoices_ksef ON collective_identifier_invoices(ksef_number);
"""
RATE_GROUP = "collectiveIdentifier"
PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage")
DEFAULT_MAX_INVOICES = 500
MAX_IDENTIFIERS_PER_INVOICE = 132
MAX_QUERY_DAYS = 100
MAX_NUMBERS_PER_QUERY = 10
SPEC_SUPPLEMENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "open-api-collective.json")
ERRORS = {
    71001: ("Faktura o podanym identyfikatorze nie istnieje.",
            "Faktura o numerze KSeF %s nie została znaleziona."),
    71002: ("Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych.",
            "Faktura o numerze KSeF %s jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych."),
    71004: ("Faktury mają różnych sprzedawców.", "Faktura o numerze KSeF %s ma innego sprzedawcę."),
    71005: ("Powtórzony numer KSeF w żądaniu.", "Powtórzony numer KSeF %s."),
}


def may_manage(auth):
    """Whether the session may use collective identifiers: one of the three permissions in its context.

    The one place to change when grants become richer (the router also enforces the spec's list)."""
    return bool(set(PERMISSIONS) & set(auth.permissions))


def _check_permissions(request):
    if not may_manage(request.auth):
        raise missing_permissions(PERMISSIONS, request.auth.permissions)


def _error(code, ksef_number):
    description, detail = ERRORS[code]
    return ApiError(code, description=description, details=[detail % ksef_number])


def _new_number(seller_nip, moment):
    head = "%s-IZ%s-%s" % (seller_nip, moment.strftime("%Y%m"), os.urandom(6).hex().upper())
    return "%s-%02X" % (head, crc8(head))


def _context_key(auth):
    return auth.context_type, auth.context_value


def _visible_invoice(app, auth, ksef_number):
    """The stored invoice when the context is its seller or buyer and it is in permanent storage."""
    row = app.store.one("SELECT ksef_number, seller_nip, buyer_nip, permanent_storage_ts FROM invoices"
                        " WHERE ksef_number=? AND status_code=200", (ksef_number,))
    if row is None or auth.context_nip not in (row["seller_nip"], row["buyer_nip"]):
        return None
    if row["permanent_storage_ts"] is None or row["permanent_storage_ts"] > app.clock.time():
        return None
    return row


def generate(request):
    app = request.app
    auth = request.auth
    _check_permissions(request)
    items = request.json()["invoices"]
    limit = int(app.config.get("collectiveIdentifierMaxInvoices", DEFAULT_MAX_INVOICES))
    if len(items) > limit:
        raise ApiError(21405, details=["invoices: maksymalna liczba faktur w identyfikatorze zbiorczym to %d "
                                       "(przesłano %d)." % (limit, len(items))])
    seen, problems = set(), []
    for item in items:
        if item["ksefNumber"] in seen:
            problems.append(_error(71005, item["ksefNumber"]))
        seen.add(item["ksefNumber"])
    if problems:
        raise ApiError(71005, ERRORS[71005][0], [d for p in problems for d in p.details])
    with app.store.transaction() as conn:  # the 132 check and the insert are one step
        rows = []
        for item in items:
            row = _visible_invoice(app, auth, item["ksefNumber"])
            if row is None:
                problems.append(_error(71001, item["ksefNumber"]))
            rows.append(row)
        if problems:
            raise _merged(problems)
        seller = rows[0]["seller_nip"]
        problems = [_error(71004, row["ksef_number"]) for row in rows if row["seller_nip"] != seller]
        if problems:
            raise _merged(problems)
        for row in rows:
            count = conn.execute(
                "SELECT COUNT(*) FROM collective_identifier_invoices i JOIN collective_identifiers c"
                " ON c.number=i.number WHERE i.ksef_number=? AND c.context_type=? AND c.context_value=?",
                (row["ksef_number"],) + _context_key(auth)).fetchone()[0]
            if count >= MAX_IDENTIFIERS_PER_INVOICE:
                problems.append(_error(71002, row["ksef_number"]))
        if problems:
            raise _merged(problems)
        now = app.clock.time()
        number = _new_number(seller, datetime.datetime.fromtimestamp(now, UTC))
        conn.execute("INSERT INTO collective_identifiers(number, seller_nip, context_type, context_value, created_ts,"
                     " invoice_count) VALUES (?,?,?,?,?,?)", (number, seller) + _context_key(auth) + (now, len(items)))
        conn.executemany(
            "INSERT INTO collective_identifier_invoices(number, ksef_number, amount, currency, description)"
            " VALUES (?,?,?,?,?)",
            [(number, item["ksefNumber"], (item.get("payment") or {}).get("amount"),
              (item.get("payment") or {}).get("currency"), item.get("description")) for item in items])
    return json_response(201, {"collectiveIdentifierNumber": number})


def _merged(problems):
    """One 400 listing every invoice at fault, under the first problem's code."""
    return ApiError(problems[0].code, problems[0].description, [d for p in problems for d in p.details])


def _visible_clause(auth):
    """SQL condition on ``collective_identifiers c``: created in this context, or (NIP context) of its sales."""
    if auth.context_type == "Nip":
        return "((c.context_type=? AND c.context_value=?) OR c.seller_nip=?)", _context_key(auth) + (auth.context_nip,)
    return "(c.context_type=? AND c.context_value=?)", _context_key(auth)


def _page(request, items, key):
    size = int(request.query_value("pageSize", "10"))
    offset = decode_continuation(request)
    body = {key: items[offset:offset + size]}
    if offset + size < len(items):
        body["continuationToken"] = encode_continuation(offset + size)
    return json_response(200, body)


def _date(value, name):
    try:
        moment = parse_iso(value)
    except (ValueError, AttributeError, TypeError):
        raise ApiError(21405, details=["%s: nieprawidłowa data %r." % (name, value)])
    return moment.timestamp()


def query(request):
    auth = request.auth
    _check_permissions(request)
    body = request.json()
    start, end = _date(body["dateCreatedFrom"], "dateCreatedFrom"), _date(body["dateCreatedTo"], "dateCreatedTo")
    if end < start:
        raise ApiError(21405, details=["dateCreatedTo nie może być wcześniejsza niż dateCreatedFrom."])
    if end - start > MAX_QUERY_DAYS * 86400:
        raise ApiError(21405, details=["Maksymalny przedział czasu to %d dni." % MAX_QUERY_DAYS])
    clause, params = _visible_clause(auth)
    sql = "SELECT * FROM collective_identifiers c WHERE %s AND c.created_ts>=? AND c.created_ts<=?" % clause
    params += (start, end)
    for key, condition in (("collectiveIdentifierNumber", "c.number=?"), ("invoiceCountFrom", "c.invoice_count>=?"),
                           ("invoiceCountTo", "c.invoice_count<=?")):
        if body.get(key) is not None:
            sql += " AND " + condition
            params += (body[key],)
    if body.get("createdInCurrentContext") is not None:
        sql += " AND (c.context_type=? AND c.context_value=?) = ?"
        params += _context_key(auth) + (1 if body["createdInCurrentContext"] else 0,)
    rows = request.app.store.query(sql + " ORDER BY c.created_ts DESC, c.number DESC", params)
    items = [{"collectiveIdentifierNumber": row["number"], "dateCreated": iso(row["created_ts"]),
              "invoiceCount": row["invoice_count"],
              "createdInCurrentContext": (row["context_type"], row["context_value"]) == _context_key(auth)}
             for row in rows]
    return _page(request, items, "collectiveIdentifiers")


def invoices(request):
    app = request.app
    auth = request.auth
    _check_permissions(request)
    numbers = list(dict.fromkeys(request.json()["collectiveIdentifierNumbers"]))
    if not 1 <= len(numbers) <= MAX_NUMBERS_PER_QUERY:
        raise ApiError(21405, details=["collectiveIdentifierNumbers: podaj od 1 do %d numerów identyfikatorów "
                                       "zbiorczych." % MAX_NUMBERS_PER_QUERY])
    clause, params = _visible_clause(auth)
    rows = app.store.query(
        "SELECT i.*, c.context_type, c.context_value, v.seller_nip AS inv_seller, v.buyer_nip AS inv_buyer"
        " FROM collective_identifier_invoices i JOIN collective_identifiers c ON c.number=i.number"
        " LEFT JOIN invoices v ON v.ksef_number=i.ksef_number"
        " WHERE %s AND i.number IN (%s) ORDER BY i.ksef_number DESC, i.number DESC"
        % (clause, ",".join("?" * len(numbers))), params + tuple(numbers))
    items = []
    for row in rows:
        item = {"ksefNumber": row["ksef_number"], "collectiveIdentifierNumber": row["number"]}
        allowed = (row["context_type"], row["context_value"]) == _context_key(auth) \
            or auth.context_nip in (row["inv_seller"], row["inv_buyer"])
        has_details = row["amount"] is not None or row["description"]
        item["detailsHidden"] = bool(has_details and not allowed)
        if has_details and allowed:
            if row["amount"] is not None:
                item["payment"] = {"amount": row["amount"], "currency": row["currency"]}
            if row["description"]:
                item["description"] = row["description"]
        items.append(item)
    return _page(request, items, "invoices")


def by_ksef_number(request):
    auth = request.auth
    _check_permissions(request)
    clause, params = _visible_clause(auth)
    rows = request.app.store.query(
        "SELECT c.* FROM collective_identifiers c JOIN collective_identifier_invoices i ON i.number=c.number"
        " WHERE i.ksef_number=? AND %s ORDER BY c.created_ts DESC, c.number DESC" % clause,
        (request.path_params["ksefNumber"],) + params)
    items = [{"collectiveIdentifierNumber": row["number"], "dateCreated": iso(row["created_ts"]),
              "createdInCurrentContext": (row["context_type"], row["context_value"]) == _context_key(auth)}
             for row in rows]
    return _page(request, items, "collectiveIdentifiers")


def _ensure_spec(openapi):
    """Graft the IZ operations (API 2.9.0) onto an emulator spec older than 2.7.0; no-op on a newer one."""
    if openapi.operation("POST", "/collective-identifiers") is not None:
        return
    with open(SPEC_SUPPLEMENT, "rb") as handle:
        supplement = json.load(handle)
    schemas = openapi.spec["components"]["schemas"]
    for name, schema in supplement["schemas"].items():
        schemas.setdefault(name, schema)
    for path, item in supplement["paths"].items():
        openapi.spec["paths"].setdefault(path, item)
        for method, raw in item.items():
            operation = Operation(method, path, raw)
            openapi.operations.setdefault(operation.key, operation)
    openapi._registry_cache = None


def register(app):
    _ensure_spec(app.openapi)
    app.store.add_schema(SCHEMA)
    add = app.router.add
    add("POST", "/v2/collective-identifiers", generate, rate_group=RATE_GROUP)
    add("POST", "/v2/collective-identifiers/query", query, rate_group=RATE_GROUP)
    add("POST", "/v2/collective-identifiers/invoices", invoices, rate_group=RATE_GROUP)
    add("GET", "/v2/collective-identifiers/ksef/{ksefNumber}", by_ksef_number, rate_group=RATE_GROUP)
