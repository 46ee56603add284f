"""Build FA(3) XML from the neutral ``Invoice`` model.

Each ``_section`` function returns a node template (see ``xmlnodes``) whose
children follow the element order of ``schemat_FA(3)_v1-0E.xsd`` exactly.
Absent values vanish from the output, so the templates read like the schema.
"""
from typing import List, Optional

from lxml import etree

from .exceptions import Fa3ValidationError
from .model import (Address, BankAccount, Contact, Invoice, Line, NewTransportMeans, Order, OrderLine,
                    Party, Payment, Settlement, TransactionTerms, MARGIN_ART, MARGIN_ANTIQUES,
                    MARGIN_TRAVEL, MARGIN_USED_GOODS)
from .rates import BUCKETS, PLN_TAX_BUCKETS, TAXED_BUCKETS
from .rules import check_invoice, has_exempt_amount
from .xmlnodes import (amount, children, day, flag, integer, price, quantity, render, text, timestamp,
                       token, yes_no)

FA3_NAMESPACE = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA3_SYSTEM_CODE = "FA (3)"
FA3_SCHEMA_VERSION = "1-0E"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

_MARGIN_FIELDS = {
    MARGIN_TRAVEL: "P_PMarzy_2",
    MARGIN_USED_GOODS: "P_PMarzy_3_1",
    MARGIN_ART: "P_PMarzy_3_2",
    MARGIN_ANTIQUES: "P_PMarzy_3_3",
}


def build_fa3(invoice: Invoice) -> bytes:
    """Return the FA(3) XML of ``invoice`` as UTF-8 bytes (no BOM).

    The output is deterministic (same invoice, same bytes).  Raises
    ``Fa3ValidationError`` when business rules are broken (see
    ``rules.check_invoice``); it does not run the XSD: call ``validate_fa3``.
    """
    findings = check_invoice(invoice)
    if findings:
        raise Fa3ValidationError(findings)
    template = ("Faktura", children(
        _header(invoice),
        _seller(invoice.seller),
        _buyer(invoice.buyer),
        [_third_party(p) for p in invoice.third_parties],
        _fa(invoice),
        _footer(invoice),
    ))
    root = render(template, FA3_NAMESPACE)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def _header(invoice: Invoice):
    return ("Naglowek", [
        ("KodFormularza", "FA", {"kodSystemowy": FA3_SYSTEM_CODE, "wersjaSchemy": FA3_SCHEMA_VERSION}),
        ("WariantFormularza", "3"),
        ("DataWytworzeniaFa", timestamp(invoice.created_at)),
        ("SystemInfo", token(invoice.system_info)),
    ])


def _address(tag: str, address: Optional[Address]):
    if address is None:
        return None
    return (tag, [
        ("KodKraju", token(address.country_code)),
        ("AdresL1", token(address.line1)),
        ("AdresL2", token(address.line2)),
        ("GLN", token(address.gln)),
    ])


def _contacts(contacts: List[Contact], email_tag="Email", phone_tag="Telefon"):
    return [("DaneKontaktowe", [(email_tag, token(c.email)), (phone_tag, token(c.phone))])
            for c in contacts]


def _identification(party: Party):
    if party.nip:
        ids = [("NIP", party.nip)]
    elif party.internal_id:
        ids = [("IDWew", token(party.internal_id))]
    elif party.eu_vat_number:
        ids = [("KodUE", token(party.eu_country)), ("NrVatUE", token(party.eu_vat_number))]
    elif party.tax_id:
        ids = [("KodKraju", token(party.tax_id_country)), ("NrID", token(party.tax_id))]
    else:
        ids = [("BrakID", "1")]
    return ("DaneIdentyfikacyjne", ids + [("Nazwa", token(party.name))])


def _seller(party: Party):
    return ("Podmiot1", children(
        ("PrefiksPodatnika", token(party.vat_prefix)),
        ("NrEORI", token(party.eori)),
        ("DaneIdentyfikacyjne", [("NIP", party.nip), ("Nazwa", token(party.name))]),
        _address("Adres", party.address),
        _address("AdresKoresp", party.correspondence_address),
        _contacts(party.contacts),
        ("StatusInfoPodatnika", integer(party.taxpayer_status)),
    ))


