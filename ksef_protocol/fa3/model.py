"""Neutral data model of an FA(3) invoice.

The classes mirror the FA(3) structure (``schemat_FA(3)_v1-0E.xsd``) closely
enough that ``parse_fa3(build_fa3(invoice)) == invoice``, but use English names
and Python types so callers (the Odoo layer, importers, tests) never handle
XML.  Each field's docstring comment names the FA(3) element it maps to.

Conventions:
- money is ``Decimal`` (2 places in the XML, ``TKwotowy``); unit prices are
  ``Decimal`` with up to 8 places (``TKwotowy2``); quantities and exchange
  rates up to 6 places (``TIlosci``);
- dates are ``datetime.date``; the generation timestamp is an aware
  ``datetime`` (UTC);
- ``None`` / empty list means "element absent"; booleans map to the XSD's
  ``1`` (true) / ``2`` or absent (false) markers;
- amounts of corrections (KOR, KOR_ZAL, KOR_ROZ) are differences, negative for
  decreases (see ``ksef_protocol.fa3.rates``).

Not modelled (never emitted): PodmiotUpowazniony is read (``Invoice.authorized``) but not built;
Podmiot1K/Podmiot2K, WarunkiTransakcji/Transport, Zalacznik, LinkDoPlatnosci/IPKSeF are not read
either: the parser lists the ones present in ``Invoice.ignored_elements`` so callers can say so.
"""
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Dict, List, Optional

# RodzajFaktury values
KIND_VAT = "VAT"
KIND_CORRECTION = "KOR"
KIND_ADVANCE = "ZAL"
KIND_SETTLEMENT = "ROZ"
KIND_SIMPLIFIED = "UPR"
KIND_ADVANCE_CORRECTION = "KOR_ZAL"
KIND_SETTLEMENT_CORRECTION = "KOR_ROZ"
INVOICE_KINDS = (KIND_VAT, KIND_CORRECTION, KIND_ADVANCE, KIND_SETTLEMENT, KIND_SIMPLIFIED,
                 KIND_ADVANCE_CORRECTION, KIND_SETTLEMENT_CORRECTION)
CORRECTION_KINDS = (KIND_CORRECTION, KIND_ADVANCE_CORRECTION, KIND_SETTLEMENT_CORRECTION)

# P_PMarzy_* choices
MARGIN_TRAVEL = "travel"            # P_PMarzy_2
MARGIN_USED_GOODS = "used_goods"    # P_PMarzy_3_1
MARGIN_ART = "art"                  # P_PMarzy_3_2
MARGIN_ANTIQUES = "antiques"        # P_PMarzy_3_3
MARGIN_SCHEMES = (MARGIN_TRAVEL, MARGIN_USED_GOODS, MARGIN_ART, MARGIN_ANTIQUES)

# Zwolnienie legal basis kinds
EXEMPTION_ACT = "A"        # P_19A: Polish VAT act or regulation
EXEMPTION_DIRECTIVE = "B"  # P_19B: directive 2006/112/EC
EXEMPTION_OTHER = "C"      # P_19C: other legal basis

# Podmiot3 roles (TRolaPodmiotu3)
ROLE_FACTOR = 1
ROLE_RECIPIENT = 2
ROLE_ORIGINAL_ENTITY = 3
ROLE_ADDITIONAL_BUYER = 4
ROLE_ISSUER = 5
ROLE_PAYER = 6
ROLE_JST_ISSUER = 7
ROLE_JST_RECIPIENT = 8
ROLE_VAT_GROUP_ISSUER = 9
ROLE_VAT_GROUP_RECIPIENT = 10
ROLE_EMPLOYEE = 11

# TFormaPlatnosci
PAYMENT_CASH = 1
PAYMENT_CARD = 2
PAYMENT_VOUCHER = 3
PAYMENT_CHEQUE = 4
PAYMENT_CREDIT = 5
PAYMENT_TRANSFER = 6
PAYMENT_MOBILE = 7


