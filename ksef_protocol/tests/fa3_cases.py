"""FA(3) invoice cases shared by the fa3 test files (one per case of issue 7).

Each factory returns a complete ``Invoice``; totals are computed with
``compute_totals`` unless the case needs hand-set amounts (advances,
settlements), in which case the numbers are worked out in the comments.
The golden files in ``data/fa3/golden/<case>.xml`` are the reviewed output.
"""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

from ksef_protocol.fa3 import compute_totals
from ksef_protocol.fa3.model import (Address, AdvanceInvoiceRef, Annotations, BankAccount, BucketAmount, Contact,
                                     CorrectedInvoice, Correction, DueDate, Invoice, Line, NewTransportMeans, Note,
                                     Order, OrderLine, PartialAdvance, PartialPayment, Party, Payment, Reference,
                                     Registry, Totals, TransactionTerms)

SELLER_NIP = "5260250009"
BUYER_NIP = "1234560007"
CREATED_AT = datetime(2026, 2, 2, 9, 30, tzinfo=timezone.utc)


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0 (the KSeF number checksum)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def ksef_number(nip: str, day: str, technical: str) -> str:
    """A syntactically valid KSeF number (with its CRC-8) for test data."""
    data = "%s-%s-%s" % (nip, day, technical)
    return "%s-%02X" % (data, crc8(data.encode("ascii")))


def seller(**kw) -> Party:
    values = dict(name="Przykładowa Spółka z o.o.", nip=SELLER_NIP,
                  address=Address("PL", "ul. Marszałkowska 1/2", "00-624 Warszawa"),
                  contacts=[Contact(email="faktury@przyklad.pl", phone="+48221234567")])
    values.update(kw)
    return Party(**values)


def buyer(**kw) -> Party:
    values = dict(name="Odbiorca S.A.", nip=BUYER_NIP, address=Address("PL", "ul. Długa 5", "80-001 Gdańsk"))
    values.update(kw)
    return Party(**values)


def _invoice(number, lines, totals=None, **kw) -> Invoice:
    kw.setdefault("seller", seller())
    kw.setdefault("buyer", buyer())
    invoice = Invoice(number=number, issue_date=date(2026, 2, 2), created_at=CREATED_AT,
                      totals=totals or Totals({}, D(0)), lines=lines, **kw)
    if totals is None:
        invoice.totals = compute_totals(invoice)
    return invoice


def _transfer(days=14):
    return Payment(due_dates=[DueDate(date=date(2026, 2, 2) + timedelta(days=days))], method=6,
                   bank_accounts=[BankAccount("PL61109010140000071219812874", swift="WBKPPLPP",
                                              bank_name="Santander Bank Polska")])


def vat_basic():
    """Standard rates 23 / 8 / 5 in PLN, unpaid, transfer in 14 days."""
    return _invoice("FV/2026/02/001", [
        Line("Usługa doradcza", "23", "godz.", D(10), D("150.00"), net=D("1500.00")),
        Line("Catering", "8", "szt.", D(20), D("35.50"), net=D("710.00")),
        Line("Książka \"Podatki 2026\"", "5", "szt.", D(3), D("49.99"), net=D("149.97")),
    ], delivery_date=date(2026, 1, 30), payment=_transfer())


def correction_ksef():
    """KOR of an invoice sent to KSeF: price lowered by 20.00 on 5 hours.
    Amount corrections keep the quantity positive and give a negative price."""
    return _invoice("FK/2026/02/001", [
        Line("Usługa doradcza - obniżka ceny", "23", "godz.", D(5), D("-20.00"), net=D("-100.00")),
    ], kind="KOR", correction=Correction(
        invoices=[CorrectedInvoice(date(2026, 1, 15), "FV/2026/01/007",
                                   ksef_number(SELLER_NIP, "20260115", "0100001AF629"))],
        reason="Rabat udzielony po wystawieniu faktury", type=2))


