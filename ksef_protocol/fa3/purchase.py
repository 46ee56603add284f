"""What a received FA(3) invoice books: the lines, per-rate amounts and payment facts of a vendor bill.

``plan_bill(invoice)`` turns an ``Invoice`` into a ``BillPlan`` whose figures equal the invoice's own
tax summary, whatever the kind (VAT, KOR, ZAL, ROZ, UPR, KOR_ZAL, KOR_ROZ):

- the summary (P_13_x net, P_14_x VAT, P_14_xW VAT in PLN, P_15 total) is authoritative; the lines
  (``FaWiersz``) give the detail. Per bucket, what the lines do not explain becomes one summary line:
  the advance of a ZAL (its ``Zamowienie`` lines describe the whole order), the advances a ROZ deducts,
  the changed amount of a KOR_ZAL / KOR_ROZ, the sale of a UPR without amounts per line, a rebate
  correction without lines (``TypKorekty``);
- a P_15 that differs from the sum of the summary (seller rounding) becomes a line without tax,
  reported in ``remarks``;
- the exchange rate is the invoice's (``KursWalutyZ``, else the lines' ``KursWaluty``, else derived
  from P_14_xW), never a rate of the day.

Amounts are signed as in the invoice (a decreasing correction is negative); the caller books a
negative total as a refund. ``remarks`` are codes with parameters, for the caller to word and
translate. Never imports odoo.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Dict, List, Optional

from .model import (CORRECTION_KINDS, KIND_ADVANCE, KIND_ADVANCE_CORRECTION, KIND_SETTLEMENT,
                    KIND_SETTLEMENT_CORRECTION, ROLE_FACTOR, BankAccount, Invoice, Party)
from .rates import TAXED_BUCKETS, bucket_of, rate_percent, round_money

#: Purchase-tax keys beyond the FA(3) rates: margin-scheme lines (no P_12, bucket 11) and OSS lines (bucket 5).
RATE_MARGIN = "margin"
RATE_OSS = "oss"
#: The rate a summary line of a bucket takes when no line of the invoice names one.
DEFAULT_RATE_OF_BUCKET = {
    "1": "23", "2": "8", "3": "5", "4": "4", "5": RATE_OSS, "6_1": "0 KR", "6_2": "0 WDT", "6_3": "0 EX",
    "7": "zw", "8": "np I", "9": "np II", "10": "oo", "11": RATE_MARGIN,
}
#: Units of a described payment term (TerminOpis/Jednostka) counted in days.
_DAY_UNITS = ("dzień", "dzien", "dni", "dnia", "day", "days", "d")
_WEEK_UNITS = ("tydzień", "tydzien", "tygodnie", "tygodni", "week", "weeks")

#: Kinds whose lines are expected not to add up to the summary (advances, settlements and their corrections).
_KINDS_WITH_SUMMARY_LINES = (KIND_ADVANCE, KIND_ADVANCE_CORRECTION, KIND_SETTLEMENT, KIND_SETTLEMENT_CORRECTION)
ORIGIN_LINE = "line"          # a FaWiersz row (``before`` True for a StanPrzed row)
ORIGIN_SUMMARY = "summary"    # what the summary P_13_x holds beyond the lines
ORIGIN_ROUNDING = "rounding"  # P_15 minus the sum of the summary


@dataclass
class PlanLine:
    """One bill line; ``net`` in the invoice currency, signed as in the invoice."""
    description: str
    net: Decimal
    rate: Optional[str]             # purchase-tax key: an FA(3) rate, RATE_MARGIN, RATE_OSS; None = no tax
    bucket: Optional[str]
    origin: str = ORIGIN_LINE
    quantity: Decimal = Decimal(1)
    unit_price: Optional[Decimal] = None
    unit: Optional[str] = None
    before: bool = False            # StanPrzed: the row before the correction, subtracted
    from_gross: bool = False        # net derived from a gross amount (P_11A)
    details: List[str] = field(default_factory=list)  # summary lines: order lines, advance numbers, reason


@dataclass
class PlanBucket:
    """P_13_x / P_14_x / P_14_xW of one bucket; ``tax`` None where the bucket carries no VAT."""
    key: str
    rates: List[str]
    net: Decimal
    tax: Optional[Decimal]
    tax_pln: Optional[Decimal]


@dataclass
class Remark:
    code: str
    params: Dict[str, object] = field(default_factory=dict)


@dataclass
class PaymentFacts:
    due_dates: List[date] = field(default_factory=list)
    described_terms: List[str] = field(default_factory=list)   # TerminOpis as written
    paid: bool = False
    paid_date: Optional[date] = None
    paid_amount: Optional[Decimal] = None       # Zaplacono: P_15; partial payments: their sum
    amount_due: Optional[Decimal] = None        # Rozliczenie/DoZaplaty
    amount_to_settle: Optional[Decimal] = None  # Rozliczenie/DoRozliczenia
    bank_account: Optional[BankAccount] = None
    factor: Optional[Party] = None              # set when ``bank_account`` is the factor's
    method: Optional[int] = None


@dataclass
class BillPlan:
    lines: List[PlanLine]
    buckets: Dict[str, PlanBucket]
    total: Decimal
    exchange_rate: Optional[Decimal]
    payment: PaymentFacts
    refund: bool
    remarks: List[Remark] = field(default_factory=list)


def plan_bill(invoice: Invoice, price_digits: int = 2) -> BillPlan:
    """The ``BillPlan`` of ``invoice`` (see the module docstring); ``price_digits`` is the precision
    of unit prices on the bill: a price that does not give back the line's net becomes quantity 1."""
    remarks: List[Remark] = []
    margin = bool(invoice.annotations.margin_scheme)
    lines = _lines(invoice, margin, price_digits, remarks)
    buckets = {key: PlanBucket(key, [], amount.net, amount.tax if key in TAXED_BUCKETS else None, amount.tax_pln)
               for key, amount in invoice.totals.buckets.items()}
    for line in lines:
        if line.bucket not in buckets:
            buckets[line.bucket] = PlanBucket(line.bucket, [], Decimal(0), None, None)
        if line.rate not in buckets[line.bucket].rates:
            buckets[line.bucket].rates.append(line.rate)
    for key, bucket in buckets.items():
        if not bucket.rates:
            bucket.rates = _order_rates(invoice, key) or [DEFAULT_RATE_OF_BUCKET[key]]
        if bucket.tax is None and key in TAXED_BUCKETS and key != "5":
            bucket.tax = Decimal(0)
        explained = sum((line.net for line in lines if line.bucket == key), Decimal(0))
        missing = bucket.net - explained
        gross_lines = [line for line in lines if line.bucket == key and line.from_gross]
        if missing and gross_lines and abs(missing) <= Decimal("0.01") * len(gross_lines):
            # The VAT contained in gross prices is rounded per bucket by the seller: its net wins.
            gross_lines[-1].net += missing
            gross_lines[-1].quantity, gross_lines[-1].unit_price = Decimal(1), gross_lines[-1].net
            missing = Decimal(0)
        if missing and explained and not gross_lines and invoice.kind not in _KINDS_WITH_SUMMARY_LINES:
            remarks.append(Remark("lines_differ", {"bucket": key, "lines": explained, "summary": bucket.net}))
        if missing:
            lines.append(PlanLine(description="", net=missing, rate=bucket.rates[0], bucket=key,
                                  origin=ORIGIN_SUMMARY, details=_summary_details(invoice, key)))
    summary_total = sum((b.net + (b.tax or 0) for b in buckets.values()), Decimal(0))
    total = invoice.totals.total if invoice.totals.total is not None else summary_total
    if total != summary_total:
        remarks.append(Remark("total_differs", {"total": total, "summary": summary_total}))
        lines.append(PlanLine(description="", net=total - summary_total, rate=None, bucket=None,
                              origin=ORIGIN_ROUNDING))
    exchange_rate = _exchange_rate(invoice, buckets, remarks)
    if exchange_rate:
        for bucket in buckets.values():
            if bucket.tax_pln is None and bucket.tax is not None:
                bucket.tax_pln = round_money(bucket.tax * exchange_rate)
    refund = invoice.kind in CORRECTION_KINDS and total < 0
    return BillPlan(lines=lines, buckets=buckets, total=total, exchange_rate=exchange_rate,
                    payment=_payment(invoice, total, remarks), refund=refund, remarks=remarks)


