"""``plan_bill``: what a received FA(3) books, checked on third-party samples (tests/data/fa3_samples)
against their own summary fields, and on invoices built here for the cases the samples lack."""
import datetime
import os
from decimal import Decimal as D

import pytest

from ksef_protocol.fa3 import build_fa3, compute_totals, parse_fa3
from ksef_protocol.fa3.model import (AdvanceInvoiceRef, BankAccount, DueDate, Invoice, Line, Party, Payment,
                                     PartialPayment, Totals)
from ksef_protocol.fa3.purchase import (ORIGIN_ROUNDING, ORIGIN_SUMMARY, RATE_MARGIN, company_roles, plan_bill)

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "tests", "data", "fa3_samples")


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as handle:
        return parse_fa3(handle.read())


def per_bucket(plan):
    sums = {}
    for line in plan.lines:
        if line.bucket:
            sums[line.bucket] = sums.get(line.bucket, D(0)) + line.net
    return sums


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SAMPLES) if f.endswith(".xml")))
def test_every_sample_plans_its_own_summary(name):
    invoice = sample(name)
    plan = plan_bill(invoice)
    sums = per_bucket(plan)
    for key, amount in invoice.totals.buckets.items():
        assert sums.get(key, D(0)) == amount.net, "net of P_13_%s" % key
        assert plan.buckets[key].net == amount.net
    for key, value in sums.items():
        if key not in invoice.totals.buckets:
            assert value == 0
    taxes = sum((bucket.tax or D(0)) for bucket in plan.buckets.values())
    rounding = sum(line.net for line in plan.lines if line.origin == ORIGIN_ROUNDING)
    assert sum(sums.values()) + taxes + rounding == invoice.totals.total, "P_15"
    assert all(line.rate for line in plan.lines if line.origin != ORIGIN_ROUNDING), "every line has a rate"
    assert plan.refund == (invoice.kind.startswith("KOR") and invoice.totals.total < 0)


def test_advance_bills_the_advance_not_the_order():
    plan = plan_bill(sample("sdk-03_ZAL.xml"))
    [line] = plan.lines
    assert (line.origin, line.net, line.rate) == (ORIGIN_SUMMARY, D("40650.41"), "23")
    assert line.details == ["Mieszkanie 60m2 - Osiedle Sloneczne, budynek A, lokal 15"]
    assert plan.payment.paid and plan.payment.paid_date == datetime.date(2025, 10, 1)


def test_settlement_deducts_the_advances_it_lists():
    plan = plan_bill(sample("mf-example-14.xml"))
    deductions = [line for line in plan.lines if line.origin == ORIGIN_SUMMARY]
    assert sorted(line.net for line in deductions) == [D("-27322.41"), D("-399.84")]
    assert all(line.details == ["9999999999-20230908-8BEF280C8D35-4D"] for line in deductions)
    assert plan.total == D("307635")
    assert plan.payment.due_dates == [datetime.date(2026, 9, 15), datetime.date(2026, 10, 15)]


def test_seller_rounding_of_p15_becomes_a_noted_line():
    plan = plan_bill(sample("mf-example-1.xml"))
    [rounding] = [line for line in plan.lines if line.origin == ORIGIN_ROUNDING]
    assert rounding.net == D("0.01") and rounding.rate is None
    assert [remark.code for remark in plan.remarks] == ["total_differs"]


def test_foreign_currency_uses_the_invoice_rate_and_p14w():
    plan = plan_bill(sample("mf-example-20.xml"))
    assert plan.exchange_rate == D("4.5005")
    assert plan.buckets["1"].tax_pln == D("14036.16")
    assert plan.payment.factor is not None and plan.payment.bank_account.number == "73111111111111111111111111"


def test_gross_price_lines_take_the_sellers_vat():
    plan = plan_bill(sample("mf-example-19.xml"))
    assert [(line.bucket, line.rate, line.net) for line in plan.lines] == [
        ("11", RATE_MARGIN, D("2000")), ("1", "23", D("813.00"))]


