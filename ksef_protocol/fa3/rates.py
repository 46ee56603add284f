"""FA(3) tax rates (TStawkaPodatku) and the P_13_x / P_14_x summary buckets.

Bucket keys are the suffixes of the summary fields: bucket "6_2" means
P_13_6_2.  Which rate goes to which bucket follows the field descriptions in
``schemat_FA(3)_v1-0E.xsd``:

=========  =================================================  ======
bucket     meaning                                            rates
=========  =================================================  ======
1          basic rate (P_13_1, P_14_1, P_14_1W)               23, 22
2          first reduced rate                                 8, 7
3          second reduced rate                                5
4          flat rate for taxi (ryczałt)                       4, 3
5          OSS special procedure (P_12_XII on lines)          --
6_1        0% domestic                                        0 KR
6_2        0% intra-EU supply of goods (WDT)                  0 WDT
6_3        0% export                                          0 EX
7          exempt                                             zw
8          outside Poland, except art. 100 services           np I
9          services of art. 100 ust. 1 pkt 4 (EU B2B)         np II
10         domestic reverse charge                            oo
11         margin scheme (art. 119 / 120)                     --
=========  =================================================  ======
"""
from decimal import Decimal, ROUND_HALF_UP
from typing import Dict, Iterable, Optional

from .model import BucketAmount, Invoice, Line, Totals

TAX_RATES = ("23", "22", "8", "7", "5", "4", "3", "0 KR", "0 WDT", "0 EX", "zw", "oo", "np I", "np II")

BUCKETS = ("1", "2", "3", "4", "5", "6_1", "6_2", "6_3", "7", "8", "9", "10", "11")
# Buckets that carry a tax amount (P_14_x); P_14_5 is optional, the rest have none.
TAXED_BUCKETS = ("1", "2", "3", "4", "5")
# Buckets with a P_14_xW (tax in PLN for foreign-currency invoices).
PLN_TAX_BUCKETS = ("1", "2", "3", "4")

_RATE_TO_BUCKET = {
    "23": "1", "22": "1", "8": "2", "7": "2", "5": "3", "4": "4", "3": "4",
    "0 KR": "6_1", "0 WDT": "6_2", "0 EX": "6_3", "zw": "7", "np I": "8", "np II": "9", "oo": "10",
}
CENT = Decimal("0.01")


def rate_percent(rate: Optional[str]) -> Decimal:
    """The numeric percentage of a rate code ("23" -> 23, "zw"/"0 WDT" -> 0)."""
    if rate and rate.isdigit():
        return Decimal(rate)
    return Decimal(0)


def bucket_of(rate: Optional[str], *, oss: bool = False, margin: bool = False) -> str:
    """The summary bucket of a line: OSS lines go to "5", margin-scheme lines
    without a rate to "11", otherwise the rate decides.

    Raises ValueError for a rate FA(3) does not know, so that e.g. a "5" is
    never silently reported as "8" or "zw".
    """
    if oss:
        return "5"
    if rate is None and margin:
        return "11"
    try:
        return _RATE_TO_BUCKET[rate]
    except KeyError:
        raise ValueError(
            "Unknown FA(3) tax rate %r: use one of %s" % (rate, ", ".join(TAX_RATES))) from None


def round_money(value: Decimal) -> Decimal:
    """Round half up to grosze, the rounding of the Polish VAT act."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _line_gross(line: Line) -> Optional[Decimal]:
    return line.gross if line.net is None else None


def compute_totals(invoice: Invoice, exchange_rate: Optional[Decimal] = None) -> Totals:
    """Summarise ``invoice.lines`` (or, when it has none, ``invoice.order``
    lines of an advance invoice) into P_13_x / P_14_x / P_15.

    Tax is computed per rate on the bucket sum (gross-price lines: the tax
    contained in the gross sum), unless every line of the bucket states its
    own ``vat``.  Rows marked ``before_correction`` (StanPrzed) are
    subtracted, so a before/after correction yields the difference.
    ``exchange_rate`` (or the lines' ``exchange_rate``) converts the tax to
    PLN for P_14_xW when the currency is not PLN.

    Callers that know the tax already (the Odoo layer) build ``Totals``
    themselves; this helper serves pure callers and tests.
    """
    margin = bool(invoice.annotations.margin_scheme)
    sums: Dict[tuple, Dict[str, Decimal]] = {}
    lines: Iterable = invoice.lines or (invoice.order.lines if invoice.order else [])
    rates_seen: Dict[str, Optional[Decimal]] = {}
    for line in lines:
        sign = -1 if line.before_correction else 1
        key = (bucket_of(line.rate, oss=line.oss_rate is not None, margin=margin), line.rate, line.oss_rate)
        acc = sums.setdefault(key, {"net": Decimal(0), "gross": Decimal(0), "vat": Decimal(0),
                                    "has_gross": False, "all_vat": True})
        gross = getattr(line, "gross", None)
        if line.net is not None:
            acc["net"] += sign * line.net
        elif gross is not None:
            acc["gross"] += sign * gross
            acc["has_gross"] = True
        if line.vat is None:
            acc["all_vat"] = False
        else:
            acc["vat"] += sign * line.vat
        rates_seen.setdefault(key[0], getattr(line, "exchange_rate", None))

    buckets: Dict[str, BucketAmount] = {}
    for (bucket, rate, oss_rate), acc in sums.items():
        pct = oss_rate if oss_rate is not None else rate_percent(rate)
        if acc["has_gross"]:
            gross_tax = round_money(acc["gross"] * pct / (100 + pct))
            net = acc["net"] + acc["gross"] - gross_tax
            tax = gross_tax + (round_money(acc["net"] * pct / 100) if acc["net"] else 0)
        else:
            net = acc["net"]
            tax = acc["vat"] if acc["all_vat"] else round_money(net * pct / 100)
        current = buckets.get(bucket)
        if current is None:
            current = buckets[bucket] = BucketAmount(net=Decimal(0), tax=Decimal(0))
        current.net = round_money(current.net + net)
        current.tax = round_money(current.tax + tax)

    total = Decimal(0)
    for bucket, amount in buckets.items():
        total += amount.net + (amount.tax or 0)
        if bucket not in TAXED_BUCKETS:
            amount.tax = None
        rate = exchange_rate or rates_seen.get(bucket)
        if invoice.currency != "PLN" and bucket in PLN_TAX_BUCKETS and rate:
            amount.tax_pln = round_money(amount.tax * rate)
    ordered = {key: buckets[key] for key in BUCKETS if key in buckets}
    return Totals(buckets=ordered, total=round_money(total))