def _lines(invoice, margin, price_digits, remarks) -> List[PlanLine]:
    result = []
    single_bucket = next(iter(invoice.totals.buckets)) if len(invoice.totals.buckets) == 1 else None
    for position, line in enumerate(invoice.lines, 1):
        net = line.net
        from_gross = net is None and line.gross is not None
        if from_gross:
            # Gross-price line (P_11A): its net is the gross minus the VAT it contains.
            pct = line.oss_rate if line.oss_rate is not None else rate_percent(line.rate)
            net = line.gross - (line.vat if line.vat is not None else round_money(line.gross * pct / (100 + pct)))
        if net is None:
            continue  # a row without amounts (UPR): the summary line carries its description
        rate = RATE_OSS if line.oss_rate is not None else line.rate
        try:
            bucket = bucket_of(line.rate, oss=line.oss_rate is not None, margin=margin)
        except ValueError:
            if single_bucket is None:
                remarks.append(Remark("line_without_rate", {"line": position, "rate": line.rate or ""}))
                continue
            bucket = single_bucket
            rate = None
        if rate is None:
            rate = RATE_MARGIN if bucket == "11" else DEFAULT_RATE_OF_BUCKET[bucket]
        sign = -1 if line.before_correction else 1
        net = sign * net
        quantity = line.quantity if line.quantity else Decimal(1)
        price = line.unit_price_net if line.unit_price_net is not None else line.unit_price_gross
        quantity = sign * abs(quantity)
        if price is None or (quantity * round(price, price_digits)).quantize(Decimal("0.01")) != net:
            quantity, price = Decimal(1), net
        result.append(PlanLine(description=line.description or line.index or "", net=net, rate=rate,
                               bucket=bucket, quantity=quantity, unit_price=price, unit=line.unit,
                               before=line.before_correction, from_gross=from_gross))
    return result


