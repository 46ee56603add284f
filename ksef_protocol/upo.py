"""UPO (Urzędowe Poświadczenie Odbioru) documents: download integrity and parsing (v4-3).

Downloaded UPOs are kept as the exact bytes KSeF served (they are XAdES-signed
by the Ministry: any re-serialisation would break the signature).  When the
response carries ``x-ms-meta-hash`` (Base64 SHA-256 of the content) it is
checked.  :func:`parse_upo` reads the v4-3 fields; it does not validate against
the XSD because test UPOs break its ``fixed="Ministerstwo Finansów"``.  The
number of documents is taken from the ``Dokument`` elements (the documented
``ZakresDokumentowDo`` semantics disagree with the examples).
"""
from dataclasses import dataclass, field
from typing import List, Optional

from lxml import etree

from .crypto import sha256_b64
from .errors import KsefProtocolError

UPO_NAMESPACE = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"

_CONTEXT_TYPES = {"Nip": "Nip", "IdWewnetrzny": "InternalId", "IdZlozonyVatUE": "NipVatUe",
                  "IdDostawcyUslugPeppol": "PeppolId"}


@dataclass
class UpoDocument:
    """A downloaded UPO: the untouched ``content`` and its Base64 SHA-256."""

    content: bytes
    sha256_b64: str

    @classmethod
    def from_download(cls, content, declared_hash=None, source="UPO"):
        """Wrap downloaded bytes, raising :class:`KsefProtocolError` if ``declared_hash`` does not match."""
        actual = sha256_b64(content)
        if declared_hash and declared_hash.strip() != actual:
            raise KsefProtocolError("%s download is corrupted: x-ms-meta-hash %s does not match content hash %s."
                                    % (source, declared_hash.strip(), actual))
        return cls(content=content, sha256_b64=actual)

    def parse(self):
        """Shortcut for :func:`parse_upo` on this document."""
        return parse_upo(self.content)


@dataclass
class UpoDocumentEntry:
    """One ``Dokument`` of a UPO: an invoice accepted by KSeF."""

    seller_nip: str
    ksef_number: str
    invoice_number: str
    issue_date: str
    sent_at: str
    ksef_number_assigned_at: str
    document_hash: str
    sending_mode: str


@dataclass
class Upo:
    """Parsed UPO v4-3 (dates are kept as the ISO strings of the document)."""

    receiving_entity: str
    session_reference: str
    context: dict
    ksef_token_reference: Optional[str]
    auth_document_hash: Optional[str]
    page: Optional[int]
    page_count: Optional[int]
    range_from: Optional[int]
    range_to: Optional[int]
    total_documents: Optional[int]
    structure_name: str
    form_code: str
    documents: List[UpoDocumentEntry] = field(default_factory=list)
    schema_version: Optional[str] = None

    def find(self, ksef_number=None, document_hash=None):
        """The entry with this KSeF number or document hash, or ``None``."""
        for entry in self.documents:
            if (ksef_number and entry.ksef_number == ksef_number) or (
                    document_hash and entry.document_hash == document_hash):
                return entry
        return None


def _text(parent, name):
    if parent is None:
        return None
    element = parent.find("{%s}%s" % (UPO_NAMESPACE, name))
    return element.text.strip() if element is not None and element.text else None


def _int(parent, name):
    value = _text(parent, name)
    return int(value) if value and value.isdigit() else None


def parse_upo(content):
    """Parse UPO v4-3 XML bytes into :class:`Upo`; raises :class:`KsefProtocolError` for other documents."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise KsefProtocolError("UPO is not well-formed XML: %s" % exc) from None
    if root.tag != "{%s}Potwierdzenie" % UPO_NAMESPACE:
        raise KsefProtocolError("Not a UPO v4-3 document (root element %s)." % root.tag)
    ns = "{%s}" % UPO_NAMESPACE
    auth = root.find(ns + "Uwierzytelnienie")
    context = {}
    context_element = auth.find(ns + "IdKontekstu") if auth is not None else None
    if context_element is not None and len(context_element):
        child = context_element[0]
        local = etree.QName(child).localname
        context = {"type": _CONTEXT_TYPES.get(local, local), "value": (child.text or "").strip()}
    description = root.find(ns + "OpisPotwierdzenia")
    documents = [
        UpoDocumentEntry(
            seller_nip=_text(d, "NipSprzedawcy"), ksef_number=_text(d, "NumerKSeFDokumentu"),
            invoice_number=_text(d, "NumerFaktury"), issue_date=_text(d, "DataWystawieniaFaktury"),
            sent_at=_text(d, "DataPrzeslaniaDokumentu"), ksef_number_assigned_at=_text(d, "DataNadaniaNumeruKSeF"),
            document_hash=_text(d, "SkrotDokumentu"), sending_mode=_text(d, "TrybWysylki"))
        for d in root.findall(ns + "Dokument")]
    return Upo(
        receiving_entity=_text(root, "NazwaPodmiotuPrzyjmujacego"),
        session_reference=_text(root, "NumerReferencyjnySesji"),
        context=context,
        ksef_token_reference=_text(auth, "NumerReferencyjnyTokenaKSeF"),
        auth_document_hash=_text(auth, "SkrotDokumentuUwierzytelniajacego"),
        page=_int(description, "Strona"), page_count=_int(description, "LiczbaStron"),
        range_from=_int(description, "ZakresDokumentowOd"), range_to=_int(description, "ZakresDokumentowDo"),
        total_documents=_int(description, "CalkowitaLiczbaDokumentow"),
        structure_name=_text(root, "NazwaStrukturyLogicznej"), form_code=_text(root, "KodFormularza"),
        documents=documents, schema_version=root.get("wersjaSchemy"))