def _buyer(party: Party):
    return ("Podmiot2", children(
        ("NrEORI", token(party.eori)),
        _identification(party),
        _address("Adres", party.address),
        _address("AdresKoresp", party.correspondence_address),
        _contacts(party.contacts),
        ("NrKlienta", token(party.customer_number)),
        ("IDNabywcy", token(party.buyer_key)),
        ("JST", yes_no(party.jst)),
        ("GV", yes_no(party.vat_group)),
    ))


def _third_party(party: Party):
    if party.role is not None:
        role = [("Rola", integer(party.role))]
    else:
        role = [("RolaInna", "1"), ("OpisRoli", token(party.other_role))]
    return ("Podmiot3", children(
        ("IDNabywcy", token(party.buyer_key)),
        ("NrEORI", token(party.eori)),
        _identification(party),
        _address("Adres", party.address),
        _address("AdresKoresp", party.correspondence_address),
        _contacts(party.contacts),
        role,
        ("Udzial", quantity(party.share)),
        ("NrKlienta", token(party.customer_number)),
    ))


def _totals(invoice: Invoice):
    nodes = []
    for key in BUCKETS:
        bucket = invoice.totals.buckets.get(key)
        if bucket is None:
            continue
        nodes.append(("P_13_%s" % key, amount(bucket.net)))
        if key in TAXED_BUCKETS:
            tax = bucket.tax
            if tax is None and key != "5":
                tax = 0  # P_14_1..4 are mandatory once P_13_x is present
            nodes.append(("P_14_%s" % key, amount(tax)))
        if key in PLN_TAX_BUCKETS:
            nodes.append(("P_14_%sW" % key, amount(bucket.tax_pln)))
    nodes.append(("P_15", amount(invoice.totals.total)))
    return nodes


def _new_transport(means: NewTransportMeans):
    kind = means.kind
    detail = [("P_22%s" % kind, token(means.usage))]
    if means.identifier_field:
        detail.append((means.identifier_field, token(means.identifier)))
    if kind == "B":
        detail.append(("P_22BT", token(means.vehicle_type)))
    return ("NowySrodekTransportu", [
        ("P_22A", day(means.first_use_date)),
        ("P_NrWierszaNST", integer(means.line_number)),
        ("P_22BMK", token(means.make)),
        ("P_22BMD", token(means.model)),
        ("P_22BK", token(means.colour)),
        ("P_22BNR", token(means.registration)),
        ("P_22BRP", token(means.production_year)),
    ] + detail)


def _annotations(invoice: Invoice):
    ann = invoice.annotations
    if has_exempt_amount(invoice):
        exemption = [("P_19", "1"), ("P_19%s" % ann.exemption_basis_kind, token(ann.exemption_basis))]
    else:
        exemption = [("P_19N", "1")]
    if ann.new_transport:
        transport = children(("P_22", "1"), ("P_42_5", yes_no(ann.new_transport_art_42_5)),
                             [_new_transport(m) for m in ann.new_transport])
    else:
        transport = [("P_22N", "1")]
    if ann.margin_scheme:
        margin = [("P_PMarzy", "1"), (_MARGIN_FIELDS[ann.margin_scheme], "1")]
    else:
        margin = [("P_PMarzyN", "1")]
    return ("Adnotacje", [
        ("P_16", yes_no(ann.cash_accounting)),
        ("P_17", yes_no(ann.self_billing)),
        ("P_18", yes_no(ann.reverse_charge)),
        ("P_18A", yes_no(ann.split_payment)),
        ("Zwolnienie", exemption),
        ("NoweSrodkiTransportu", transport),
        ("P_23", yes_no(ann.simplified_triangular)),
        ("PMarzy", margin),
    ])


def _correction(invoice: Invoice):
    corr = invoice.correction
    if corr is None:
        return []
    corrected = []
    for ref in corr.invoices:
        if ref.ksef_number:
            ksef = [("NrKSeF", "1"), ("NrKSeFFaKorygowanej", token(ref.ksef_number))]
        else:
            ksef = [("NrKSeFN", "1")]
        corrected.append(("DaneFaKorygowanej", [
            ("DataWystFaKorygowanej", day(ref.issue_date)),
            ("NrFaKorygowanej", token(ref.number)),
        ] + ksef))
    return children(
        ("PrzyczynaKorekty", token(corr.reason)),
        ("TypKorekty", integer(corr.type)),
        corrected,
        ("OkresFaKorygowanej", token(corr.period)),
        ("NrFaKorygowany", token(corr.correct_number)),
        ("P_15ZK", amount(corr.amount_paid_before)),
        ("KursWalutyZK", quantity(corr.exchange_rate_before)),
    )


