"""Verification of one invoice document (FA(2)/FA(3)) and extraction of its metadata.

``verify_invoice`` returns the KSeF invoice status the document earns:
430 for unreadable XML / wrong form / XSD violations (with readable details),
450 for semantic errors (BOM, non-UTF-8 prolog, processing instructions, NIP
checksum, ``P_1`` in the future), otherwise 200 with the facts needed for
duplicates, UPO and ``InvoiceMetadata``.
"""
import datetime
import os
import re
import threading
from decimal import Decimal, InvalidOperation

from lxml import etree

from .ids import is_valid_nip

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ksef_protocol", "schemas", "FA")
FORMS = {
    "FA (3)": ("http://crd.gov.pl/wzor/2025/06/25/13775/", "schemat_FA(3)_v1-0E.xsd"),
    "FA (2)": ("http://crd.gov.pl/wzor/2023/06/29/12648/", "schemat_FA(2)_v1-0E.xsd"),
}
INVOICE_TYPES = {"VAT": "Vat", "ZAL": "Zal", "KOR": "Kor", "ROZ": "Roz", "UPR": "Upr", "KOR_ZAL": "KorZal",
                 "KOR_ROZ": "KorRoz"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_pis=False)
# Discouraged by XML 1.0 and refused by KSeF since 2.4.0 (PRD from 16.07.2026).
_DISCOURAGED = re.compile("[\x7f-\x84\x86-\x9f\ufdd0-\ufdef\ufffe\uffff%s]" % "".join(
    "%s%s" % (chr(plane * 0x10000 + 0xFFFE), chr(plane * 0x10000 + 0xFFFF)) for plane in range(1, 17)))
