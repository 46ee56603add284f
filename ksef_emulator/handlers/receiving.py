"""Receiving invoices: metadata query, download by KSeF number, exports with HWM.

Invoices come from the ``invoices`` table (sent online/batch, or seeded through
``POST /admin/purchase-invoices``); see :mod:`ksef_emulator.receiving_query` for the
filter rules and :mod:`ksef_emulator.invoice_export` for the package format.

Config: ``receivingTruncationLimit`` (10,000: records before ``isTruncated``),
``exportMaxPackageBytes`` (1 GiB of compressed invoices per export package, then ``isTruncated``),
``permanentStorageHwmLagSeconds``, ``exportProcessingDelaySeconds``, ``exportPartSizeBytes``,
``maxConcurrentExports``.
"""
import json

from .. import invoice_export
from ..clock import iso
from ..errors import ApiError, gone
from ..ids import reference_number
from ..receiving_query import from_micros, select_invoices, subject_type_allowed
from ..web import Response, json_response, xml_response
from .sessions import unwrap_session_key

EXPORT_STATUS_RETENTION_SECONDS = 7 * 24 * 3600
EXPORT_STATUSES = {
    100: "Eksport faktur w toku",
    200: "Eksport faktur zakończony sukcesem",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Zakres filtrowania wykracza poza dostępny zakres danych",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS invoice_exports (
    reference_number TEXT PRIMARY KEY,
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    created_ts REAL NOT NULL, ready_ts REAL NOT NULL,
    status_code INTEGER NOT NULL, status_details TEXT,   -- final status (shown once ready_ts is reached)
    package TEXT);                                       -- JSON InvoicePackage without part URLs
CREATE TABLE IF NOT EXISTS invoice_export_parts (
    reference_number TEXT NOT NULL, ordinal_number INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (reference_number, ordinal_number));
