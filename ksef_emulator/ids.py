"""Identifiers: reference numbers and KSeF numbers."""
import os


def reference_number(kind, moment):
    """``YYYYMMDD-KK-XXXXXXXXXX-XXXXXXXXXX-XX`` (36 chars), e.g. kind ``SO`` online session,
    ``SB`` batch session, ``EE`` invoice, ``AU`` authentication, ``TK`` token, ``EX`` export."""
    raw = os.urandom(11).hex().upper()
    return "%s-%s-%s-%s-%s" % (moment.strftime("%Y%m%d"), kind, raw[:10], raw[10:20], raw[20:22])


def crc8(text):
    """CRC-8, polynomial 0x07, init 0, no reflection, no final XOR (numer-ksef.md)."""
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def ksef_number(seller_nip, moment):
    """``NIP-YYYYMMDD-12HEX-CC`` where CC is the CRC-8 of the first 32 characters (hyphens included)."""
    head = "%s-%s-%s" % (seller_nip, moment.strftime("%Y%m%d"), os.urandom(6).hex().upper())
    return "%s-%02X" % (head, crc8(head))


def is_valid_nip(nip):
    """10 digits with the mod-11 checksum (weights 6,5,7,2,3,4,5,6,7)."""
    if not (isinstance(nip, str) and len(nip) == 10 and nip.isdigit()):
        return False
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(nip, weights)) % 11
    return check != 10 and check == int(nip[9])
