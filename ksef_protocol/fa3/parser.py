"""Read an FA(3) document back into the neutral ``Invoice`` model.

The inverse of ``build_fa3``: ``parse_fa3(build_fa3(inv)) == inv`` for every
invoice the builder accepts.  Elements the model does not cover (see
``model``) are ignored.  No XSD validation is done here: call
``validate_fa3`` first for untrusted input.
"""
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import List, Optional

from lxml import etree

from .builder import FA3_NAMESPACE
from .exceptions import Fa3Finding, Fa3ValidationError
from .model import (Address, AdvanceInvoiceRef, Adjustment, Annotations, BankAccount, BucketAmount, Contact,
                    Correction, CorrectedInvoice, DueDate, Invoice, Line, NewTransportMeans, Note, Order,
                    OrderLine, PartialAdvance, PartialPayment, Party, Payment, Reference, Registry, Settlement,
                    Totals, TransactionTerms)
from .rates import BUCKETS

_NS = "{%s}" % FA3_NAMESPACE
#: Elements the model does not read; reported in ``Invoice.ignored_elements`` when present.
_IGNORED_ELEMENTS = ("Fa/Podmiot1K", "Fa/Podmiot2K", "Fa/WarunkiTransakcji/Transport", "Zalacznik",
                     "Fa/Platnosc/LinkDoPlatnosci", "Fa/Platnosc/IPKSeF")
_MARGIN_BY_FIELD = {
    "P_PMarzy_2": "travel", "P_PMarzy_3_1": "used_goods", "P_PMarzy_3_2": "art", "P_PMarzy_3_3": "antiques",
}


class _Reader:
    """Typed accessors over one element (children looked up by local name)."""

    def __init__(self, element):
        self.element = element

    def child(self, name: str) -> Optional["_Reader"]:
        found = self.element.find(_NS + name)
        return _Reader(found) if found is not None else None

    def children(self, name: str) -> List["_Reader"]:
        return [_Reader(e) for e in self.element.findall(_NS + name)]

    def text(self, name: str) -> Optional[str]:
        found = self.element.find(_NS + name)
        if found is None or found.text is None:
            return None
        return found.text.strip()

    def decimal(self, name: str) -> Optional[Decimal]:
        value = self.text(name)
        return Decimal(value) if value is not None else None

    def integer(self, name: str) -> Optional[int]:
        value = self.text(name)
        return int(value) if value is not None else None

    def day(self, name: str) -> Optional[date]:
        value = self.text(name)
        return date.fromisoformat(value) if value is not None else None

    def flag(self, name: str) -> bool:
        return self.text(name) == "1"


