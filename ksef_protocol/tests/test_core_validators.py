"""Known-answer tests for NIP and KSeF-number checksums (vectors from the official docs)."""
import pytest

from ksef_protocol.validators import is_valid_ksef_number, is_valid_nip, ksef_crc8

# Every KSeF number quoted in ksef-docs (numer-ksef.md, UPO examples, sesja-*.md, open-api.json).
DOC_KSEF_NUMBERS = [
    "5265877635-20250626-010080DD2B5E-26",
    "5265877635-20250826-0100001AF629-AF",
    "5265877635-20250916-010040741B3E-46",
    "5265877635-20250916-0100C002FF3E-D5",
    "5265877635-20250916-02000009FF3E-FB",
    "5265877635-20250916-020000583241-84",
    "5265877635-20250916-0200A0D6723E-C2",
    "5265877635-20250925-010020A0A242-0A",
    "5555555555-20250828-010080615740-E4",
]


@pytest.mark.parametrize("number", DOC_KSEF_NUMBERS)
def test_documented_ksef_numbers_have_valid_crc(number):
    assert len(number) == 35
    assert ksef_crc8(number[:32]) == number[33:]
    assert is_valid_ksef_number(number)


@pytest.mark.parametrize("number", DOC_KSEF_NUMBERS)
def test_crc_covers_the_hyphens(number):
    # Computing over the digits only must not reproduce the documented checksum.
    without_hyphens = number[:32].replace("-", "")
    assert ksef_crc8(without_hyphens) != number[33:]


@pytest.mark.parametrize("number", DOC_KSEF_NUMBERS)
def test_any_single_character_change_is_detected(number):
    for position in (0, 12, 25, 31):
        original = number[position]
        replacement = "7" if original != "7" else "8"
        mutated = number[:position] + replacement + number[position + 1:]
        assert not is_valid_ksef_number(mutated), mutated


def test_ksef_crc8_reference_value():
    # CRC-8/SMBUS (poly 0x07, init 0) check value for "123456789" is 0xF4.
    assert ksef_crc8("123456789") == "F4"


def test_malformed_ksef_numbers_rejected():
    assert not is_valid_ksef_number("5265877635-20250626-010080dd2b5e-26")  # lowercase hex
    assert not is_valid_ksef_number("5265877635-20250626-010080DD2B5E-2")
    assert not is_valid_ksef_number("")
    assert not is_valid_ksef_number(None)


def test_legacy_36_character_numbers_accepted_structurally():
    legacy = "5265877635-20230101-0100A0-D6723E-C2"
    assert len(legacy) == 36
    assert is_valid_ksef_number(legacy)
    assert not is_valid_ksef_number(legacy, allow_legacy=False)
    assert not is_valid_ksef_number("5265877635-20230101-0100A0-D6723-C2")


@pytest.mark.parametrize("nip", ["5265877635", "1111111111", "5555555555", "PL 526-587-76-35", "7740001454"])
def test_valid_nips(nip):
    assert is_valid_nip(nip)


@pytest.mark.parametrize("nip", ["5265877636", "123456789", "12345678901", "abcdefghij", "", None,
                                 "1234567890"])
def test_invalid_nips(nip):
    # 1234567890: weighted sum mod 11 is 10, never a valid check digit.
    assert not is_valid_nip(nip)