@dataclass
class Address:
    """TAdres: ``KodKraju``, ``AdresL1``, ``AdresL2``, ``GLN``."""
    country_code: str
    line1: str
    line2: Optional[str] = None
    gln: Optional[str] = None


@dataclass
class Contact:
    """DaneKontaktowe: ``Email`` and/or ``Telefon`` (at most 3 per party)."""
    email: Optional[str] = None
    phone: Optional[str] = None


@dataclass
class Party:
    """A seller (Podmiot1), buyer (Podmiot2) or third party (Podmiot3).

    Identification (DaneIdentyfikacyjne) is exactly one of: ``nip`` (Polish
    NIP, 10 digits); ``eu_country`` + ``eu_vat_number`` (KodUE + NrVatUE, the
    number WITHOUT its country prefix); ``tax_id`` with optional
    ``tax_id_country`` (NrID + KodKraju, non-EU or non-VAT identifiers);
    ``internal_id`` (IDWew, Podmiot3 only); or none of them (BrakID, e.g. a
    private person).  The seller must have a NIP.
    """
    name: Optional[str] = None
    nip: Optional[str] = None
    eu_country: Optional[str] = None
    eu_vat_number: Optional[str] = None
    tax_id: Optional[str] = None
    tax_id_country: Optional[str] = None
    internal_id: Optional[str] = None
    address: Optional[Address] = None
    correspondence_address: Optional[Address] = None
    contacts: List[Contact] = field(default_factory=list)
    eori: Optional[str] = None                 # NrEORI
    vat_prefix: Optional[str] = None           # PrefiksPodatnika (Podmiot1; only "PL")
    taxpayer_status: Optional[int] = None      # StatusInfoPodatnika (Podmiot1) 1..4
    customer_number: Optional[str] = None      # NrKlienta (Podmiot2/3)
    buyer_key: Optional[str] = None            # IDNabywcy (Podmiot2/3)
    jst: bool = False                          # JST (Podmiot2): invoice concerns a JST sub-unit
    vat_group: bool = False                    # GV (Podmiot2): invoice concerns a VAT group member
    role: Optional[int] = None                 # Rola (Podmiot3), TRolaPodmiotu3
    other_role: Optional[str] = None           # RolaInna=1 + OpisRoli (Podmiot3)
    share: Optional[Decimal] = None            # Udzial (Podmiot3), percent

    @property
    def has_identifier(self) -> bool:
        """True when the party carries any tax identifier (otherwise BrakID)."""
        return bool(self.nip or self.eu_vat_number or self.tax_id or self.internal_id)


@dataclass
class NewTransportMeans:
    """NowySrodekTransportu (P_22): a new means of transport sold intra-EU.

    ``kind`` selects the usage field: "B" land vehicle (P_22B, km),
    "C" vessel (P_22C, hours), "D" aircraft (P_22D, hours); ``usage`` is its
    value.  ``identifier_field`` is one of P_22B1..P_22B4 / P_22C1 / P_22D1.
    """
    first_use_date: date              # P_22A
    line_number: int                  # P_NrWierszaNST
    kind: str                         # "B" | "C" | "D"
    usage: str                        # P_22B / P_22C / P_22D
    make: Optional[str] = None        # P_22BMK
    model: Optional[str] = None       # P_22BMD
    colour: Optional[str] = None      # P_22BK
    registration: Optional[str] = None  # P_22BNR
    production_year: Optional[str] = None  # P_22BRP
    identifier_field: Optional[str] = None
    identifier: Optional[str] = None
    vehicle_type: Optional[str] = None  # P_22BT (land vehicles)


@dataclass
class Annotations:
    """Adnotacje.  ``exemption_basis`` is written (P_19 + P_19A/B/C) only when
    the invoice has an exempt ("zw") amount; otherwise P_19N is written."""
    cash_accounting: bool = False        # P_16
    self_billing: bool = False           # P_17
    reverse_charge: bool = False         # P_18
    split_payment: bool = False          # P_18A
    exemption_basis_kind: Optional[str] = None   # "A" | "B" | "C"
    exemption_basis: Optional[str] = None        # P_19A / P_19B / P_19C text
    new_transport: List[NewTransportMeans] = field(default_factory=list)  # P_22 when non-empty
    new_transport_art_42_5: bool = False  # P_42_5
    simplified_triangular: bool = False  # P_23
    margin_scheme: Optional[str] = None  # one of MARGIN_SCHEMES -> P_PMarzy + P_PMarzy_*


