"""The known FA(3) mistakes of other modules (issue 7 "traps"), as tests."""
from decimal import Decimal as D

import pytest
from lxml import etree

import fa3_cases
from ksef_protocol.fa3 import (FA3_NAMESPACE, Fa3ValidationError, bucket_of, build_fa3, compute_totals,
                               validate_fa3)
from ksef_protocol.fa3.model import Annotations, BucketAmount, Line, Totals

NS = {"f": FA3_NAMESPACE}


def _xml(invoice):
    xml = build_fa3(invoice)
    validate_fa3(xml)
    return etree.fromstring(xml)


def _texts(root, path):
    return [e.text for e in root.xpath(path, namespaces=NS)]


# --- a 5% line must not become 8% or "zw" ---------------------------------

def test_fa3_five_percent_line_stays_five_percent():
    invoice = fa3_cases._invoice("FV/T/1", [Line("Książka", "5", "szt.", D(2), D("40.00"), net=D("80.00"))])
    root = _xml(invoice)
    assert _texts(root, "//f:FaWiersz/f:P_12") == ["5"]
    assert _texts(root, "//f:P_13_3") == ["80.00"] and _texts(root, "//f:P_14_3") == ["4.00"]
    for other in ("P_13_1", "P_13_2", "P_13_7", "P_13_6_1"):
        assert not root.xpath("//f:" + other, namespaces=NS)
    assert _texts(root, "//f:Zwolnienie/f:P_19N") == ["1"]


def test_fa3_rate_buckets_follow_the_schema():
    assert [bucket_of(r) for r in ("23", "22", "8", "7", "5", "4", "3")] == ["1", "1", "2", "2", "3", "4", "4"]
    assert [bucket_of(r) for r in ("0 KR", "0 WDT", "0 EX", "zw", "np I", "np II", "oo")] == \
        ["6_1", "6_2", "6_3", "7", "8", "9", "10"]


@pytest.mark.parametrize("wrong", ["5%", "0", "np", "VAT5", None])
def test_fa3_unknown_rate_is_refused_not_guessed(wrong):
    with pytest.raises(ValueError, match="Unknown FA\\(3\\) tax rate"):
        bucket_of(wrong)


def test_fa3_totals_must_match_the_line_rate():
    invoice = fa3_cases._invoice("FV/T/2", [Line("Książka", "5", "szt.", D(1), D("40.00"), net=D("40.00"))],
                                 totals=Totals({"2": BucketAmount(D("40.00"), D("3.20"))}, D("43.20")))
    with pytest.raises(Fa3ValidationError) as info:
        build_fa3(invoice)
    assert [f.path for f in info.value.errors] == ["Fa/FaWiersz[1]/P_12"]
    assert "P_13_3" in info.value.errors[0]


# --- credit note signs --------------------------------------------------------

def test_fa3_quantity_correction_has_negative_quantity_and_positive_price():
    root = _xml(fa3_cases.correction_outside_ksef())
    assert _texts(root, "//f:FaWiersz/f:P_8B") == ["-2"]
    assert _texts(root, "//f:FaWiersz/f:P_9A") == ["899.00"]
    assert _texts(root, "//f:FaWiersz/f:P_11") == ["-1798.00"]
    assert _texts(root, "//f:P_13_1") == ["-1798.00"] and _texts(root, "//f:P_14_1") == ["-413.54"]
    assert _texts(root, "//f:P_15") == ["-2211.54"]
    assert _texts(root, "//f:DaneFaKorygowanej/f:NrKSeFN") == ["1"]


def test_fa3_amount_correction_has_positive_quantity_and_negative_price():
    root = _xml(fa3_cases.correction_ksef())
    assert _texts(root, "//f:FaWiersz/f:P_8B") == ["5"]
    assert _texts(root, "//f:FaWiersz/f:P_9A") == ["-20.00"]
    assert _texts(root, "//f:P_15") == ["-123.00"]
    assert _texts(root, "//f:DaneFaKorygowanej/f:NrKSeF") == ["1"]
    assert _texts(root, "//f:TypKorekty") == ["2"]


def test_fa3_before_after_correction_totals_are_the_difference():
    root = _xml(fa3_cases.correction_before_after())
    assert _texts(root, "//f:FaWiersz/f:StanPrzed") == ["1"]
    assert _texts(root, "//f:FaWiersz/f:P_11") == ["1000.00", "800.00"]
    assert _texts(root, "//f:P_13_1") == ["-200.00"] and _texts(root, "//f:P_15") == ["-246.00"]


