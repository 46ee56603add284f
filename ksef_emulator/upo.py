"""UPO v4-3 documents (per invoice and per session page), signed by the emulator.

The XSD (``ksef_protocol/schemas/upo/upo-v4-3.xsd``) does not model the
``ds:Signature`` the Ministry appends, so validate a UPO after removing it.
The content is built only from stored data and RSA PKCS#1 v1.5 is
deterministic, so the same UPO is byte-identical on every download.
"""
import base64
import datetime
import hashlib
import json

from lxml import etree

from .clock import UTC
from .ids import reference_number
from .receiving_query import warsaw_offset_hours
from .xmlsig import sign_enveloped

UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
CONTEXT_ELEMENTS = {"Nip": "Nip", "InternalId": "IdWewnetrzny", "NipVatUe": "IdZlozonyVatUE", "PeppolId": "IdDostawcyUslugPeppol"}
ENVIRONMENT_SUFFIX = {"TE": " - środowisko testowe (TE)", "TR": " - środowisko przedprodukcyjne (TR)"}
PAGE_SIZE = 10000


def warsaw_time(timestamp):
    """UPO timestamps as in the official v4-3 samples: milliseconds and the Europe/Warsaw offset,
    e.g. ``2025-09-16T11:05:40.841+02:00``."""
    moment = datetime.datetime.fromtimestamp(timestamp, UTC)
    hours = warsaw_offset_hours(moment)
    local = moment + datetime.timedelta(hours=hours)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+%02d:00" % (local.microsecond // 1000, hours)


def _sub(parent, name, text=None):
    element = etree.SubElement(parent, "{%s}%s" % (UPO_NS, name))
    if text is not None:
        element.text = str(text)
    return element


def build_upo(app, session, invoices, page=None):
    """Signed UPO bytes for ``invoices`` (accepted rows) of ``session``.
    ``page``: ``(number, pages, first_ordinal, last_ordinal, total)`` for a session page."""
    root = etree.Element("{%s}Potwierdzenie" % UPO_NS, nsmap={None: UPO_NS})
    name = "Ministerstwo Finansów"
    if app.config.get("upoEnvironmentSuffix"):
        name += ENVIRONMENT_SUFFIX.get(app.config["environment"], "")
    _sub(root, "NazwaPodmiotuPrzyjmujacego", name)
    _sub(root, "NumerReferencyjnySesji", session["reference_number"])
    authentication = _sub(root, "Uwierzytelnienie")
    context = _sub(authentication, "IdKontekstu")
    _sub(context, CONTEXT_ELEMENTS[session["context_type"]], session["context_value"])
    operation = app.store.one("SELECT ksef_token_reference, auth_document_sha256 FROM auth_operations WHERE reference_number=?",
                              (session["auth_reference"],))
    if operation is not None and operation["ksef_token_reference"]:
        _sub(authentication, "NumerReferencyjnyTokenaKSeF", operation["ksef_token_reference"])
    else:
        digest = operation["auth_document_sha256"] if operation is not None and operation["auth_document_sha256"] else \
            base64.b64encode(hashlib.sha256(session["auth_reference"].encode()).digest()).decode()
        _sub(authentication, "SkrotDokumentuUwierzytelniajacego", digest)
    if page is not None:
        description = _sub(root, "OpisPotwierdzenia")
        for label, value in zip(("Strona", "LiczbaStron", "ZakresDokumentowOd", "ZakresDokumentowDo",
                                 "CalkowitaLiczbaDokumentow"), page):
            _sub(description, label, value)
    form = json.loads(session["form_code"])
    _sub(root, "NazwaStrukturyLogicznej", "Schemat_%s_v%s.xsd" % (form["systemCode"].replace(" ", ""), form["schemaVersion"]))
    _sub(root, "KodFormularza", form["systemCode"])
    for invoice in invoices:
        document = _sub(root, "Dokument")
        _sub(document, "NipSprzedawcy", invoice["seller_nip"])
        _sub(document, "NumerKSeFDokumentu", invoice["ksef_number"])
        _sub(document, "NumerFaktury", invoice["invoice_number"])
        _sub(document, "DataWystawieniaFaktury", invoice["issue_date"])
        _sub(document, "DataPrzeslaniaDokumentu", warsaw_time(invoice["invoicing_ts"]))
        _sub(document, "DataNadaniaNumeruKSeF", warsaw_time(invoice["acquisition_ts"]))
        _sub(document, "SkrotDokumentu", invoice["invoice_hash"])
        _sub(document, "TrybWysylki", invoice["invoicing_mode"])
    signer = app.keys.upo_signing
    sign_enveloped(root, signer.private_key, signer.certificate_der)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def upo_hash(content):
    return base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")


def session_pages(app, session_reference):
    """Stored UPO pages of a finished session: list of ``{referenceNumber, first, last}`` (ordinals)."""
    return app.store.get_json("upo_pages", session_reference, [])


def create_session_pages(app, session_reference):
    """Called once when a session reaches 200: split accepted invoices into pages."""
    rows = app.store.query("SELECT ordinal_number FROM invoices WHERE session_reference=? AND status_code=200"
                           " ORDER BY ordinal_number", (session_reference,))
    size = int(app.config.get("upoPageSize") or PAGE_SIZE)
    pages = []
    now = datetime.datetime.fromtimestamp(app.clock.time(), UTC)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        pages.append({"referenceNumber": reference_number("UP", now), "index": start, "count": len(chunk)})
    app.store.put_json("upo_pages", session_reference, pages)
    return pages


def page_document(app, session, page_reference):
    """Signed UPO bytes of one session page, or None if unknown."""
    pages = session_pages(app, session["reference_number"])
    for number, page in enumerate(pages, 1):
        if page["referenceNumber"] == page_reference:
            invoices = app.store.query(
                "SELECT * FROM invoices WHERE session_reference=? AND status_code=200 ORDER BY ordinal_number"
                " LIMIT ? OFFSET ?", (session["reference_number"], page["count"], page["index"]))
            total = sum(p["count"] for p in pages)
            return build_upo(app, session, invoices, (number, len(pages), page["index"] + 1,
                                                      page["index"] + page["count"], total))
    return None