def correction_outside_ksef():
    """KOR of an invoice issued outside KSeF (NrKSeFN): 2 pieces returned.
    Quantity corrections give a negative quantity and a positive price."""
    return _invoice("FK/2026/02/002", [
        Line("Monitor 27\"", "23", "szt.", D(-2), D("899.00"), net=D("-1798.00")),
    ], kind="KOR", correction=Correction(
        invoices=[CorrectedInvoice(date(2025, 12, 10), "FV/2025/12/120")],
        reason="Zwrot towaru", type=1), payment=Payment(due_dates=[DueDate(date(2026, 2, 9))], method=6))


def correction_before_after():
    """KOR drawn as rows before (StanPrzed) and after: 10 -> 8 pieces, so
    the totals are the difference (-2 x 100 = -200 net, -46 VAT)."""
    return _invoice("FK/2026/02/003", [
        Line("Krzesło biurowe", "23", "szt.", D(10), D("100.00"), net=D("1000.00"), before_correction=True),
        Line("Krzesło biurowe", "23", "szt.", D(8), D("100.00"), net=D("800.00")),
    ], kind="KOR", correction=Correction(
        invoices=[CorrectedInvoice(date(2026, 1, 20), "FV/2026/01/010",
                                   ksef_number(SELLER_NIP, "20260120", "0200002B0C11"))],
        reason="Błędna ilość", type=1))


def advance():
    """ZAL: 12,300.00 gross received on an order worth 24,600.00 gross.
    Net of the advance = 12,300 x 100/123 = 10,000.00, VAT 2,300.00."""
    return _invoice("FZ/2026/02/001", [], totals=Totals({"1": BucketAmount(D("10000.00"), D("2300.00"))},
                                                      D("12300.00")),
                    kind="ZAL", delivery_date=date(2026, 1, 31),
                    order=Order(D("24600.00"), [
                        OrderLine("Regał magazynowy", "23", "szt.", D(40), D("500.00"), net=D("20000.00"),
                                  vat=D("4600.00"))]),
                    payment=Payment(paid=True, paid_date=date(2026, 1, 31), method=6))


def advance_services_np():
    """ZAL for services to an EU business (art. 28b, np II): the advance
    goes to P_13_9 (never P_13_8), with the reverse charge annotation."""
    return _invoice("FZ/2026/02/002", [], totals=Totals({"9": BucketAmount(D("5000.00"))}, D("5000.00")),
                    kind="ZAL", currency="EUR", delivery_date=date(2026, 1, 28),
                    buyer=Party(name="Kunde GmbH", eu_country="DE", eu_vat_number="811907980",
                                address=Address("DE", "Friedrichstraße 10", "10117 Berlin")),
                    annotations=Annotations(reverse_charge=True),
                    order=Order(D("10000.00"), [OrderLine("Wdrożenie systemu", "np II", "usł.", D(1),
                                                          D("10000.00"), net=D("10000.00"))]))


def settlement():
    """ROZ after the advance FZ/2026/02/001: order 20,000 net + 4,600 VAT;
    P_15 is what remains to pay (24,600 - 12,300 = 12,300)."""
    return _invoice("FV/2026/02/010", [
        Line("Regał magazynowy", "23", "szt.", D(40), D("500.00"), net=D("20000.00")),
    ], totals=Totals({"1": BucketAmount(D("10000.00"), D("2300.00"))}, D("12300.00")),
        kind="ROZ", advance_invoices=[AdvanceInvoiceRef(ksef_number=ksef_number(SELLER_NIP, "20260131",
                                                                                "0300003C1D22")),
                                      AdvanceInvoiceRef(number="FZ/2025/12/004")],
        payment=_transfer())


