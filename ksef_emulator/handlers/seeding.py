"""``POST /admin/purchase-invoices``: put invoices issued by others into KSeF (for receiving).

Body: ``{"invoices": [{"xml": "<Faktura ...>"} | {"xmlBase64": "..."}, ...], "formCode": {...} (default
FA (3)), "skipValidation": false, "permanentStorageDate": "<ISO 8601>"?}`` or the single-invoice form
``{"xml": "<base64>"}``. ``permanentStorageDate`` (top level or per invoice) replaces the default
now + ``permanentStorageDelaySeconds`` (e.g. to seed history for HWM tests). Each document is verified like
a sent invoice (XSD + semantics; any failure refuses the whole request with 400 and stores nothing) and
stored as accepted (``source='seeded'``) with a KSeF number, so the receiving endpoints find it under its
seller and buyer. The duplicate rule of sending applies (:mod:`ksef_emulator.duplicates`: seller NIP +
RodzajFaktury + P_2, against every accepted invoice and the earlier ones of the same request): a duplicate
is not stored again.

Answer (201, or 200 when every document was a duplicate), one item per document in order:
``{"invoices": [{"ksefNumber", "invoiceHash", "sellerNip", "buyerNip", "invoiceNumber", "duplicate": false,
"status": {"code": 200, "description": "Sukces"}}]}``; for a duplicate the fields describe the invoice
KSeF already holds (its KSeF number and hash), ``"duplicate": true`` and ``"status": {"code": 440,
"description": "Duplikat faktury", "details": [...], "extensions": {"originalKsefNumber",
"originalSessionReferenceNumber"}}`` (the session is null for a seeded original).
"""
import base64
import datetime
import hashlib
import json

from lxml import etree

from ..clock import UTC, iso, parse_iso
from ..duplicates import DUPLICATE_CODE, DUPLICATE_DESCRIPTION, duplicate_status, find_original
from ..ids import ksef_number, reference_number
from ..invoice_xml import FORMS, extract_facts, invoice_metadata, polish_date, verify_invoice
from ..web import json_response

DEFAULT_FORM = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}


def _error(message):
    return json_response(400, {"error": message})


def seed_purchase_invoices(request):
    app = request.app
    try:
        body = request.json() or {}
    except ValueError as exc:
        return _error("body must be JSON: %s" % exc)
    form = body.get("formCode") or DEFAULT_FORM
    if form.get("systemCode") not in FORMS:
        return _error("formCode.systemCode must be one of %s" % ", ".join(FORMS))
    documents = body.get("invoices")
    if documents is None and body.get("xml"):  # single-invoice shorthand: {"xml": "<base64>"}
        documents = [{"xmlBase64": body["xml"]}]
    if not isinstance(documents, list) or not documents:
        return _error("send {'invoices': [{'xml': '<Faktura ...>'} or {'xmlBase64': '...'}]}")
    prepared = []
    for index, item in enumerate(documents):
        try:
            content = base64.b64decode(item["xmlBase64"]) if "xmlBase64" in item else item["xml"].encode("utf-8")
        except (KeyError, TypeError, ValueError, AttributeError):
            return _error("invoices[%d]: give 'xml' (text) or 'xmlBase64'" % index)
        now = app.clock.now()
        verdict = verify_invoice(content, form["systemCode"], polish_date(now))
        if verdict.code != 200 and not body.get("skipValidation"):
            return _error("invoices[%d] rejected (%d): %s" % (index, verdict.code, "; ".join(verdict.details)))
        facts = verdict.facts or _facts_without_validation(content, form)
        if not facts or not facts.get("seller_nip"):
            return _error("invoices[%d]: seller NIP (Podmiot1/DaneIdentyfikacyjne/NIP) not found" % index)
        storage = item.get("permanentStorageDate") or body.get("permanentStorageDate")
        try:
            storage_ts = parse_iso(storage).timestamp() if storage else None
        except (ValueError, AttributeError):
            return _error("invoices[%d]: permanentStorageDate must be ISO 8601, e.g. 2025-08-28T09:22:13+00:00" % index)
        prepared.append((content, facts, storage_ts))
    results = []
    with app.store.transaction():  # the duplicate check and the insert are one step (see duplicates.py)
        for content, facts, storage_ts in prepared:
            original = find_original(app.store, facts)
            results.append(_duplicate(original) if original is not None
                           else _store(app, content, facts, form, storage_ts))
    created = any(not item["duplicate"] for item in results)
    return json_response(201 if created else 200, {"invoices": results})


def _duplicate(original):
    details, extensions = duplicate_status(original)
    return {"ksefNumber": original["ksef_number"], "invoiceHash": original["invoice_hash"],
            "sellerNip": original["seller_nip"], "buyerNip": original["buyer_nip"],
            "invoiceNumber": original["invoice_number"], "duplicate": True,
            "status": {"code": DUPLICATE_CODE, "description": DUPLICATE_DESCRIPTION, "details": details,
                       "extensions": extensions}}


def _facts_without_validation(content, form):
    try:
        root = etree.fromstring(content)
    except etree.XMLSyntaxError:
        return None
    return extract_facts(root, FORMS[form["systemCode"]][0])


def _store(app, content, facts, form, storage_ts=None):
    now_ts = app.clock.time()
    now = datetime.datetime.fromtimestamp(now_ts, UTC)
    invoice_hash = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
    number = ksef_number(facts["seller_nip"], now)
    if storage_ts is None:
        storage_ts = now_ts + float(app.config["permanentStorageDelaySeconds"])
    mode = "Offline" if (facts["issue_date"] or "9999") < polish_date(now).isoformat() else "Online"
    metadata = invoice_metadata(facts, ksef_number=number, invoice_hash=invoice_hash, form_code=form,
                                invoicing_date=iso(now), acquisition_date=iso(now),
                                permanent_storage_date=iso(storage_ts), invoicing_mode=mode)
    app.store.execute(
        "INSERT INTO invoices(reference_number, source, context_type, context_value, status_code, status_description,"
        " invoice_hash, invoice_size, content, form_code, invoicing_ts, ksef_number, acquisition_ts, permanent_storage_ts,"
        " invoicing_mode, invoice_number, issue_date, seller_nip, buyer_nip, invoice_type, metadata)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (reference_number("EE", now), "seeded", "Nip", facts["seller_nip"], 200, "Sukces", invoice_hash, len(content),
         content, json.dumps(form), now_ts, number, now_ts, storage_ts, mode, facts["invoice_number"], facts["issue_date"],
         facts["seller_nip"], facts["buyer_nip"], facts["rodzaj_faktury"], json.dumps(metadata)))
    return {"ksefNumber": number, "invoiceHash": invoice_hash, "sellerNip": facts["seller_nip"],
            "buyerNip": facts["buyer_nip"], "invoiceNumber": facts["invoice_number"], "duplicate": False,
            "status": {"code": 200, "description": "Sukces"}}


def register(app):
    app.router.add("POST", "/admin/purchase-invoices", seed_purchase_invoices, spec=False)