def test_fa3_correction_without_corrected_invoice_is_refused():
    invoice = fa3_cases.correction_ksef()
    invoice.correction.invoices = []
    with pytest.raises(Fa3ValidationError, match="DaneFaKorygowanej"):
        build_fa3(invoice)


# --- P_13_9 on advance invoices for services -----------------------------------

def test_fa3_advance_for_eu_services_uses_p_13_9():
    invoice = fa3_cases.advance_services_np()
    invoice.totals = compute_totals(invoice)  # from the order lines (np II)
    assert list(invoice.totals.buckets) == ["9"]
    root = _xml(fa3_cases.advance_services_np())
    assert _texts(root, "//f:P_13_9") == ["5000.00"]
    assert not root.xpath("//f:P_13_8", namespaces=NS)
    assert _texts(root, "//f:RodzajFaktury") == ["ZAL"]
    assert _texts(root, "//f:Adnotacje/f:P_18") == ["1"]


# --- PrefiksPodatnika ----------------------------------------------------------

def test_fa3_seller_prefix_is_written_first_in_podmiot1():
    root = _xml(fa3_cases.cash_accounting_self_billing())
    podmiot1 = root.find("f:Podmiot1", NS)
    assert etree.QName(podmiot1[0]).localname == "PrefiksPodatnika" and podmiot1[0].text == "PL"


def test_fa3_seller_prefix_other_than_pl_is_refused():
    invoice = fa3_cases.vat_basic()
    invoice.seller.vat_prefix = "DE"
    with pytest.raises(Fa3ValidationError) as info:
        build_fa3(invoice)
    assert info.value.errors[0].path == "Podmiot1/PrefiksPodatnika"


def test_fa3_no_prefix_written_unless_asked():
    root = _xml(fa3_cases.vat_basic())
    assert not root.xpath("//f:PrefiksPodatnika", namespaces=NS)


def test_fa3_eu_buyer_number_is_split_into_code_and_number():
    root = _xml(fa3_cases.intra_eu_supply())
    assert _texts(root, "//f:Podmiot2//f:KodUE") == ["ES"]
    assert _texts(root, "//f:Podmiot2//f:NrVatUE") == ["B12345678"]
    invoice = fa3_cases.intra_eu_supply()
    invoice.buyer.eu_vat_number = "ESB12345678"
    with pytest.raises(Fa3ValidationError, match="without its country prefix"):
        build_fa3(invoice)


# --- P_19 only with an exempt line ----------------------------------------------

def test_fa3_exemption_basis_without_exempt_line_gives_p_19n():
    invoice = fa3_cases.vat_basic()
    invoice.annotations = Annotations(exemption_basis_kind="A", exemption_basis="art. 43 ust. 1 pkt 1")
    root = _xml(invoice)
    assert _texts(root, "//f:Zwolnienie/f:P_19N") == ["1"]
    assert not root.xpath("//f:P_19 | //f:P_19A", namespaces=NS)


def test_fa3_exempt_line_writes_p_19_with_its_basis():
    root = _xml(fa3_cases.exempt_act())
    assert _texts(root, "//f:Zwolnienie/f:P_19") == ["1"]
    assert _texts(root, "//f:Zwolnienie/f:P_19A") == ["art. 43 ust. 1 pkt 29 lit. c ustawy o VAT"]
    assert _texts(root, "//f:P_13_7") == ["3200.00"]
    assert not root.xpath("//f:P_19N", namespaces=NS)


def test_fa3_exempt_line_without_basis_is_refused_naming_the_field():
    invoice = fa3_cases.exempt_act()
    invoice.annotations = Annotations()
    with pytest.raises(Fa3ValidationError) as info:
        build_fa3(invoice)
    assert info.value.errors[0].path == "Fa/Adnotacje/Zwolnienie/P_19A"
    assert "legal basis" in info.value.errors[0]


def test_fa3_reverse_charge_line_needs_p_18():
    invoice = fa3_cases.reverse_charge()
    invoice.annotations = Annotations()
    with pytest.raises(Fa3ValidationError, match="P_18"):
        build_fa3(invoice)