def advance_correction():
    """KOR_ZAL: the advance of 12,300 gross was in fact 6,150 gross."""
    return _invoice("FK/2026/02/004", [], totals=Totals({"1": BucketAmount(D("-5000.00"), D("-1150.00"))},
                                                      D("-6150.00")),
                    kind="KOR_ZAL", correction=Correction(
                        invoices=[CorrectedInvoice(date(2026, 2, 2), "FZ/2026/02/001",
                                                   ksef_number(SELLER_NIP, "20260202", "0400004D2E33"))],
                        reason="Błędna kwota zaliczki", type=2, amount_paid_before=D("12300.00")),
                    order=Order(D("24600.00"), [
                        OrderLine("Regał magazynowy", "23", "szt.", D(40), D("500.00"), net=D("20000.00"),
                                  vat=D("4600.00"))]))


def settlement_correction():
    """KOR_ROZ: one shelf fewer on the settlement invoice (-500 net)."""
    return _invoice("FK/2026/02/005", [
        Line("Regał magazynowy", "23", "szt.", D(-1), D("500.00"), net=D("-500.00")),
    ], kind="KOR_ROZ", correction=Correction(
        invoices=[CorrectedInvoice(date(2026, 2, 2), "FV/2026/02/010",
                                   ksef_number(SELLER_NIP, "20260202", "0500005E3F44"))],
        reason="Zwrot jednego regału", type=2, amount_paid_before=D("12300.00")))


def reverse_charge():
    """Domestic reverse charge ("oo", P_13_10) with P_18=1 and GTU."""
    return _invoice("FV/2026/02/020", [
        Line("Usługi budowlane - montaż", "oo", "usł.", D(1), D("8000.00"), net=D("8000.00")),
    ], annotations=Annotations(reverse_charge=True), payment=_transfer())


def intra_eu_supply():
    """WDT at 0% to a VAT-registered EU buyer (KodUE + NrVatUE, no prefix)."""
    return _invoice("FV/2026/02/030", [
        Line("Maszyna pakująca", "0 WDT", "szt.", D(1), D("45000.00"), net=D("45000.00"), cn="84224000"),
    ], currency="EUR", buyer=Party(name="Empresa S.L.", eu_country="ES", eu_vat_number="B12345678",
                                   address=Address("ES", "Calle Mayor 1", "28013 Madrid")),
        payment=_transfer(30))


def export():
    """Export of goods at 0% (0 EX) to a non-EU buyer identified by NrID."""
    return _invoice("FV/2026/02/031", [
        Line("Części zamienne", "0 EX", "kpl.", D(12), D("250.00"), net=D("3000.00")),
    ], currency="USD", buyer=Party(name="Acme Inc.", tax_id="12-3456789", tax_id_country="US",
                                   address=Address("US", "1 Main Street", "Springfield, IL 62701")),
        terms=TransactionTerms(delivery_terms="FCA Warszawa"), payment=_transfer(30))


def services_outside_poland():
    """Services taxed where the buyer is (np II, art. 100 -> P_13_9) and a
    supply outside Poland (np I -> P_13_8); P_18=1 for the art. 28b service."""
    return _invoice("FV/2026/02/032", [
        Line("Usługa programistyczna", "np II", "godz.", D(80), D("55.00"), net=D("4400.00")),
        Line("Montaż urządzenia w Niemczech", "np I", "usł.", D(1), D("1200.00"), net=D("1200.00")),
    ], currency="EUR", buyer=Party(name="Kunde GmbH", eu_country="DE", eu_vat_number="811907980",
                                   address=Address("DE", "Friedrichstraße 10", "10117 Berlin")),
        annotations=Annotations(reverse_charge=True), payment=_transfer())


def oss():
    """OSS (dział XII rozdział 6a): B2C distance sale at the German 19%."""
    return _invoice("FV/2026/02/033", [
        Line("Ekspres do kawy", None, "szt.", D(1), D("300.00"), net=D("300.00"), oss_rate=D("19"),
             procedure="WSTO_EE"),
    ], currency="EUR", buyer=Party(name="Max Mustermann", address=Address("DE", "Hauptstraße 3", "80331 München")))