def _line(position: int, line: Line):
    return ("FaWiersz", [
        ("NrWierszaFa", str(position)),
        ("UU_ID", token(line.uu_id)),
        ("P_6A", day(line.delivery_date)),
        ("P_7", token(line.description)),
        ("Indeks", token(line.index)),
        ("GTIN", token(line.gtin)),
        ("PKWiU", token(line.pkwiu)),
        ("CN", token(line.cn)),
        ("PKOB", token(line.pkob)),
        ("P_8A", token(line.unit)),
        ("P_8B", quantity(line.quantity)),
        ("P_9A", price(line.unit_price_net)),
        ("P_9B", price(line.unit_price_gross)),
        ("P_10", price(line.discount)),
        ("P_11", amount(line.net)),
        ("P_11A", amount(line.gross)),
        ("P_11Vat", amount(line.vat)),
        ("P_12", line.rate),
        ("P_12_XII", quantity(line.oss_rate)),
        ("P_12_Zal_15", flag(line.annex_15)),
        ("KwotaAkcyzy", amount(line.excise)),
        ("GTU", line.gtu),
        ("Procedura", line.procedure),
        ("KursWaluty", quantity(line.exchange_rate)),
        ("StanPrzed", flag(line.before_correction)),
    ])


def _order_line(position: int, line: OrderLine):
    return ("ZamowienieWiersz", [
        ("NrWierszaZam", str(position)),
        ("UU_IDZ", token(line.uu_id)),
        ("P_7Z", token(line.description)),
        ("IndeksZ", token(line.index)),
        ("GTINZ", token(line.gtin)),
        ("PKWiUZ", token(line.pkwiu)),
        ("CNZ", token(line.cn)),
        ("PKOBZ", token(line.pkob)),
        ("P_8AZ", token(line.unit)),
        ("P_8BZ", quantity(line.quantity)),
        ("P_9AZ", price(line.unit_price_net)),
        ("P_11NettoZ", amount(line.net)),
        ("P_11VatZ", amount(line.vat)),
        ("P_12Z", line.rate),
        ("P_12Z_XII", quantity(line.oss_rate)),
        ("P_12Z_Zal_15", flag(line.annex_15)),
        ("GTUZ", line.gtu),
        ("ProceduraZ", line.procedure),
        ("KwotaAkcyzyZ", amount(line.excise)),
        ("StanPrzedZ", flag(line.before_correction)),
    ])


def _order(order: Optional[Order]):
    if order is None:
        return None
    return ("Zamowienie", children(
        ("WartoscZamowienia", amount(order.total)),
        [_order_line(i, line) for i, line in enumerate(order.lines, 1)],
    ))


def _settlement(settlement: Optional[Settlement]):
    if settlement is None:
        return None
    return ("Rozliczenie", children(
        [("Obciazenia", [("Kwota", amount(a.amount)), ("Powod", token(a.reason))]) for a in settlement.charges],
        ("SumaObciazen", amount(settlement.charges_total)),
        [("Odliczenia", [("Kwota", amount(a.amount)), ("Powod", token(a.reason))]) for a in settlement.deductions],
        ("SumaOdliczen", amount(settlement.deductions_total)),
        ("DoZaplaty", amount(settlement.amount_due)),
        ("DoRozliczenia", amount(settlement.amount_to_settle)),
    ))


def _method(method: Optional[int], other: Optional[str]):
    if method is not None:
        return [("FormaPlatnosci", integer(method))]
    if other:
        return [("PlatnoscInna", "1"), ("OpisPlatnosci", token(other))]
    return []


def _bank_account(tag: str, account: BankAccount):
    return (tag, [
        ("NrRB", token(account.number)),
        ("SWIFT", token(account.swift)),
        ("RachunekWlasnyBanku", integer(account.own_bank_account)),
        ("NazwaBanku", token(account.bank_name)),
        ("OpisRachunku", token(account.description)),
    ])