def test_rebate_correction_without_lines_and_described_due_date():
    plan = plan_bill(sample("mf-example-6.xml"))
    assert plan.refund and [line.net for line in plan.lines] == [D("-40650.41")]
    assert plan.lines[0].details == ["rabat 50000 z uwagi na poziom zakupów pierwszym półroczu 2026"]
    margin = plan_bill(sample("mf-example-8.xml"))
    assert margin.payment.due_dates == [datetime.date(2026, 3, 29)]
    assert margin.payment.paid_amount == D("10000") and not margin.payment.paid


def test_roles_third_party_share_and_authorized_subject():
    invoice = sample("mf-example-11.xml")
    assert company_roles(invoice, "1111111111") == ["buyer"]
    assert company_roles(invoice, "3333333333") == ["third:4:50"]
    assert company_roles(invoice, "5555555555") == []
    xml = build_fa3(invoice).replace(
        b"<Fa>", b"<PodmiotUpowazniony><DaneIdentyfikacyjne><NIP>5555555555</NIP><Nazwa>PU</Nazwa>"
                 b"</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. A 1</AdresL1></Adres>"
                 b"<RolaPU>3</RolaPU></PodmiotUpowazniony><Fa>", 1)
    parsed = parse_fa3(xml)
    assert parsed.authorized.nip == "5555555555" and parsed.authorized.role == 3
    assert company_roles(parsed, "5555555555") == ["authorized:3"]


def test_ignored_elements_are_reported():
    assert sample("mf-example-24.xml").ignored_elements == ["Zalacznik"]
    assert sample("mf-example-5.xml").ignored_elements == ["Fa/Podmiot2K"]
    assert sample("mf-example-4.xml").ignored_elements == ["Fa/WarunkiTransakcji/Transport"]
    assert sample("sdk-01_VAT_STANDARD.xml").ignored_elements == []


def test_lines_that_disagree_with_the_summary_are_reported():
    invoice = Invoice(seller=Party(name="S", nip="9999999999"), buyer=Party(name="B", nip="1111111111"),
                      number="X/1", issue_date=datetime.date(2026, 1, 5),
                      created_at=datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc),
                      totals=Totals({}, D(0)),
                      lines=[Line("A", "22", "szt.", D(3), D("10.00"), net=D("30.00")),
                             Line("B", "7", "szt.", D(1), D("10.00"), net=D("10.00"))],
                      payment=Payment(partial_payments=[PartialPayment(D("5"), datetime.date(2026, 1, 6))],
                                      partial_marker=2, due_dates=[DueDate(quantity=2, unit="tygodnie",
                                                                           event="od dostawy")],
                                      bank_accounts=[BankAccount("PL61109010140000071219812874")]),
                      advance_invoices=[AdvanceInvoiceRef(number="Z/1")])
    invoice.totals = compute_totals(invoice)
    invoice.totals.buckets["1"].net += D("1.00")  # the seller's summary says one zloty more
    invoice.totals.total += D("1.00")
    plan = plan_bill(invoice)
    assert [(line.rate, line.net) for line in plan.lines] == [("22", D("30.00")), ("7", D("10.00")),
                                                              ("22", D("1.00"))]
    assert [remark.code for remark in plan.remarks] == ["lines_differ", "due_date_described"]
    assert plan.payment.due_dates == [datetime.date(2026, 1, 19)]
    assert plan.payment.paid and plan.payment.paid_amount == D("5")


def test_advance_in_foreign_currency_uses_kurs_waluty_z():
    invoice = sample("sdk-03_ZAL.xml")
    invoice.currency, invoice.advance_exchange_rate = "EUR", D("4.2512")
    plan = plan_bill(invoice)
    assert plan.exchange_rate == D("4.2512")
    assert plan.buckets["1"].tax_pln == D("39746.98")  # 9349.59 EUR x 4.2512 = 39746.977..., half up


def test_several_line_rates_keep_the_invoice_pln_vat():
    invoice = sample("mf-example-20.xml")
    invoice.lines[1].exchange_rate = D("4.4000")
    plan = plan_bill(invoice)
    assert plan.exchange_rate == D("4.5005")
    assert plan.buckets["1"].tax_pln == D("14036.16")
    assert [remark.code for remark in plan.remarks] == ["several_rates"]