def exempt_act():
    """Exempt supply (zw) with its legal basis from the Polish act (P_19A)."""
    return _invoice("FV/2026/02/040", [
        Line("Szkolenie zawodowe", "zw", "os.", D(4), D("800.00"), net=D("3200.00")),
        Line("Materiały szkoleniowe", "23", "kpl.", D(4), D("50.00"), net=D("200.00")),
    ], annotations=Annotations(exemption_basis_kind="A", exemption_basis="art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"),
        payment=_transfer())


def exempt_directive():
    """Exempt supply with the basis from directive 2006/112/EC (P_19B)."""
    return _invoice("FV/2026/02/041", [
        Line("Usługa finansowa", "zw", "usł.", D(1), D("1000.00"), net=D("1000.00")),
    ], annotations=Annotations(exemption_basis_kind="B", exemption_basis="art. 135 ust. 1 lit. d dyrektywy 2006/112/WE"))


def exempt_other():
    """Small-business exemption, basis given as "other" (P_19C)."""
    return _invoice("FV/2026/02/042", [
        Line("Naprawa roweru", "zw", "usł.", D(1), D("250.00"), net=D("250.00")),
    ], annotations=Annotations(exemption_basis_kind="C", exemption_basis="zwolnienie podmiotowe, art. 113 ust. 1"))


def split_payment():
    """MPP: gross over 15,000 PLN with Annex 15 goods (P_18A=1, P_12_Zal_15,
    GTU_06 electronics)."""
    return _invoice("FV/2026/02/050", [
        Line("Laptop", "23", "szt.", D(10), D("4000.00"), net=D("40000.00"), annex_15=True, gtu="GTU_06"),
    ], annotations=Annotations(split_payment=True), payment=_transfer())


def gtu_and_procedures():
    """GTU codes and procedure markings on lines (GTU_12 services, TP, TT_D)."""
    return _invoice("FV/2026/02/051", [
        Line("Doradztwo prawne", "23", "godz.", D(12), D("400.00"), net=D("4800.00"), gtu="GTU_12"),
        Line("Dostawa w transakcji trójstronnej", "23", "szt.", D(1), D("1000.00"), net=D("1000.00"),
             procedure="TT_D"),
    ], related_parties=True, payment=_transfer())


def discounts_and_special_lines():
    """A discount (P_10), a negative line (returned deposit) and a zero-value
    line (free sample)."""
    return _invoice("FV/2026/02/060", [
        Line("Farba biała 10 l", "23", "szt.", D(10), D("120.00"), discount=D("120.00"), net=D("1080.00")),
        Line("Zwrot kaucji za palety", "23", "szt.", D(-2), D("50.00"), net=D("-100.00")),
        Line("Próbka gratis", "23", "szt.", D(1), D("0.00"), net=D("0.00")),
    ], payment=_transfer())


def gross_prices():
    """Gross-price invoice (art. 106e ust. 7): P_9B and P_11A; the tax is
    taken from the gross sum per rate: 246 x 23/123 = 46.00, 108 x 8/108 = 8."""
    return _invoice("FV/2026/02/061", [
        Line("Kurtka", "23", "szt.", D(2), unit_price_gross=D("123.00"), gross=D("246.00")),
        Line("Kanapka", "8", "szt.", D(4), unit_price_gross=D("27.00"), gross=D("108.00")),
    ], payment=Payment(paid=True, paid_date=date(2026, 2, 2), method=2))


def foreign_currency():
    """EUR invoice: the PLN VAT (P_14_1W) uses the NBP rate 4.2150 of the
    day before supply (table 021/A/NBP/2026), stated on each line."""
    rate = D("4.2150")
    invoice = _invoice("FV/2026/02/070", [
        Line("Licencja roczna", "23", "szt.", D(5), D("200.00"), net=D("1000.00"), exchange_rate=rate),
    ], currency="EUR", delivery_date=date(2026, 1, 30),
        notes=[Note("Kurs waluty", "4.2150 PLN/EUR, tabela NBP 021/A/NBP/2026 z 2026-01-29")],
        payment=_transfer())
    invoice.totals = compute_totals(invoice, exchange_rate=rate)
    return invoice