def _order_rates(invoice, bucket) -> List[str]:
    rates = []
    for line in invoice.order.lines if invoice.order else []:
        try:
            line_bucket = bucket_of(line.rate, oss=line.oss_rate is not None)
        except ValueError:
            continue
        if line_bucket == bucket and line.rate not in rates:
            rates.append(RATE_OSS if line.oss_rate is not None else line.rate)
    return rates


def _summary_details(invoice, bucket) -> List[str]:
    """What a summary line stands for: order lines (ZAL), advance invoices (ROZ), descriptions, reason."""
    if invoice.kind in (KIND_ADVANCE, KIND_ADVANCE_CORRECTION) and invoice.order:
        names = []
        for line in invoice.order.lines:
            try:
                line_bucket = bucket_of(line.rate, oss=line.oss_rate is not None)
            except ValueError:
                line_bucket = None
            if line_bucket == bucket and line.description and line.description not in names:
                names.append(line.description)
        return names
    if invoice.kind in (KIND_SETTLEMENT, KIND_SETTLEMENT_CORRECTION) and invoice.advance_invoices:
        return [ref.ksef_number or ref.number or "" for ref in invoice.advance_invoices]
    names = [line.description for line in invoice.lines if line.description and line.net is None
             and line.gross is None]
    if names:
        return names
    if invoice.correction and invoice.correction.reason:
        return [invoice.correction.reason]
    return []


def _exchange_rate(invoice, buckets, remarks) -> Optional[Decimal]:
    if not invoice.currency or invoice.currency == "PLN":
        return None
    if invoice.advance_exchange_rate:
        return invoice.advance_exchange_rate
    rates = []
    for line in invoice.lines:
        if line.exchange_rate and line.exchange_rate not in rates:
            rates.append(line.exchange_rate)
    if len(rates) > 1:
        remarks.append(Remark("several_rates", {"rates": ", ".join(str(rate) for rate in rates)}))
    if rates:
        return rates[0]
    for bucket in buckets.values():
        if bucket.tax and bucket.tax_pln:
            rate = (bucket.tax_pln / bucket.tax).quantize(Decimal("0.000001"))
            remarks.append(Remark("rate_derived", {"rate": rate}))
            return rate
    remarks.append(Remark("no_rate", {"currency": invoice.currency}))
    return None


def _payment(invoice, total, remarks) -> PaymentFacts:
    facts = PaymentFacts()
    if invoice.settlement:
        facts.amount_due = invoice.settlement.amount_due
        facts.amount_to_settle = invoice.settlement.amount_to_settle
    payment = invoice.payment
    if not payment:
        return facts
    facts.method = payment.method
    for term in payment.due_dates:
        if term.date:
            facts.due_dates.append(term.date)
            continue
        described = " ".join(str(part) for part in (term.quantity, term.unit, term.event) if part is not None)
        facts.described_terms.append(described)
        unit = (term.unit or "").strip().lower()
        if term.quantity is not None and invoice.issue_date and unit in _DAY_UNITS + _WEEK_UNITS:
            days = term.quantity * (7 if unit in _WEEK_UNITS else 1)
            facts.due_dates.append(invoice.issue_date + timedelta(days=days))
            remarks.append(Remark("due_date_described", {"term": described}))
        else:
            remarks.append(Remark("due_date_unknown", {"term": described}))
    facts.due_dates.sort()
    if payment.paid:
        facts.paid, facts.paid_date, facts.paid_amount = True, payment.paid_date, total
    elif payment.partial_payments:
        facts.paid_amount = sum((p.amount for p in payment.partial_payments), Decimal(0))
        facts.paid_date = max(p.payment_date for p in payment.partial_payments)
        facts.paid = payment.partial_marker == 2
    if payment.factor_bank_accounts:
        facts.bank_account = payment.factor_bank_accounts[0]
        facts.factor = next((party for party in invoice.third_parties if party.role == ROLE_FACTOR), None) \
            or Party(name=None)
    elif payment.bank_accounts:
        facts.bank_account = payment.bank_accounts[0]
    return facts


def company_roles(invoice: Invoice, nip: Optional[str]) -> List[str]:
    """How the company of NIP ``nip`` appears on ``invoice``: "buyer" (Podmiot2), "third:<role>:<share>"
    (Podmiot3, role number or "other", share in percent or ""), "authorized:<role>" (PodmiotUpowazniony)."""
    roles = []
    if not nip:
        return roles
    if invoice.buyer.nip == nip:
        roles.append("buyer")
    for party in invoice.third_parties:
        if nip in (party.nip, party.internal_id and party.internal_id.split("-", 1)[0]):
            role = party.role if party.role is not None else "other"
            roles.append("third:%s:%s" % (role, "" if party.share is None else party.share))
    if invoice.authorized and invoice.authorized.nip == nip:
        roles.append("authorized:%s" % (invoice.authorized.role or ""))
    return roles