@dataclass
class Line:
    """FaWiersz.  ``NrWierszaFa`` is the 1-based position in ``Invoice.lines``.

    For corrections drawn as differences, ``quantity``/``net`` are negative on
    a decrease; with the before/after method the "before" rows have
    ``before_correction=True`` (StanPrzed) and positive values.
    """
    description: Optional[str] = None       # P_7
    rate: Optional[str] = None              # P_12, one of rates.TAX_RATES
    unit: Optional[str] = None              # P_8A
    quantity: Optional[Decimal] = None      # P_8B
    unit_price_net: Optional[Decimal] = None    # P_9A
    unit_price_gross: Optional[Decimal] = None  # P_9B (gross-price invoices)
    discount: Optional[Decimal] = None      # P_10
    net: Optional[Decimal] = None           # P_11
    gross: Optional[Decimal] = None         # P_11A (gross-price invoices)
    vat: Optional[Decimal] = None           # P_11Vat
    oss_rate: Optional[Decimal] = None      # P_12_XII (OSS, special procedure)
    annex_15: bool = False                  # P_12_Zal_15
    gtu: Optional[str] = None               # GTU, e.g. "GTU_12"
    procedure: Optional[str] = None         # Procedura, e.g. "TT_D"
    exchange_rate: Optional[Decimal] = None  # KursWaluty
    before_correction: bool = False         # StanPrzed
    delivery_date: Optional[date] = None    # P_6A
    uu_id: Optional[str] = None             # UU_ID
    index: Optional[str] = None             # Indeks (internal product code)
    gtin: Optional[str] = None
    pkwiu: Optional[str] = None
    cn: Optional[str] = None
    pkob: Optional[str] = None
    excise: Optional[Decimal] = None        # KwotaAkcyzy


@dataclass
class OrderLine:
    """ZamowienieWiersz of an advance invoice (ZAL); positions are 1-based."""
    description: Optional[str] = None       # P_7Z
    rate: Optional[str] = None              # P_12Z
    unit: Optional[str] = None              # P_8AZ
    quantity: Optional[Decimal] = None      # P_8BZ
    unit_price_net: Optional[Decimal] = None  # P_9AZ
    net: Optional[Decimal] = None           # P_11NettoZ
    vat: Optional[Decimal] = None           # P_11VatZ
    oss_rate: Optional[Decimal] = None      # P_12Z_XII
    annex_15: bool = False                  # P_12Z_Zal_15
    gtu: Optional[str] = None               # GTUZ
    procedure: Optional[str] = None         # ProceduraZ
    before_correction: bool = False         # StanPrzedZ
    uu_id: Optional[str] = None             # UU_IDZ
    index: Optional[str] = None             # IndeksZ
    gtin: Optional[str] = None              # GTINZ
    pkwiu: Optional[str] = None             # PKWiUZ
    cn: Optional[str] = None                # CNZ
    pkob: Optional[str] = None              # PKOBZ
    excise: Optional[Decimal] = None        # KwotaAkcyzyZ


@dataclass
class Order:
    """Zamowienie: the order or contract an advance invoice (ZAL) is paid on."""
    total: Decimal                          # WartoscZamowienia (gross)
    lines: List[OrderLine] = field(default_factory=list)


@dataclass
class CorrectedInvoice:
    """DaneFaKorygowanej.  With ``ksef_number`` the XML says NrKSeF=1 and
    NrKSeFFaKorygowanej; without it, NrKSeFN=1 (issued outside KSeF)."""
    issue_date: date                        # DataWystFaKorygowanej
    number: str                             # NrFaKorygowanej
    ksef_number: Optional[str] = None