def parse_fa3(xml_bytes: bytes) -> Invoice:
    """Parse FA(3) XML bytes into an ``Invoice``.

    Raises ``Fa3ValidationError`` when the bytes are not XML or not an FA(3)
    ``Faktura`` document.
    """
    try:
        root = etree.fromstring(xml_bytes, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise Fa3ValidationError([Fa3Finding("", "not well-formed XML: %s" % exc.msg, exc.lineno)]) from None
    if root.tag != _NS + "Faktura":
        raise Fa3ValidationError([Fa3Finding("", "not an FA(3) invoice: root element is %s, expected Faktura "
                                             "in namespace %s" % (root.tag, FA3_NAMESPACE))])
    doc = _Reader(root)
    header = doc.child("Naglowek")
    fa = doc.child("Fa")
    if header is None or fa is None:
        raise Fa3ValidationError([Fa3Finding("", "Naglowek or Fa is missing")])
    period = fa.child("OkresFa")
    invoice = Invoice(
        seller=_party(doc.child("Podmiot1")),
        buyer=_party(doc.child("Podmiot2")),
        third_parties=[_party(p) for p in doc.children("Podmiot3")],
        number=fa.text("P_2"),
        issue_date=fa.day("P_1"),
        created_at=_timestamp(header.text("DataWytworzeniaFa")),
        system_info=header.text("SystemInfo"),
        totals=_totals(fa),
        kind=fa.text("RodzajFaktury"),
        currency=fa.text("KodWaluty"),
        issue_place=fa.text("P_1M"),
        warehouse_documents=[w.element.text.strip() for w in fa.children("WZ")],
        delivery_date=fa.day("P_6"),
        period_start=period.day("P_6_Od") if period else None,
        period_end=period.day("P_6_Do") if period else None,
        advance_exchange_rate=fa.decimal("KursWalutyZ"),
        annotations=_annotations(fa.child("Adnotacje")),
        correction=_correction(fa),
        partial_advances=[PartialAdvance(payment_date=z.day("P_6Z"), amount=z.decimal("P_15Z"),
                                         exchange_rate=z.decimal("KursWalutyZW"))
                          for z in fa.children("ZaliczkaCzesciowa")],
        fp=fa.flag("FP"),
        related_parties=fa.flag("TP"),
        notes=[Note(key=n.text("Klucz"), value=n.text("Wartosc"), line_number=n.integer("NrWiersza"))
               for n in fa.children("DodatkowyOpis")],
        advance_invoices=[AdvanceInvoiceRef(ksef_number=a.text("NrKSeFFaZaliczkowej"),
                                            number=a.text("NrFaZaliczkowej"))
                          for a in fa.children("FakturaZaliczkowa")],
        excise_refund=fa.flag("ZwrotAkcyzy"),
        lines=[_line(w) for w in fa.children("FaWiersz")],
        settlement=_settlement(fa.child("Rozliczenie")),
        payment=_payment(fa.child("Platnosc")),
        terms=_terms(fa.child("WarunkiTransakcji")),
        order=_order(fa.child("Zamowienie")),
    )
    authorized = doc.child("PodmiotUpowazniony")
    if authorized is not None:
        invoice.authorized = _party(authorized)
        invoice.authorized.role = authorized.integer("RolaPU")
    invoice.ignored_elements = [path for path in _IGNORED_ELEMENTS if root.find(_NS + path.replace("/", "/" + _NS))
                                is not None]
    footer = doc.child("Stopka")
    if footer is not None:
        invoice.footer = [i.text("StopkaFaktury") for i in footer.children("Informacje") if i.text("StopkaFaktury")]
        invoice.registries = [Registry(full_name=r.text("PelnaNazwa"), krs=r.text("KRS"), regon=r.text("REGON"),
                                       bdo=r.text("BDO")) for r in footer.children("Rejestry")]
    return invoice


def _timestamp(value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:  # the XSD allows a local time; KSeF treats it as Polish time, we keep UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _address(node: Optional[_Reader]) -> Optional[Address]:
    if node is None:
        return None
    return Address(country_code=node.text("KodKraju"), line1=node.text("AdresL1"), line2=node.text("AdresL2"),
                   gln=node.text("GLN"))


def _party(node: Optional[_Reader]) -> Party:
    if node is None:
        return Party()
    ids = node.child("DaneIdentyfikacyjne") or _Reader(etree.Element("empty"))
    contacts = []
    for c in node.children("DaneKontaktowe"):
        contacts.append(Contact(email=c.text("Email") or c.text("EmailPU"),
                                phone=c.text("Telefon") or c.text("TelefonPU")))
    return Party(
        name=ids.text("Nazwa"),
        nip=ids.text("NIP"),
        eu_country=ids.text("KodUE"),
        eu_vat_number=ids.text("NrVatUE"),
        tax_id=ids.text("NrID"),
        tax_id_country=ids.text("KodKraju"),
        internal_id=ids.text("IDWew"),
        address=_address(node.child("Adres")),
        correspondence_address=_address(node.child("AdresKoresp")),
        contacts=contacts,
        eori=node.text("NrEORI"),
        vat_prefix=node.text("PrefiksPodatnika"),
        taxpayer_status=node.integer("StatusInfoPodatnika"),
        customer_number=node.text("NrKlienta"),
        buyer_key=node.text("IDNabywcy"),
        jst=node.flag("JST"),
        vat_group=node.flag("GV"),
        role=node.integer("Rola"),
        other_role=node.text("OpisRoli"),
        share=node.decimal("Udzial"),
    )


def _totals(fa: _Reader) -> Totals:
    buckets = {}
    for key in BUCKETS:
        net = fa.decimal("P_13_%s" % key)
        if net is None:
            continue
        buckets[key] = BucketAmount(net=net, tax=fa.decimal("P_14_%s" % key),
                                    tax_pln=fa.decimal("P_14_%sW" % key))
    return Totals(buckets=buckets, total=fa.decimal("P_15"))


def _annotations(node: Optional[_Reader]) -> Annotations:
    if node is None:
        return Annotations()
    ann = Annotations(
        cash_accounting=node.flag("P_16"),
        self_billing=node.flag("P_17"),
        reverse_charge=node.flag("P_18"),
        split_payment=node.flag("P_18A"),
        simplified_triangular=node.flag("P_23"),
    )
    exemption = node.child("Zwolnienie")
    if exemption is not None and exemption.flag("P_19"):
        for kind in ("A", "B", "C"):
            basis = exemption.text("P_19" + kind)
            if basis is not None:
                ann.exemption_basis_kind, ann.exemption_basis = kind, basis
    transport = node.child("NoweSrodkiTransportu")
    if transport is not None and transport.flag("P_22"):
        ann.new_transport_art_42_5 = transport.flag("P_42_5")
        ann.new_transport = [_new_transport(m) for m in transport.children("NowySrodekTransportu")]
    margin = node.child("PMarzy")
    if margin is not None and margin.flag("P_PMarzy"):
        for field_name, scheme in _MARGIN_BY_FIELD.items():
            if margin.flag(field_name):
                ann.margin_scheme = scheme
    return ann


def _new_transport(node: _Reader) -> NewTransportMeans:
    means = NewTransportMeans(
        first_use_date=node.day("P_22A"), line_number=node.integer("P_NrWierszaNST"), kind="B", usage="",
        make=node.text("P_22BMK"), model=node.text("P_22BMD"), colour=node.text("P_22BK"),
        registration=node.text("P_22BNR"), production_year=node.text("P_22BRP"),
        vehicle_type=node.text("P_22BT"))
    for kind in ("B", "C", "D"):
        usage = node.text("P_22" + kind)
        if usage is not None:
            means.kind, means.usage = kind, usage
    for identifier_field in ("P_22B1", "P_22B2", "P_22B3", "P_22B4", "P_22C1", "P_22D1"):
        value = node.text(identifier_field)
        if value is not None:
            means.identifier_field, means.identifier = identifier_field, value
    return means


def _correction(fa: _Reader) -> Optional[Correction]:
    refs = fa.children("DaneFaKorygowanej")
    if not refs:
        return None
    return Correction(
        invoices=[CorrectedInvoice(issue_date=r.day("DataWystFaKorygowanej"), number=r.text("NrFaKorygowanej"),
                                   ksef_number=r.text("NrKSeFFaKorygowanej")) for r in refs],
        reason=fa.text("PrzyczynaKorekty"),
        type=fa.integer("TypKorekty"),
        period=fa.text("OkresFaKorygowanej"),
        correct_number=fa.text("NrFaKorygowany"),
        amount_paid_before=fa.decimal("P_15ZK"),
        exchange_rate_before=fa.decimal("KursWalutyZK"),
    )


def _line(node: _Reader) -> Line:
    return Line(
        description=node.text("P_7"), rate=node.text("P_12"), unit=node.text("P_8A"),
        quantity=node.decimal("P_8B"), unit_price_net=node.decimal("P_9A"), unit_price_gross=node.decimal("P_9B"),
        discount=node.decimal("P_10"), net=node.decimal("P_11"), gross=node.decimal("P_11A"),
        vat=node.decimal("P_11Vat"), oss_rate=node.decimal("P_12_XII"), annex_15=node.flag("P_12_Zal_15"),
        gtu=node.text("GTU"), procedure=node.text("Procedura"), exchange_rate=node.decimal("KursWaluty"),
        before_correction=node.flag("StanPrzed"), delivery_date=node.day("P_6A"), uu_id=node.text("UU_ID"),
        index=node.text("Indeks"), gtin=node.text("GTIN"), pkwiu=node.text("PKWiU"), cn=node.text("CN"),
        pkob=node.text("PKOB"), excise=node.decimal("KwotaAkcyzy"),
    )


def _order(node: Optional[_Reader]) -> Optional[Order]:
    if node is None:
        return None
    return Order(total=node.decimal("WartoscZamowienia"), lines=[OrderLine(
        description=w.text("P_7Z"), rate=w.text("P_12Z"), unit=w.text("P_8AZ"), quantity=w.decimal("P_8BZ"),
        unit_price_net=w.decimal("P_9AZ"), net=w.decimal("P_11NettoZ"), vat=w.decimal("P_11VatZ"),
        oss_rate=w.decimal("P_12Z_XII"), annex_15=w.flag("P_12Z_Zal_15"), gtu=w.text("GTUZ"),
        procedure=w.text("ProceduraZ"), before_correction=w.flag("StanPrzedZ"), uu_id=w.text("UU_IDZ"),
        index=w.text("IndeksZ"), gtin=w.text("GTINZ"), pkwiu=w.text("PKWiUZ"), cn=w.text("CNZ"),
        pkob=w.text("PKOBZ"), excise=w.decimal("KwotaAkcyzyZ"),
    ) for w in node.children("ZamowienieWiersz")])


def _settlement(node: Optional[_Reader]) -> Optional[Settlement]:
    if node is None:
        return None
    return Settlement(
        charges=[Adjustment(amount=a.decimal("Kwota"), reason=a.text("Powod")) for a in node.children("Obciazenia")],
        charges_total=node.decimal("SumaObciazen"),
        deductions=[Adjustment(amount=a.decimal("Kwota"), reason=a.text("Powod"))
                    for a in node.children("Odliczenia")],
        deductions_total=node.decimal("SumaOdliczen"),
        amount_due=node.decimal("DoZaplaty"),
        amount_to_settle=node.decimal("DoRozliczenia"),
    )


def _bank_account(node: _Reader) -> BankAccount:
    return BankAccount(number=node.text("NrRB"), swift=node.text("SWIFT"),
                       own_bank_account=node.integer("RachunekWlasnyBanku"), bank_name=node.text("NazwaBanku"),
                       description=node.text("OpisRachunku"))


def _payment(node: Optional[_Reader]) -> Optional[Payment]:
    if node is None:
        return None
    due_dates = []
    for term in node.children("TerminPlatnosci"):
        described = term.child("TerminOpis")
        due_dates.append(DueDate(
            date=term.day("Termin"),
            quantity=described.integer("Ilosc") if described else None,
            unit=described.text("Jednostka") if described else None,
            event=described.text("ZdarzeniePoczatkowe") if described else None))
    skonto = node.child("Skonto")
    return Payment(
        paid=node.flag("Zaplacono"),
        paid_date=node.day("DataZaplaty"),
        partial_marker=node.integer("ZnacznikZaplatyCzesciowej"),
        partial_payments=[PartialPayment(amount=p.decimal("KwotaZaplatyCzesciowej"),
                                         payment_date=p.day("DataZaplatyCzesciowej"),
                                         method=p.integer("FormaPlatnosci"), other_method=p.text("OpisPlatnosci"))
                          for p in node.children("ZaplataCzesciowa")],
        due_dates=due_dates,
        method=node.integer("FormaPlatnosci"),
        other_method=node.text("OpisPlatnosci"),
        bank_accounts=[_bank_account(a) for a in node.children("RachunekBankowy")],
        factor_bank_accounts=[_bank_account(a) for a in node.children("RachunekBankowyFaktora")],
        discount_conditions=skonto.text("WarunkiSkonta") if skonto else None,
        discount_amount=skonto.text("WysokoscSkonta") if skonto else None,
    )


def _terms(node: Optional[_Reader]) -> Optional[TransactionTerms]:
    if node is None:
        return None
    return TransactionTerms(
        contracts=[Reference(number=u.text("NrUmowy"), date=u.day("DataUmowy")) for u in node.children("Umowy")],
        orders=[Reference(number=z.text("NrZamowienia"), date=z.day("DataZamowienia"))
                for z in node.children("Zamowienia")],
        batch_numbers=[n.element.text.strip() for n in node.children("NrPartiiTowaru")],
        delivery_terms=node.text("WarunkiDostawy"),
        contract_rate=node.decimal("KursUmowny"),
        contract_currency=node.text("WalutaUmowna"),
        intermediary=node.flag("PodmiotPosredniczacy"),
    )