def _payment(payment: Optional[Payment]):
    if payment is None:
        return None
    if payment.paid:
        paid = [("Zaplacono", "1"), ("DataZaplaty", day(payment.paid_date))]
    elif payment.partial_payments:
        paid = children(("ZnacznikZaplatyCzesciowej", integer(payment.partial_marker or 1)), [
            ("ZaplataCzesciowa", children(
                ("KwotaZaplatyCzesciowej", amount(p.amount)),
                ("DataZaplatyCzesciowej", day(p.payment_date)),
                _method(p.method, p.other_method),
            )) for p in payment.partial_payments])
    else:
        paid = []
    due = []
    for term in payment.due_dates:
        described = None
        if term.quantity is not None:
            described = ("TerminOpis", [("Ilosc", integer(term.quantity)), ("Jednostka", token(term.unit)),
                                        ("ZdarzeniePoczatkowe", token(term.event))])
        due.append(("TerminPlatnosci", [("Termin", day(term.date)), described]))
    skonto = None
    if payment.discount_conditions:
        skonto = ("Skonto", [("WarunkiSkonta", token(payment.discount_conditions)),
                             ("WysokoscSkonta", token(payment.discount_amount))])
    return ("Platnosc", children(
        paid,
        due,
        _method(payment.method, payment.other_method),
        [_bank_account("RachunekBankowy", a) for a in payment.bank_accounts],
        [_bank_account("RachunekBankowyFaktora", a) for a in payment.factor_bank_accounts],
        skonto,
    ))


def _terms(terms: Optional[TransactionTerms]):
    if terms is None:
        return None
    return ("WarunkiTransakcji", children(
        [("Umowy", [("DataUmowy", day(r.date)), ("NrUmowy", token(r.number))]) for r in terms.contracts],
        [("Zamowienia", [("DataZamowienia", day(r.date)), ("NrZamowienia", token(r.number))])
         for r in terms.orders],
        [("NrPartiiTowaru", token(n)) for n in terms.batch_numbers],
        ("WarunkiDostawy", token(terms.delivery_terms)),
        ("KursUmowny", quantity(terms.contract_rate)),
        ("WalutaUmowna", token(terms.contract_currency)),
        ("PodmiotPosredniczacy", flag(terms.intermediary)),
    ))


def _fa(invoice: Invoice):
    if invoice.period_start or invoice.period_end:
        when = ("OkresFa", [("P_6_Od", day(invoice.period_start)), ("P_6_Do", day(invoice.period_end))])
    else:
        when = ("P_6", day(invoice.delivery_date))
    return ("Fa", children(
        ("KodWaluty", token(invoice.currency)),
        ("P_1", day(invoice.issue_date)),
        ("P_1M", token(invoice.issue_place)),
        ("P_2", token(invoice.number)),
        [("WZ", token(n)) for n in invoice.warehouse_documents],
        when,
        _totals(invoice),
        ("KursWalutyZ", quantity(invoice.advance_exchange_rate)),
        _annotations(invoice),
        ("RodzajFaktury", invoice.kind),
        _correction(invoice),
        [("ZaliczkaCzesciowa", [("P_6Z", day(a.payment_date)), ("P_15Z", amount(a.amount)),
                                ("KursWalutyZW", quantity(a.exchange_rate))])
         for a in invoice.partial_advances],
        ("FP", flag(invoice.fp)),
        ("TP", flag(invoice.related_parties)),
        [("DodatkowyOpis", [("NrWiersza", integer(n.line_number)), ("Klucz", token(n.key)),
                            ("Wartosc", token(n.value))]) for n in invoice.notes],
        [("FakturaZaliczkowa",
          [("NrKSeFFaZaliczkowej", token(a.ksef_number))] if a.ksef_number
          else [("NrKSeFZN", "1"), ("NrFaZaliczkowej", token(a.number))])
         for a in invoice.advance_invoices],
        ("ZwrotAkcyzy", flag(invoice.excise_refund)),
        [_line(i, line) for i, line in enumerate(invoice.lines, 1)],
        _settlement(invoice.settlement),
        _payment(invoice.payment),
        _terms(invoice.terms),
        _order(invoice.order),
    ))


def _footer(invoice: Invoice):
    return ("Stopka", children(
        [("Informacje", [("StopkaFaktury", text(info))]) for info in invoice.footer],
        [("Rejestry", [("PelnaNazwa", token(r.full_name)), ("KRS", token(r.krs)), ("REGON", token(r.regon)),
                       ("BDO", token(r.bdo))]) for r in invoice.registries],
    ))