_DECLARATION = re.compile(rb"^<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_schemas = {}
_schema_lock = threading.Lock()


def schema_for(system_code):
    with _schema_lock:
        if system_code not in _schemas:
            _schemas[system_code] = etree.XMLSchema(etree.parse(os.path.join(SCHEMA_DIR, FORMS[system_code][1])))
        return _schemas[system_code]


class Verdict:
    def __init__(self, code, description, details=None, facts=None):
        self.code = code
        self.description = description
        self.details = list(details or [])
        self.facts = facts or {}


def _fail_430(details):
    return Verdict(430, "Błąd weryfikacji pliku faktury", details)


def _fail_450(details, facts=None):
    return Verdict(450, "Błąd weryfikacji semantyki dokumentu faktury", details, facts)


def verify_invoice(content, system_code, today):
    """Check ``content`` (plaintext bytes) declared as ``system_code`` (e.g. ``"FA (3)"``);
    ``today`` is the acceptance date (``datetime.date``, Polish calendar day)."""
    if system_code not in FORMS:
        return _fail_430(["Emulator weryfikuje tylko FA (2) i FA (3); otrzymano %s." % system_code])
    if content.startswith(b"\xef\xbb\xbf"):
        return _fail_450(["Dokument zawiera znacznik BOM; wymagane jest kodowanie UTF-8 bez BOM."])
    declared = _DECLARATION.match(content)
    if declared and declared.group(1).decode("ascii").upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        return _fail_450(["Prolog XML deklaruje kodowanie %s; dozwolone jest wyłącznie UTF-8."
                          % declared.group(1).decode("ascii")])
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail_450(["Dokument nie jest poprawnym UTF-8: %s" % exc])
    discouraged = _DISCOURAGED.search(text)
    if discouraged:
        return _fail_450(["Dokument zawiera niedozwolony znak U+%04X (pozycja %d)." % (ord(discouraged.group()),
                                                                                      discouraged.start())])
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        return _fail_430(["Dokument nie jest poprawnym XML: %s" % exc])
    tree = root.getroottree()
    instructions = tree.xpath("//processing-instruction()") + [
        node for node in _siblings(root) if isinstance(node, etree._ProcessingInstruction)]
    if instructions:
        return _fail_450(["Dokument zawiera instrukcje przetwarzania (%s), które są niedozwolone." % instructions[0].target])
    namespace, _ = FORMS[system_code]
    if etree.QName(root).namespace != namespace or etree.QName(root).localname != "Faktura":
        return _fail_430(["Dokument nie odpowiada schematowi %s sesji: oczekiwano {%s}Faktura, otrzymano %s."
                          % (system_code, namespace, root.tag)])
    schema = schema_for(system_code)
    if not schema.validate(root):
        details = ["Linia %d: %s" % (error.line, error.message) for error in list(schema.error_log)[:10]]
        return _fail_430(details)
    facts = extract_facts(root, namespace)
    problems = []
    for label, nip in facts["nips_to_check"]:
        if not is_valid_nip(nip):
            problems.append("Nieprawidłowa suma kontrolna NIP %s (%s)." % (nip, label))
    if facts["issue_date"] and facts["issue_date"] > today.isoformat():
        problems.append("Data wystawienia P_1 (%s) jest późniejsza niż data przyjęcia (%s)." % (facts["issue_date"], today))
    if problems:
        return _fail_450(problems, facts)
    return Verdict(200, "Sukces", [], facts)


def _siblings(root):
    node = root.getprevious()
    while node is not None:
        yield node
        node = node.getprevious()
    node = root.getnext()
    while node is not None:
        yield node
        node = node.getnext()


def _decimal(text):
    try:
        return Decimal(text) if text else Decimal("0")
    except InvalidOperation:
        return Decimal("0")


def extract_facts(root, namespace):
    """Everything the emulator needs from a schema-valid invoice."""
    ns = {"f": namespace}

    def text(path, node=root):
        value = node.findtext(path, namespaces=ns)
        return value.strip() if value else None

    seller_nip = text("f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP")
    buyer = root.find("f:Podmiot2/f:DaneIdentyfikacyjne", ns)
    buyer_identifier = {"type": "None"}
    buyer_nip = None
    if buyer is not None:
        if text("f:NIP", buyer):
            buyer_nip = text("f:NIP", buyer)
            buyer_identifier = {"type": "Nip", "value": buyer_nip}
        elif text("f:NrVatUE", buyer):
            buyer_identifier = {"type": "VatUe", "value": "%s%s" % (text("f:KodUE", buyer) or "", text("f:NrVatUE", buyer))}
        elif text("f:NrID", buyer):
            buyer_identifier = {"type": "Other", "value": text("f:NrID", buyer)}
    nips = [("Podmiot1", seller_nip)] if seller_nip else []
    if buyer_nip:
        nips.append(("Podmiot2", buyer_nip))
    third = []
    for index, subject in enumerate(root.findall("f:Podmiot3", ns), 1):
        nip = text("f:DaneIdentyfikacyjne/f:NIP", subject)
        if nip:
            nips.append(("Podmiot3[%d]" % index, nip))
        internal = text("f:DaneIdentyfikacyjne/f:IDWew", subject)
        if internal:
            nips.append(("Podmiot3[%d]/IDWew" % index, internal.split("-", 1)[0]))
        identifier = {"type": "Nip", "value": nip} if nip else (
            {"type": "InternalId", "value": internal} if internal else {"type": "None"})
        role = text("f:Rola", subject)
        third.append({"identifier": identifier, "name": text("f:DaneIdentyfikacyjne/f:Nazwa", subject),
                      "role": int(role) if role and role.isdigit() else 0})
    authorized = root.find("f:PodmiotUpowazniony", ns)
    authorized_subject = None
    if authorized is not None and text("f:DaneIdentyfikacyjne/f:NIP", authorized):
        nip = text("f:DaneIdentyfikacyjne/f:NIP", authorized)
        nips.append(("PodmiotUpowazniony", nip))
        role = text("f:RolaPU", authorized)
        authorized_subject = {"nip": nip, "name": text("f:DaneIdentyfikacyjne/f:Nazwa", authorized),
                              "role": int(role) if role and role.isdigit() else 0}
    fa = root.find("f:Fa", ns)
    net = sum((_decimal(text("f:%s" % name, fa)) for name in
               ("P_13_1", "P_13_2", "P_13_3", "P_13_4", "P_13_5", "P_13_6_1", "P_13_6_2", "P_13_6_3", "P_13_7",
                "P_13_8", "P_13_9", "P_13_10", "P_13_11")), Decimal("0")) if fa is not None else Decimal("0")
    vat = sum((_decimal(text("f:%s" % name, fa)) for name in ("P_14_1", "P_14_2", "P_14_3", "P_14_4", "P_14_5")),
              Decimal("0")) if fa is not None else Decimal("0")
    rodzaj = text("f:Fa/f:RodzajFaktury")
    return {
        "seller_nip": seller_nip,
        "seller_name": text("f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa"),
        "buyer_nip": buyer_nip,
        "buyer_identifier": buyer_identifier,
        "buyer_name": text("f:Nazwa", buyer) if buyer is not None else None,
        "issue_date": text("f:Fa/f:P_1"),
        "invoice_number": text("f:Fa/f:P_2"),
        "rodzaj_faktury": rodzaj,
        "invoice_type": INVOICE_TYPES.get(rodzaj or "", "Vat"),
        "currency": text("f:Fa/f:KodWaluty") or "PLN",
        "gross": float(_decimal(text("f:Fa/f:P_15"))),
        "net": float(net),
        "vat": float(vat),
        "self_invoicing": text("f:Fa/f:Adnotacje/f:P_17") == "1",
        "has_attachment": root.find("f:Zalacznik", ns) is not None,
        "third_subjects": third,
        "authorized_subject": authorized_subject,
        "nips_to_check": nips,
    }


def invoice_metadata(facts, *, ksef_number, invoice_hash, form_code, invoicing_date, acquisition_date,
                     permanent_storage_date, invoicing_mode, hash_of_corrected_invoice=None):
    """An ``InvoiceMetadata`` object (open-api.json) for an accepted invoice."""
    metadata = {
        "ksefNumber": ksef_number,
        "invoiceNumber": facts["invoice_number"],
        "issueDate": facts["issue_date"],
        "invoicingDate": invoicing_date,
        "acquisitionDate": acquisition_date,
        "permanentStorageDate": permanent_storage_date,
        "seller": {"nip": facts["seller_nip"], "name": facts["seller_name"]},
        "buyer": {"identifier": facts["buyer_identifier"], "name": facts["buyer_name"]},
        "netAmount": facts["net"],
        "grossAmount": facts["gross"],
        "vatAmount": facts["vat"],
        "currency": facts["currency"],
        "invoicingMode": invoicing_mode,
        "invoiceType": facts["invoice_type"],
        "formCode": form_code,
        "isSelfInvoicing": facts["self_invoicing"],
        "hasAttachment": facts["has_attachment"],
        "invoiceHash": invoice_hash,
        "hashOfCorrectedInvoice": hash_of_corrected_invoice,
    }
    if facts["third_subjects"]:
        metadata["thirdSubjects"] = facts["third_subjects"]
    if facts["authorized_subject"]:
        metadata["authorizedSubject"] = facts["authorized_subject"]
    return metadata


def polish_date(moment):
    """Calendar day in Poland for an aware UTC datetime (CET/CEST by the EU DST rule)."""
    year = moment.year
    start = _last_sunday(year, 3)
    end = _last_sunday(year, 10)
    summer = start <= moment.replace(tzinfo=None) < end
    return (moment + datetime.timedelta(hours=2 if summer else 1)).date()


def _last_sunday(year, month):
    day = datetime.datetime(year, month + 1, 1, 1) - datetime.timedelta(days=1)  # last day, 01:00 UTC
    while day.weekday() != 6:
        day -= datetime.timedelta(days=1)
    return day
