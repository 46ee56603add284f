"""1,000 FA(3) invoices of mixed types: each one builds, validates against
the XSD and parses back to the same data.  The time is printed (run with
``-s`` to see it), not asserted."""
import random
import time
from decimal import Decimal as D

import fa3_cases
from ksef_protocol.fa3 import build_fa3, compute_totals, parse_fa3, validate_fa3
from ksef_protocol.fa3.model import Line

RATES = ("23", "8", "5", "0 KR", "zw")


def _variant(rng, index):
    """A case from the catalogue with a fresh number and, for plain VAT
    invoices, random extra lines (so totals differ from invoice to invoice)."""
    name = sorted(fa3_cases.CASES)[index % len(fa3_cases.CASES)]
    invoice = fa3_cases.CASES[name]()
    invoice.number = "BULK/%04d/%s" % (index, invoice.number)
    if invoice.kind == "VAT" and invoice.currency == "PLN" and not invoice.annotations.margin_scheme:
        for _ in range(rng.randint(0, 6)):
            rate = rng.choice(RATES[:4] if not invoice.annotations.exemption_basis else RATES)
            qty = D(rng.randint(1, 50))
            price = D(rng.randint(1, 500000)) / 100
            invoice.lines.append(Line("Pozycja %d" % rng.randint(1, 999), rate, "szt.", qty, price,
                                      net=(qty * price).quantize(D("0.01"))))
        invoice.totals = compute_totals(invoice)
    return name, invoice


def test_fa3_build_and_validate_1000_mixed_invoices():
    rng = random.Random(20260202)
    started = time.perf_counter()
    kinds = set()
    for index in range(1000):
        name, invoice = _variant(rng, index)
        xml = build_fa3(invoice)
        validate_fa3(xml)
        assert parse_fa3(xml) == invoice, name
        kinds.add(invoice.kind)
    elapsed = time.perf_counter() - started
    print("\nFA(3): built, validated and parsed 1000 invoices in %.2f s (%.2f ms per invoice)"
          % (elapsed, elapsed))
    assert kinds == {"VAT", "KOR", "ZAL", "ROZ", "KOR_ZAL", "KOR_ROZ"}