@dataclass
class Correction:
    """The correction block of a KOR / KOR_ZAL / KOR_ROZ invoice."""
    invoices: List[CorrectedInvoice]
    reason: Optional[str] = None            # PrzyczynaKorekty
    type: Optional[int] = None              # TypKorekty 1|2|3
    period: Optional[str] = None            # OkresFaKorygowanej
    correct_number: Optional[str] = None    # NrFaKorygowany
    amount_paid_before: Optional[Decimal] = None   # P_15ZK
    exchange_rate_before: Optional[Decimal] = None  # KursWalutyZK


@dataclass
class AdvanceInvoiceRef:
    """FakturaZaliczkowa on a settlement invoice (ROZ): the KSeF number of an
    advance invoice, or (issued outside KSeF) its number."""
    ksef_number: Optional[str] = None       # NrKSeFFaZaliczkowej
    number: Optional[str] = None            # NrKSeFZN=1 + NrFaZaliczkowej


@dataclass
class PartialAdvance:
    """ZaliczkaCzesciowa: one of several payments documented by one invoice."""
    payment_date: date                      # P_6Z
    amount: Decimal                         # P_15Z
    exchange_rate: Optional[Decimal] = None  # KursWalutyZW


@dataclass
class BucketAmount:
    """One P_13_x / P_14_x / P_14_xW triple of the tax summary."""
    net: Decimal
    tax: Optional[Decimal] = None
    tax_pln: Optional[Decimal] = None


@dataclass
class Totals:
    """The tax summary: ``buckets`` maps a bucket key ("1", "2", "3", "4",
    "5", "6_1", "6_2", "6_3", "7", "8", "9", "10", "11", see
    ``rates.BUCKETS``) to its amounts; ``total`` is P_15."""
    buckets: Dict[str, BucketAmount]
    total: Decimal


@dataclass
class Note:
    """DodatkowyOpis: a free key/value note, optionally about one line."""
    key: str
    value: str
    line_number: Optional[int] = None


@dataclass
class DueDate:
    """TerminPlatnosci: a date, or a description (``quantity`` ``unit`` after
    ``event``, e.g. 14 "dni" "od daty dostawy")."""
    date: Optional[date] = None
    quantity: Optional[int] = None
    unit: Optional[str] = None
    event: Optional[str] = None


@dataclass
class PartialPayment:
    """ZaplataCzesciowa."""
    amount: Decimal
    payment_date: date
    method: Optional[int] = None            # FormaPlatnosci
    other_method: Optional[str] = None      # PlatnoscInna=1 + OpisPlatnosci


@dataclass
class BankAccount:
    """RachunekBankowy / RachunekBankowyFaktora."""
    number: str                             # NrRB (IBAN or NRB)
    swift: Optional[str] = None
    own_bank_account: Optional[int] = None  # RachunekWlasnyBanku 1..3
    bank_name: Optional[str] = None
    description: Optional[str] = None


@dataclass
class Payment:
    """Platnosc.  Either ``paid`` (+ ``paid_date``) or partial payments
    (``partial_marker`` 1 = partly paid, 2 = fully paid in parts)."""
    paid: bool = False                      # Zaplacono
    paid_date: Optional[date] = None        # DataZaplaty
    partial_marker: Optional[int] = None    # ZnacznikZaplatyCzesciowej
    partial_payments: List[PartialPayment] = field(default_factory=list)
    due_dates: List[DueDate] = field(default_factory=list)
    method: Optional[int] = None            # FormaPlatnosci
    other_method: Optional[str] = None      # PlatnoscInna=1 + OpisPlatnosci
    bank_accounts: List[BankAccount] = field(default_factory=list)
    factor_bank_accounts: List[BankAccount] = field(default_factory=list)
    discount_conditions: Optional[str] = None  # Skonto/WarunkiSkonta
    discount_amount: Optional[str] = None      # Skonto/WysokoscSkonta