def pln_foreign_buyer():
    """A PLN invoice to a foreign (UK) buyer identified by NrID without a
    country code, for accommodation in Poland at 8%."""
    return _invoice("FV/2026/02/071", [
        Line("Nocleg", "8", "doba", D(3), D("300.00"), net=D("900.00")),
    ], buyer=Party(name="John Smith Ltd", tax_id="GB987654321", address=Address("GB", "10 Downing Street",
                                                                                "London SW1A 2AA")))


def private_person():
    """B2C to a private person without any number (BrakID)."""
    return _invoice("FV/2026/02/080", [
        Line("Rower miejski", "23", "szt.", D(1), D("1500.00"), net=D("1500.00")),
    ], buyer=Party(name="Jan Kowalski", address=Address("PL", "ul. Polna 3", "31-000 Kraków")),
        payment=Payment(paid=True, paid_date=date(2026, 2, 2), method=1))


def cash_accounting_self_billing():
    """Cash accounting (P_16) and self-billing (P_17) markers; the seller
    uses PrefiksPodatnika PL."""
    return _invoice("FV/2026/02/090", [
        Line("Skup surowca", "23", "t", D("2.5"), D("1200.00"), net=D("3000.00")),
    ], seller=seller(vat_prefix="PL"), annotations=Annotations(cash_accounting=True, self_billing=True),
        payment=_transfer())


def margin_scheme():
    """Margin scheme for used goods (P_PMarzy_3_1): gross amount in P_13_11."""
    return _invoice("FV/2026/02/091", [
        Line("Samochód używany", None, "szt.", D(1), unit_price_gross=D("35000.00"), gross=D("35000.00")),
    ], annotations=Annotations(margin_scheme="used_goods"), payment=_transfer())


def third_parties():
    """Podmiot3: a recipient, a payer, a JST unit and a VAT group member."""
    return _invoice("FV/2026/02/092", [
        Line("Dostawa mebli", "23", "kpl.", D(2), D("2500.00"), net=D("5000.00")),
    ], buyer=buyer(name="Gmina Przykładowo", jst=True, vat_group=True), third_parties=[
        Party(name="Szkoła Podstawowa nr 1", nip="7770000005", address=Address("PL", "ul. Szkolna 1", "00-950 Warszawa"),
              role=8),
        Party(name="Członek Grupy VAT Sp. z o.o.", nip="9512220005", role=10),
        Party(name="Odbiorca Towaru Sp. z o.o.", nip="5841110008", role=2,
              address=Address("PL", "ul. Magazynowa 7", "05-090 Raszyn")),
        Party(name="Bank Płatnik S.A.", internal_id="5841110008-00001", other_role="Płatnik leasingowy"),
    ], payment=_transfer())


def partly_paid_many_due_dates():
    """Partly paid (ZnacznikZaplatyCzesciowej=1) with two further instalments."""
    return _invoice("FV/2026/02/100", [
        Line("Linia produkcyjna", "23", "szt.", D(1), D("30000.00"), net=D("30000.00")),
    ], payment=Payment(partial_marker=1,
                       partial_payments=[PartialPayment(D("10000.00"), date(2026, 2, 1), method=6)],
                       due_dates=[DueDate(date(2026, 3, 2)), DueDate(date(2026, 4, 1)),
                                  DueDate(quantity=14, unit="dni", event="od daty odbioru końcowego")],
                       method=6, bank_accounts=[BankAccount("61109010140000071219812874")],
                       discount_conditions="zapłata w ciągu 7 dni", discount_amount="2%"))


