"""Online (interactive) sessions: open, send invoice, close. Also starts the invoice worker."""
import base64
import hashlib
import json

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..clock import iso
from ..errors import ApiError
from ..ids import reference_number
from ..processing import ONLINE_STATUS, Processor, refresh_session
from ..web import empty_response, json_response

SUPPORTED_FORMS = {("FA (3)", "1-0E", "FA"), ("FA (2)", "1-0E", "FA")}


def check_form_code(app, form_code):
    key = (form_code.get("systemCode"), form_code.get("schemaVersion"), form_code.get("value"))
    if key not in SUPPORTED_FORMS:
        raise ApiError(21405, details=["Wskazany kod formularza nie jest wspierany: %s %s %s (emulator obsługuje FA (3)"
                                       " 1-0E FA oraz FA (2) 1-0E FA na TE)." % key])
    if key[0] == "FA (2)" and app.config["environment"] != "TE":
        raise ApiError(21405, details=["FA (2) jest akceptowany wyłącznie na środowisku testowym (TE)."])


def unwrap_session_key(app, encryption):
    """``(key, iv)`` from ``EncryptionInfo``, or ``(None, None)`` when RSA decryption fails (status 415).
    An unknown/retired ``publicKeyId`` raises 21470."""
    public_key_id = encryption.get("publicKeyId")
    app.keys.pair_for("SymmetricKeyEncryption", public_key_id)
    try:
        key = app.keys.decrypt("SymmetricKeyEncryption", base64.b64decode(encryption["encryptedSymmetricKey"]), public_key_id)
        iv = base64.b64decode(encryption["initializationVector"])
    except ValueError:
        return None, None
    if len(key) != 32 or len(iv) != 16:
        return None, None
    return key, iv


