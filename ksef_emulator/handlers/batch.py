"""Batch sessions: open (with pre-signed part upload URLs), part upload (PUT, no bearer), close,
and the package processing run by the invoice worker."""
import hashlib
import io
import json
import os
import tarfile
import zipfile

from ..errors import ApiError, forbidden
from ..ids import reference_number
from ..processing import BATCH_STATUS
from ..web import Response, empty_response, json_response
from .sessions import (aes_decrypt, b64_sha256, check_form_code, check_session_access, load_session,
                       unwrap_session_key)

SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_parts (
    session_reference TEXT NOT NULL, ordinal_number INTEGER NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    uploaded_ts REAL NOT NULL, PRIMARY KEY (session_reference, ordinal_number));
"""


def _part_path(app, reference, ordinal):
    return os.path.join(app.state_dir, "batch", reference, "%d.part" % ordinal)


def _window_seconds(app, parts):
    return len(parts) * float(app.config["batchPartWindowSecondsPerPart"])


def _check_package_size(app, body):
    """The whole ZIP package (before encryption) is at most 5 GB (``faktury/weryfikacja-faktury.md``;
    ``BatchFileInfo.fileSize`` maximum 5000000000 in open-api.json): a breach is a validation error (21405)."""
    size = ((body or {}).get("batchFile") or {}).get("fileSize")
    limit = app.config["batchMaxPackageSizeBytes"]
    if isinstance(size, int) and not isinstance(size, bool) and size > limit:
        raise ApiError(21405, details=["batchFile.fileSize: paczka ma %d bajtów; dozwolony rozmiar paczki przed"
                                       " zaszyfrowaniem to najwyżej %d bajtów." % (size, limit)])


def open_batch(request):
    app = request.app
    try:
        body = request.json()
    except ValueError as exc:
        raise ApiError(21001, details=["Treść żądania nie jest poprawnym JSON: %s" % exc])  # 2.9.0: "Nieczytelna treść."
    if not isinstance(body, dict) or not isinstance(body.get("batchFile") or {}, dict):
        raise ApiError(21405, details=app.openapi.request_body_errors(request.operation, body)
                       or ["(body): oczekiwano obiektu JSON."])
    parts = (body.get("batchFile") or {}).get("fileParts")
    # the part count gets its own code (21161), so check it before the generic schema (maxItems 50)
    if isinstance(parts, list) and len(parts) > app.config["batchMaxParts"]:
        raise ApiError(21161, details=["Zadeklarowano %d części; dozwolone jest najwyżej %d."
                                       % (len(parts), app.config["batchMaxParts"])])
    _check_package_size(app, body)
    problems = app.openapi.request_body_errors(request.operation, body)
    if problems:
        raise ApiError(21405, details=problems)
    check_form_code(app, body["formCode"])
    batch_file = body["batchFile"]
    if not parts:
        raise ApiError(21405, details=["batchFile.fileParts: wymagana jest co najmniej jedna część."])
    ordinals = sorted(part["ordinalNumber"] for part in parts)
    if ordinals != list(range(1, len(parts) + 1)):
        raise ApiError(21405, details=["batchFile.fileParts: numery ordinalNumber muszą być kolejne od 1 (otrzymano %s)."
                                       % ordinals])
    # 100 MB before encryption; PKCS#7 adds at most 16 bytes
    limit = app.config["batchMaxPartSizeBytes"] + 16
    for part in parts:
        if part["fileSize"] > limit:
            raise ApiError(21157, details=["Rozmiar części %d przekroczył dozwolony rozmiar 100MB." % part["ordinalNumber"]])
    key, iv = unwrap_session_key(app, body["encryption"])
    now = app.clock.time()
    reference = reference_number("SB", app.clock.now())
    code = 100 if key is not None else 415
    app.store.execute(
        "INSERT INTO sessions(reference_number, session_type, context_type, context_value, auth_reference, form_code,"
        " symmetric_key, iv, status_code, status_description, created_ts, updated_ts, valid_until_ts, offline_mode, batch)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (reference, "Batch", request.auth.context_type, request.auth.context_value, request.auth.reference_number,
         json.dumps(body["formCode"]), key, iv, code, BATCH_STATUS[code], now, now,
         now + float(app.config["onlineSessionLifetimeSeconds"]), 1 if body.get("offlineMode") else 0,
         json.dumps(batch_file)))
    window = _window_seconds(app, parts)
    uploads = []
    for part in sorted(parts, key=lambda p: p["ordinalNumber"]):
        url, _ = app.signer.sign(request, "/storage/batch/%s/%d" % (reference, part["ordinalNumber"]), window)
        uploads.append({"ordinalNumber": part["ordinalNumber"], "method": "PUT", "url": url,
                        "headers": {"x-ms-blob-type": "BlockBlob"}})
    request.log_note = "session=%s parts=%d" % (reference, len(parts))
    return json_response(201, {"referenceNumber": reference, "partUploadRequests": uploads})


def upload_part(request):
    app = request.app
    app.signer.check(request)
    reference = request.path_params["sessionReference"]
    ordinal = int(request.path_params["ordinal"])
    session = app.store.one("SELECT * FROM sessions WHERE reference_number=? AND session_type='Batch'", (reference,))
    if session is None:
        raise forbidden("insufficient-resource-access", "Nieznana sesja wsadowa.")
    parts = json.loads(session["batch"])["fileParts"]
    if session["status_code"] != 100 or app.clock.time() > session["created_ts"] + _window_seconds(app, parts):
        raise forbidden("insufficient-resource-access", "Sesja nie przyjmuje już części (status %s lub upłynął czas wysyłki)."
                        % session["status_code"])
    if ordinal not in [p["ordinalNumber"] for p in parts]:
        return Response(400, b"Unknown part ordinal number", "text/plain")
    path = _part_path(app, reference, ordinal)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(request.body)
    app.store.execute("INSERT OR REPLACE INTO batch_parts(session_reference, ordinal_number, size, sha256, uploaded_ts)"
                      " VALUES (?,?,?,?,?)", (reference, ordinal, len(request.body), b64_sha256(request.body),
                                              app.clock.time()))
    return Response(201, b"", None, {"ETag": '"%s"' % hashlib.md5(request.body).hexdigest()})


def close_batch(request):
    app = request.app
    session = load_session(app, request.path_params["referenceNumber"], "Batch")
    check_session_access(request, session)
    reference = session["reference_number"]
    if session["status_code"] != 100:
        raise ApiError(21180, details=["Status sesji %s uniemożliwia jej zamknięcie." % session["status_code"]])
    parts = json.loads(session["batch"])["fileParts"]
    now = app.clock.time()
    if now > session["created_ts"] + _window_seconds(app, parts):
        app.store.execute("UPDATE sessions SET status_code=440, status_description=?, status_details=?, updated_ts=?"
                          " WHERE reference_number=?",
                          (BATCH_STATUS[440], json.dumps(["Przekroczono czas wysyłki"]), now, reference))
        raise ApiError(21208, details=["Sesja anulowana, przekroczony czas wysyłki."])
    uploaded = {row["ordinal_number"]: row for row in
                app.store.query("SELECT * FROM batch_parts WHERE session_reference=?", (reference,))}
    for part in parts:
        row = uploaded.get(part["ordinalNumber"])
        if row is None:
            raise ApiError(21205, details=["Nie przesłano zadeklarowanej '%d' części pliku." % part["ordinalNumber"]])
        if row["size"] != part["fileSize"]:
            raise ApiError(21157, details=["Zadeklarowany rozmiar części '%d' nie zgadza się z rzeczywistym."
                                           % part["ordinalNumber"]])
    app.store.execute("UPDATE sessions SET status_code=150, status_description=?, closed_ts=?, updated_ts=?"
                      " WHERE reference_number=?", (BATCH_STATUS[150], now, now, reference))
    app.processor.submit_task(lambda: process_package(app, reference))
    return empty_response(204)


def _fail(app, reference, code, details):
    app.store.execute("UPDATE sessions SET status_code=?, status_description=?, status_details=?, updated_ts=?"
                      " WHERE reference_number=?",
                      (code, BATCH_STATUS[code], json.dumps(details), app.clock.time(), reference))


def _unpack(data, compression):
    """``[(file_name, bytes)]`` of the archive (XML files only, sorted by name)."""
    files = []
    if compression == "TarGz":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile():
                    files.append((member.name, archive.extractfile(member).read()))
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    files.append((info.filename, archive.read(info)))
    return sorted(files)


def process_package(app, reference):
    session = app.store.one("SELECT * FROM sessions WHERE reference_number=?", (reference,))
    batch = json.loads(session["batch"])
    if session["symmetric_key"] is None:
        return _fail(app, reference, 415, ["Nie udało się odszyfrować klucza symetrycznego."])
    parts = sorted(batch["fileParts"], key=lambda p: p["ordinalNumber"])
    plain = []
    for part in parts:
        with open(_part_path(app, reference, part["ordinalNumber"]), "rb") as handle:
            encrypted = handle.read()
        if b64_sha256(encrypted) != part["fileHash"]:
            return _fail(app, reference, 405, ["Skrót części %d nie zgadza się z zadeklarowanym." % part["ordinalNumber"]])
        try:
            plain.append(aes_decrypt(session["symmetric_key"], session["iv"], encrypted))
        except ValueError:
            return _fail(app, reference, 435, ["Nie udało się odszyfrować części %d." % part["ordinalNumber"]])
    archive = b"".join(plain)
    if len(archive) != batch["fileSize"] or b64_sha256(archive) != batch["fileHash"]:
        return _fail(app, reference, 405, ["Rozmiar lub skrót złożonego archiwum nie zgadza się z batchFile."])
    try:
        files = _unpack(archive, batch.get("compressionType") or "Zip")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        return _fail(app, reference, 430, ["Nie udało się rozpakować archiwum: %s" % exc])
    if len(files) > app.config["maxInvoicesPerSession"]:
        return _fail(app, reference, 420, ["Paczka zawiera %d faktur; limit to %d." % (len(files),
                                                                                    app.config["maxInvoicesPerSession"])])
    references = []
    with app.store.transaction() as conn:
        for ordinal, (name, content) in enumerate(files, 1):
            invoice_reference = reference_number("EE", app.clock.now())
            references.append(invoice_reference)
            conn.execute(
                "INSERT INTO invoices(reference_number, source, session_reference, ordinal_number, file_name, context_type,"
                " context_value, status_code, status_description, invoice_hash, invoice_size, content, offline_mode,"
                " form_code, invoicing_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (invoice_reference, "batch", reference, ordinal, os.path.basename(name)[:128], session["context_type"],
                 session["context_value"], 100, "Faktura przyjęta do dalszego przetwarzania", b64_sha256(content),
                 len(content), content, session["offline_mode"], session["form_code"], session["created_ts"]))
        conn.execute("UPDATE sessions SET invoice_count=? WHERE reference_number=?", (len(files), reference))
        conn.execute("INSERT OR REPLACE INTO kv(kind, key, value) VALUES ('batch_unpacked', ?, 'true')", (reference,))
    for invoice_reference in references:
        app.processor.process(invoice_reference)


def register(app):
    app.store.add_schema(SCHEMA)
    add = app.router.add
    add("POST", "/v2/sessions/batch", open_batch, validate_body=False)  # validated in the handler
    add("POST", "/v2/sessions/batch/{referenceNumber}/close", close_batch)
    add("PUT", "/storage/batch/{sessionReference}/{ordinal}", upload_part, spec=False)
