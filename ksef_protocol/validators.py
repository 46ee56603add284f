"""Checksums of Polish tax identifiers and KSeF numbers.

* NIP: 10 digits, weights 6,5,7,2,3,4,5,6,7, sum mod 11 equals the last digit
  (a remainder of 10 is never valid).
* KSeF number (numer-ksef.md): ``NNNNNNNNNN-YYYYMMDD-XXXXXXXXXXXX-CC``, 35 chars;
  ``CC`` is CRC-8 (poly 0x07, init 0x00, no reflection, no final XOR) over the
  first 32 characters INCLUDING the two hyphens, as 2 uppercase hex digits.
  The OpenAPI ``KsefNumber`` pattern also admits 36-char KSeF 1.0 numbers with a
  hyphen inside the technical part; no checksum rule is documented for those, so
  they are checked for structure only.
"""
import re

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
KSEF_NUMBER_RE = re.compile(r"^\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$")
LEGACY_KSEF_NUMBER_RE = re.compile(r"^\d{10}-\d{8}-[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{2}$")


def is_valid_nip(nip):
    """True when ``nip`` is 10 digits with a correct checksum (hyphens/spaces and a "PL" prefix are ignored)."""
    if not isinstance(nip, str):
        return False
    digits = re.sub(r"[\s-]", "", nip)
    if digits[:2].upper() == "PL":
        digits = digits[2:]
    if not re.fullmatch(r"\d{10}", digits):
        return False
    remainder = sum(w * int(d) for w, d in zip(NIP_WEIGHTS, digits)) % 11
    return remainder != 10 and remainder == int(digits[9])


def ksef_crc8(text):
    """CRC-8 (poly 0x07, init 0) of ``text`` as ASCII, formatted as 2 uppercase hex digits."""
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return "%02X" % crc


def is_valid_ksef_number(number, allow_legacy=True):
    """True for a 35-char KSeF number with a correct CRC-8 (or, if ``allow_legacy``, a well-formed 36-char one)."""
    if not isinstance(number, str):
        return False
    if KSEF_NUMBER_RE.match(number):
        return ksef_crc8(number[:32]) == number[33:]
    return bool(allow_legacy and LEGACY_KSEF_NUMBER_RE.match(number))