def aes_decrypt(key, iv, data):
    """AES-256-CBC + PKCS#7; the IV travels only in ``initializationVector`` (no prefix)."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def b64_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def load_session(app, reference, session_type=None):
    row = app.store.one("SELECT * FROM sessions WHERE reference_number=?", (reference,))
    if row is None or (session_type and row["session_type"] != session_type):
        raise ApiError(21173, details=["Sesja o numerze referencyjnym %s nie została odnaleziona." % reference])
    return refresh_session(app, row)


def check_session_access(request, row):
    auth = request.auth
    if (row["context_type"], row["context_value"]) != (auth.context_type, auth.context_value):
        raise ApiError(21173, details=["Sesja o numerze referencyjnym %s nie została odnaleziona." % row["reference_number"]])


def open_online(request):
    app = request.app
    body = request.json()
    check_form_code(app, body["formCode"])
    key, iv = unwrap_session_key(app, body["encryption"])
    now = app.clock.time()
    reference = reference_number("SO", app.clock.now())
    valid_until = now + float(app.config["onlineSessionLifetimeSeconds"])
    code = 100 if key is not None else 415
    app.store.execute(
        "INSERT INTO sessions(reference_number, session_type, context_type, context_value, auth_reference, form_code,"
        " symmetric_key, iv, status_code, status_description, created_ts, updated_ts, valid_until_ts)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (reference, "Online", request.auth.context_type, request.auth.context_value, request.auth.reference_number,
         json.dumps(body["formCode"]), key, iv, code, ONLINE_STATUS[code], now, now, valid_until))
    request.log_note = "session=%s" % reference
    return json_response(201, {"referenceNumber": reference, "validUntil": iso(valid_until)})


def send_invoice(request):
    app = request.app
    body = request.json()
    session = load_session(app, request.path_params["referenceNumber"], "Online")
    check_session_access(request, session)
    if session["status_code"] != 100:
        raise ApiError(21180, details=["Status sesji %s uniemożliwia wysyłkę faktur." % session["status_code"]])
    if session["reference_number"] in app.sessions_in_maintenance:
        raise ApiError(21184, details=["Trwają prace serwisowe i sesja %s jest tymczasowo niedostępna. Spróbuj ponownie"
                                       " później lub otwórz nową sesję, aby wysłać kolejne faktury."
                                       % session["reference_number"]])
    encrypted = base64.b64decode(body["encryptedInvoiceContent"])
    if len(encrypted) != body["encryptedInvoiceSize"]:
        raise ApiError(21402, details=["Długość treści (%d B) nie zgadza się z rozmiarem pliku encryptedInvoiceSize (%d B)."
                                       % (len(encrypted), body["encryptedInvoiceSize"])])
    if b64_sha256(encrypted) != body["encryptedInvoiceHash"]:
        raise ApiError(21403, details=["Skrót treści nie zgadza się ze skrótem pliku encryptedInvoiceHash."])
    check_technical_correction(app, body)
    status_code, status_description = 100, "Faktura przyjęta do dalszego przetwarzania"
    try:
        content = aes_decrypt(session["symmetric_key"], session["iv"], encrypted)
    except ValueError:
        content = None
        status_code, status_description = 435, "Błąd odszyfrowania pliku"
    if content is not None:
        if len(content) != body["invoiceSize"]:
            raise ApiError(21402, details=["Długość odszyfrowanej treści (%d B) nie zgadza się z invoiceSize (%d B)."
                                           % (len(content), body["invoiceSize"])])
        if b64_sha256(content) != body["invoiceHash"]:
            raise ApiError(21403, details=["Skrót odszyfrowanej treści nie zgadza się z invoiceHash."])
        limit = app.config["maxInvoiceWithAttachmentSizeBytes"] if b"Zalacznik" in content else app.config["maxInvoiceSizeBytes"]
        if len(content) > limit:
            raise ApiError(21405, details=["Rozmiar faktury %d B przekracza limit %d B." % (len(content), limit)])
    now = app.clock.time()
    reference = reference_number("EE", app.clock.now())
    with app.store.transaction() as conn:
        count = conn.execute("SELECT invoice_count FROM sessions WHERE reference_number=?",
                             (session["reference_number"],)).fetchone()["invoice_count"]
        max_invoices = app.services["context_limits"]((session["context_type"], session["context_value"]))[
            "onlineSession"]["maxInvoices"]
        if count >= max_invoices:
            raise ApiError(21155, details=["Sesja o numerze referencyjnym %s osiągnęła dozwolony limit liczby faktur %d."
                                           % (session["reference_number"], max_invoices)])
        conn.execute("UPDATE sessions SET invoice_count=?, updated_ts=? WHERE reference_number=?",
                     (count + 1, now, session["reference_number"]))
        conn.execute(
            "INSERT INTO invoices(reference_number, source, session_reference, ordinal_number, context_type, context_value,"
            " status_code, status_description, invoice_hash, invoice_size, content, offline_mode,"
            " hash_of_corrected_invoice, form_code, invoicing_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (reference, "online", session["reference_number"], count + 1, session["context_type"], session["context_value"],
             status_code, status_description, body["invoiceHash"], body["invoiceSize"], content,
             1 if body.get("offlineMode") else 0, body.get("hashOfCorrectedInvoice"), session["form_code"], now))
    if status_code == 100:
        app.processor.submit(reference)
    request.log_note = "invoice=%s" % reference
    return json_response(202, {"referenceNumber": reference})


def check_technical_correction(app, body):
    """``hashOfCorrectedInvoice`` (korekta techniczna): only for a rejected original, only once."""
    corrected = body.get("hashOfCorrectedInvoice")
    if not corrected:
        return
    if not body.get("offlineMode"):
        raise ApiError(21405, details=["Korekta techniczna wymaga offlineMode=true."])
    if app.store.one("SELECT 1 FROM invoices WHERE invoice_hash=? AND status_code=200 LIMIT 1", (corrected,)):
        raise ApiError(21167, "Status faktury nie pozwala na korektę techniczną.",
                       ["Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury."])
    if app.store.one("SELECT 1 FROM invoices WHERE hash_of_corrected_invoice=? AND status_code IN (100, 150, 200) LIMIT 1",
                     (corrected,)):
        raise ApiError(21166, "Korekta techniczna niedostępna.",
                       ["Faktura posiada już przetworzoną prawidłowo korektę techniczną."])


def close_online(request):
    app = request.app
    session = load_session(app, request.path_params["referenceNumber"], "Online")
    check_session_access(request, session)
    if session["status_code"] != 100:
        raise ApiError(21180, details=["Status sesji %s nie pozwala na zamknięcie." % session["status_code"]])
    now = app.clock.time()
    app.store.execute("UPDATE sessions SET status_code=170, status_description=?, closed_ts=?, updated_ts=?"
                      " WHERE reference_number=?", (ONLINE_STATUS[170], now, now, session["reference_number"]))
    return empty_response(204)


def register(app):
    app.processor = Processor(app)
    # Sessions the admin API put under maintenance: sending into them answers 21184 (open-api.json).
    app.sessions_in_maintenance = set()
    app.on_start(app.processor.start)
    add = app.router.add
    add("POST", "/v2/sessions/online", open_online)
    add("POST", "/v2/sessions/online/{referenceNumber}/invoices", send_invoice)
    add("POST", "/v2/sessions/online/{referenceNumber}/close", close_online)