@dataclass
class Reference:
    """A contract (Umowy) or order (Zamowienia) reference."""
    number: Optional[str] = None
    date: Optional[date] = None


@dataclass
class TransactionTerms:
    """WarunkiTransakcji (without Transport)."""
    contracts: List[Reference] = field(default_factory=list)
    orders: List[Reference] = field(default_factory=list)
    batch_numbers: List[str] = field(default_factory=list)   # NrPartiiTowaru
    delivery_terms: Optional[str] = None                     # WarunkiDostawy (e.g. Incoterms)
    contract_rate: Optional[Decimal] = None                  # KursUmowny
    contract_currency: Optional[str] = None                  # WalutaUmowna
    intermediary: bool = False                               # PodmiotPosredniczacy


@dataclass
class Adjustment:
    """Rozliczenie/Obciazenia or Odliczenia entry."""
    amount: Decimal
    reason: str


@dataclass
class Settlement:
    """Rozliczenie: extra charges/deductions and the resulting amount due
    (``amount_due``) or overpaid amount to settle (``amount_to_settle``)."""
    charges: List[Adjustment] = field(default_factory=list)
    charges_total: Optional[Decimal] = None
    deductions: List[Adjustment] = field(default_factory=list)
    deductions_total: Optional[Decimal] = None
    amount_due: Optional[Decimal] = None
    amount_to_settle: Optional[Decimal] = None


@dataclass
class Registry:
    """Stopka/Rejestry."""
    full_name: Optional[str] = None
    krs: Optional[str] = None
    regon: Optional[str] = None
    bdo: Optional[str] = None


@dataclass
class Invoice:
    """A whole FA(3) invoice (Faktura)."""
    seller: Party                                   # Podmiot1
    buyer: Party                                    # Podmiot2
    number: str                                     # P_2
    issue_date: date                                # P_1
    created_at: datetime                            # Naglowek/DataWytworzeniaFa (aware, UTC)
    totals: Totals                                  # P_13_x / P_14_x / P_15
    kind: str = KIND_VAT                            # RodzajFaktury
    currency: str = "PLN"                           # KodWaluty
    third_parties: List[Party] = field(default_factory=list)  # Podmiot3 (max 100)
    system_info: Optional[str] = None               # Naglowek/SystemInfo
    issue_place: Optional[str] = None               # P_1M
    warehouse_documents: List[str] = field(default_factory=list)  # WZ
    delivery_date: Optional[date] = None            # P_6
    period_start: Optional[date] = None             # OkresFa/P_6_Od
    period_end: Optional[date] = None               # OkresFa/P_6_Do
    advance_exchange_rate: Optional[Decimal] = None  # KursWalutyZ (ZAL in foreign currency)
    annotations: Annotations = field(default_factory=Annotations)
    correction: Optional[Correction] = None
    partial_advances: List[PartialAdvance] = field(default_factory=list)  # ZaliczkaCzesciowa
    fp: bool = False                                # FP (art. 109 ust. 3d receipt invoice)
    related_parties: bool = False                   # TP
    notes: List[Note] = field(default_factory=list)  # DodatkowyOpis
    advance_invoices: List[AdvanceInvoiceRef] = field(default_factory=list)  # FakturaZaliczkowa
    excise_refund: bool = False                     # ZwrotAkcyzy
    lines: List[Line] = field(default_factory=list)  # FaWiersz
    settlement: Optional[Settlement] = None         # Rozliczenie
    payment: Optional[Payment] = None               # Platnosc
    terms: Optional[TransactionTerms] = None        # WarunkiTransakcji
    order: Optional[Order] = None                   # Zamowienie (ZAL / KOR_ZAL)
    footer: List[str] = field(default_factory=list)  # Stopka/Informacje/StopkaFaktury (max 3)
    registries: List[Registry] = field(default_factory=list)  # Stopka/Rejestry
    authorized: Optional[Party] = None              # PodmiotUpowazniony (read only; ``role`` is RolaPU)
    ignored_elements: List[str] = field(default_factory=list)  # present but not read, e.g. "Zalacznik"
