"""validate_fa3 findings name the field and line; build output hygiene."""
from datetime import datetime

import pytest

import fa3_cases
from ksef_protocol.fa3 import Fa3ValidationError, build_fa3, parse_fa3, validate_fa2, validate_fa3
from ksef_protocol.fa3.schema import get_schema


def _errors(xml):
    with pytest.raises(Fa3ValidationError) as info:
        validate_fa3(xml)
    return info.value.errors


def test_fa3_invalid_rate_names_the_line_field_and_allowed_values():
    xml = build_fa3(fa3_cases.vat_basic()).replace(b"<P_12>5</P_12>", b"<P_12>6</P_12>")
    (finding,) = _errors(xml)
    assert finding.path == "Fa/FaWiersz[3]/P_12"
    assert finding.line == xml[:xml.index(b"<P_12>6")].count(b"\n") + 1
    assert "'6'" in finding.message and "np II" in finding.message and "0 WDT" in finding.message
    assert str(finding).startswith("Fa/FaWiersz[3]/P_12 (line %d): " % finding.line)


def test_fa3_bad_amount_names_the_total_field():
    xml = build_fa3(fa3_cases.vat_basic()).replace(b"<P_15>", b"<P_15>1,")
    (finding,) = _errors(xml)
    assert finding.path == "Fa/P_15"
    assert "TKwotowy" in finding.message


def test_fa3_missing_mandatory_element_is_named():
    xml = build_fa3(fa3_cases.vat_basic()).replace(b"<P_2>FV/2026/02/001</P_2>", b"")
    errors = _errors(xml)
    assert any("P_2" in e.message and "Expected" in e.message for e in errors), errors


def test_fa3_bom_and_processing_instructions_are_refused():
    xml = build_fa3(fa3_cases.vat_basic())
    assert any("BOM" in e for e in _errors(b"\xef\xbb\xbf" + xml))
    with_pi = xml.replace(b"<Faktura", b"<?xml-stylesheet href='a.xsl'?>\n<Faktura", 1)
    assert any("processing instruction" in e for e in _errors(with_pi))


def test_fa3_other_encoding_declaration_is_refused():
    xml = build_fa3(fa3_cases.vat_basic()).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-2"')
    assert any("only UTF-8" in e for e in _errors(xml.decode("utf-8").encode("iso-8859-2")))


def test_fa3_control_characters_in_parsed_text_are_reported():
    xml = build_fa3(fa3_cases.vat_basic()).replace(b"Catering", "Cater\u0085ing\u0090".encode("utf-8"))
    errors = _errors(xml)
    assert [e.path for e in errors] == ["Fa/FaWiersz[2]/P_7"]


def test_fa3_builder_strips_control_characters_and_collapses_spaces():
    invoice = fa3_cases.vat_basic()
    invoice.lines[0].description = "Usługa\x7f  doradcza\u0091\n(luty)"
    xml = build_fa3(invoice)
    validate_fa3(xml)
    assert parse_fa3(xml).lines[0].description == "Usługa doradcza (luty)"


def test_fa3_not_xml_gives_a_finding_not_a_crash():
    errors = _errors(b"<Faktura><unclosed></Faktura>")
    assert errors[0].line == 1 and "not well-formed" in errors[0]
    with pytest.raises(Fa3ValidationError, match="not an FA\\(3\\) invoice"):
        parse_fa3(b"<Other/>")


def test_fa3_validate_requires_bytes():
    with pytest.raises(TypeError, match="bytes"):
        validate_fa3(build_fa3(fa3_cases.vat_basic()).decode("utf-8"))


def test_fa3_output_is_deterministic_and_without_bom():
    first, second = build_fa3(fa3_cases.third_parties()), build_fa3(fa3_cases.third_parties())
    assert first == second
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Faktura ')
    assert first.count(b"<?") == 1


def test_fa3_created_at_must_be_timezone_aware():
    invoice = fa3_cases.vat_basic()
    invoice.created_at = datetime(2026, 2, 2, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_fa3(invoice)


def test_fa3_invalid_buyer_nip_is_refused_before_xml():
    invoice = fa3_cases.vat_basic()
    invoice.buyer.nip = "1234567890"
    with pytest.raises(Fa3ValidationError) as info:
        build_fa3(invoice)
    assert info.value.errors[0].path == "Podmiot2/DaneIdentyfikacyjne/NIP"


def test_fa3_schemas_are_compiled_once_and_fa2_is_available():
    assert get_schema("FA3") is get_schema("FA3")
    assert get_schema("FA2") is get_schema("FA2")
    with pytest.raises(Fa3ValidationError):  # an FA(3) document is not FA(2)
        validate_fa2(build_fa3(fa3_cases.vat_basic()))