"""


# -- metadata query -------------------------------------------------------------------------------
def query_metadata(request):
    app = request.app
    filters = request.json()
    offset = int(request.query_value("pageOffset", "0"))
    size = int(request.query_value("pageSize", "10"))
    cap = int(app.config["receivingTruncationLimit"])
    if offset >= cap:
        raise ApiError(21405, details=["pageOffset %d wykracza poza limit %d rekordów; przesuń dateRange.from na datę "
                                       "ostatniego otrzymanego rekordu i zacznij od pageOffset=0." % (offset, cap)])
    descending = request.query_value("sortOrder", "Asc") == "Desc"
    selection = select_invoices(app, request.auth, filters, descending=descending)
    window = selection.records[:cap]
    truncated = len(selection.records) > cap
    page = window[offset:offset + size]
    reaches_cap = offset + size >= len(window)
    body = {
        "hasMore": offset + len(page) < len(window) or (truncated and reaches_cap),
        # reported on the page that reaches the cap: then the client moves dateRange.from
        "isTruncated": truncated and reaches_cap,
        "invoices": page,
    }
    if selection.hwm_micros is not None:
        body["permanentStorageHwmDate"] = iso(from_micros(selection.hwm_micros))
    return json_response(200, body)


# -- download -------------------------------------------------------------------------------------
def _visible_to(auth, row):
    nip = auth.context_nip
    if nip in (row["seller_nip"], row["buyer_nip"]):
        return True
    metadata = json.loads(row["metadata"] or "{}")
    thirds = [(t.get("identifier") or {}).get("value") for t in metadata.get("thirdSubjects") or []]
    return nip in thirds or auth.context_value in thirds or (metadata.get("authorizedSubject") or {}).get("nip") == nip


def download_invoice(request):
    app = request.app
    number = request.path_params["ksefNumber"]
    row = app.store.one("SELECT * FROM invoices WHERE ksef_number=? AND status_code=200", (number,))
    if row is None or not _visible_to(request.auth, row):
        raise ApiError(21164, description="Faktura o podanym identyfikatorze nie istnieje.",
                       details=["Brak faktury o numerze KSeF %s dostępnej w bieżącym kontekście." % number])
    if row["permanent_storage_ts"] is None or row["permanent_storage_ts"] > app.clock.time():
        raise ApiError(21165, details=["Faktura %s jest przetwarzana; spróbuj ponownie za chwilę." % number])
    return xml_response(bytes(row["content"]), headers={"x-ms-meta-hash": row["invoice_hash"]})


# -- exports --------------------------------------------------------------------------------------
def start_export(request):
    app = request.app
    body = request.json()
    auth = request.auth
    now = app.clock.time()
    key, iv = unwrap_session_key(app, body["encryption"])  # 21470 for an unknown publicKeyId
    filters = body["filters"]
    if not subject_type_allowed(filters["subjectType"], auth.context_type):
        raise ApiError(21181, details=["Nie można wyeksportować paczki faktur dla wybranego podmiotu (%s) i zalogowanego"
                                       " identyfikatora kontekstu (%s)." % (filters["subjectType"], auth.context_type)])
    with app.store.transaction() as conn:
        running = conn.execute("SELECT COUNT(*) FROM invoice_exports WHERE context_type=? AND context_value=?"
                               " AND ready_ts>?", (auth.context_type, auth.context_value, now)).fetchone()[0]
        if running >= int(app.config["maxConcurrentExports"]):
            raise ApiError(21182, description="Osiągnięto limit równoczesnych eksportów.",
                           details=["W kontekście trwa już %d eksportów (limit %d); poczekaj na ich zakończenie."
                                    % (running, app.config["maxConcurrentExports"])])
        reference = reference_number("EX", app.clock.now())
        ready_ts = now + float(app.config["exportProcessingDelaySeconds"])
        conn.execute("INSERT INTO invoice_exports(reference_number, context_type, context_value, created_ts, ready_ts,"
                     " status_code) VALUES (?,?,?,?,?,100)", (reference, auth.context_type, auth.context_value, now, ready_ts))
    if key is None:
        _finish(app, reference, 415, ["Nie udało się odszyfrować klucza symetrycznego (RSA-OAEP SHA-256)."])
    else:
        try:
            package = _build_package(app, reference, auth, filters, body, key, iv)
        except ApiError as error:
            code = 420 if error.code == 21183 else 400
            _finish(app, reference, code, error.details)
        else:
            _finish(app, reference, 200, None, package)
    return json_response(201, {"referenceNumber": reference})


def _finish(app, reference, code, details, package=None):
    app.store.execute("UPDATE invoice_exports SET status_code=?, status_details=?, package=? WHERE reference_number=?",
                      (code, json.dumps(details) if details else None, json.dumps(package) if package else None,
                       reference))


def _build_package(app, reference, auth, filters, body, key, iv):
    selection = select_invoices(app, auth, filters)  # ascending by the chosen date type
    cap = int(app.config["receivingTruncationLimit"])
    records = selection.records[:cap]
    files, count = invoice_export.package_files(app, records, body.get("onlyMetadata"),
                                                int(app.config["exportMaxPackageBytes"]))
    truncated = len(selection.records) > count
    records = records[:count]
    archive = invoice_export.build_archive(files, body.get("compressionType") or "Zip")
    parts = []
    extension = "tar.gz" if body.get("compressionType") == "TarGz" else "zip"
    for ordinal, (plain, encrypted) in enumerate(
            invoice_export.encrypted_parts(archive, key, iv, app.config["exportPartSizeBytes"]), 1):
        app.store.execute("INSERT INTO invoice_export_parts(reference_number, ordinal_number, data) VALUES (?,?,?)",
                          (reference, ordinal, encrypted))
        parts.append({"ordinalNumber": ordinal, "partName": "%s-%03d.%s.aes" % (reference, ordinal, extension),
                      "method": "GET", "partSize": len(plain), "partHash": invoice_export.b64_sha256(plain),
                      "encryptedPartSize": len(encrypted), "encryptedPartHash": invoice_export.b64_sha256(encrypted)})
    package = {"invoiceCount": len(records), "size": len(archive), "parts": parts, "isTruncated": truncated,
               "compressionType": body.get("compressionType") or "Zip"}
    if records and truncated:  # documented: only a truncated package names its last date
        last = records[-1]
        date_type = selection.date_type
        if date_type == "Issue":
            package["lastIssueDate"] = last["issueDate"]
        elif date_type == "Invoicing":
            package["lastInvoicingDate"] = last["invoicingDate"]
        else:
            package["lastPermanentStorageDate"] = last["permanentStorageDate"]
    if selection.hwm_micros is not None:
        package["permanentStorageHwmDate"] = iso(from_micros(selection.hwm_micros))
    return package


def export_status(request):
    app = request.app
    reference = request.path_params["referenceNumber"]
    row = app.store.one("SELECT * FROM invoice_exports WHERE reference_number=? AND context_type=? AND context_value=?",
                        (reference, request.auth.context_type, request.auth.context_value))
    if row is None:
        raise ApiError(21405, details=["Brak eksportu o numerze referencyjnym %s w bieżącym kontekście." % reference])
    now = app.clock.time()
    if now > row["created_ts"] + EXPORT_STATUS_RETENTION_SECONDS:
        raise gone()
    if now < row["ready_ts"]:
        return json_response(200, {"status": {"code": 100, "description": EXPORT_STATUSES[100]}})
    code = row["status_code"]
    status = {"code": code, "description": EXPORT_STATUSES.get(code, "Błąd eksportu")}
    if row["status_details"]:
        status["details"] = json.loads(row["status_details"])
    body = {"status": status, "completedDate": iso(row["ready_ts"])}
    if code == 200:
        package = json.loads(row["package"])
        package.setdefault("compressionType", "TarGz" if package["parts"] and package["parts"][0]["partName"]
                           .endswith(".tar.gz.aes") else "Zip")  # packages stored before 2.9.0
        ttl = float(app.config["presignedUrlTtlSeconds"])
        for part in package["parts"]:  # fresh links on every status call
            url, expires = app.signer.sign(request, "/storage/exports/%s/%d" % (reference, part["ordinalNumber"]), ttl)
            part["url"] = url
            part["expirationDate"] = iso(expires)
        body["package"] = package
        body["packageExpirationDate"] = iso(row["ready_ts"] + EXPORT_STATUS_RETENTION_SECONDS)
    return json_response(200, body)


def download_part(request):
    """Pre-signed part link: no bearer token, the URL's signature and expiry are the credential."""
    app = request.app
    app.signer.check(request)
    ordinal = request.path_params["ordinal"]
    row = app.store.one("SELECT data FROM invoice_export_parts WHERE reference_number=? AND ordinal_number=?",
                        (request.path_params["reference"], int(ordinal) if ordinal.isdigit() else -1))
    if row is None:
        return json_response(404, {"error": "no such export part"})
    data = bytes(row["data"])
    # open-api.json (InvoicePackagePart.url): the answer carries x-ms-meta-hash, the Base64 SHA-256
    # of the encrypted part (= encryptedPartHash).
    return Response(200, data, "application/octet-stream",
                    headers={"x-ms-meta-hash": invoice_export.b64_sha256(data)})


def register(app):
    app.store.add_schema(SCHEMA)
    add = app.router.add
    add("POST", "/v2/invoices/query/metadata", query_metadata)
    add("GET", "/v2/invoices/ksef/{ksefNumber}", download_invoice)
    add("POST", "/v2/invoices/exports", start_export)
    add("GET", "/v2/invoices/exports/{referenceNumber}", export_status)
    add("GET", "/storage/exports/{reference}/{ordinal}", download_part, spec=False)