def notes_orders_footer():
    """DodatkowyOpis, contract and order references, footer with registers,
    delivery date P_6 and place of issue."""
    return _invoice("FV/2026/02/110", [
        Line("Serwis klimatyzacji", "23", "usł.", D(1), D("600.00"), net=D("600.00"), index="SRV-001"),
    ], issue_place="Warszawa", delivery_date=date(2026, 1, 31), warehouse_documents=["WZ/2026/01/55"],
        notes=[Note("Uwagi", "Serwis wykonano zgodnie z protokołem nr 12/2026"),
               Note("Gwarancja", "12 miesięcy", line_number=1)],
        terms=TransactionTerms(contracts=[Reference("UM/2025/17", date(2025, 6, 1))],
                               orders=[Reference("ZAM/2026/0042", date(2026, 1, 10))]),
        footer=["Dziękujemy za współpracę.\nKapitał zakładowy 50 000 zł."],
        registries=[Registry(full_name="Przykładowa Spółka z o.o.", krs="0000123456", regon="123456785",
                             bdo="000012345")],
        payment=_transfer())


def new_means_of_transport():
    """Intra-EU supply of a new car (P_22, NowySrodekTransportu)."""
    return _invoice("FV/2026/02/120", [
        Line("Samochód osobowy nowy", "0 WDT", "szt.", D(1), D("120000.00"), net=D("120000.00")),
    ], buyer=Party(name="Autohaus Wien GmbH", eu_country="AT", eu_vat_number="U12345678",
                   address=Address("AT", "Ringstraße 1", "1010 Wien")),
        annotations=Annotations(new_transport=[NewTransportMeans(
            date(2026, 1, 20), 1, "B", "150", make="Skoda", model="Octavia", colour="szary",
            registration="WX12345", production_year="2026", identifier_field="P_22B1",
            identifier="TMBJJ7NE5L0123456", vehicle_type="osobowy")]))


def advance_partial_payments():
    """ZAL documenting two payments (ZaliczkaCzesciowa) in EUR with KursWalutyZ."""
    return _invoice("FZ/2026/02/003", [], totals=Totals(
        {"1": BucketAmount(D("2000.00"), D("460.00"), D("1938.90"))}, D("2460.00")),
        kind="ZAL", currency="EUR", advance_exchange_rate=D("4.2150"),
        partial_advances=[PartialAdvance(date(2026, 1, 20), D("1230.00"), D("4.2000")),
                          PartialAdvance(date(2026, 1, 28), D("1230.00"), D("4.2150"))],
        order=Order(D("4920.00"), [OrderLine("Projekt wnętrza", "23", "usł.", D(1), D("4000.00"),
                                             net=D("4000.00"), vat=D("920.00"), gtu="GTU_12")]))


CASES = {
    "vat_basic": vat_basic,
    "correction_ksef": correction_ksef,
    "correction_outside_ksef": correction_outside_ksef,
    "correction_before_after": correction_before_after,
    "advance": advance,
    "advance_services_np": advance_services_np,
    "advance_partial_payments": advance_partial_payments,
    "settlement": settlement,
    "advance_correction": advance_correction,
    "settlement_correction": settlement_correction,
    "reverse_charge": reverse_charge,
    "intra_eu_supply": intra_eu_supply,
    "export": export,
    "services_outside_poland": services_outside_poland,
    "oss": oss,
    "exempt_act": exempt_act,
    "exempt_directive": exempt_directive,
    "exempt_other": exempt_other,
    "split_payment": split_payment,
    "gtu_and_procedures": gtu_and_procedures,
    "discounts_and_special_lines": discounts_and_special_lines,
    "gross_prices": gross_prices,
    "foreign_currency": foreign_currency,
    "pln_foreign_buyer": pln_foreign_buyer,
    "private_person": private_person,
    "cash_accounting_self_billing": cash_accounting_self_billing,
    "margin_scheme": margin_scheme,
    "third_parties": third_parties,
    "partly_paid_many_due_dates": partly_paid_many_due_dates,
    "notes_orders_footer": notes_orders_footer,
    "new_means_of_transport": new_means_of_transport,
}
