"""Seeding purchase invoices through the admin API."""
import base64
import os

import pytest

from ksef_emulator.testing import EmulatorError

from conftest import BUYER_NIP, fa3_invoice, random_nip, sha256_b64


def test_seeded_invoice_is_stored_with_ksef_number(api):
    seller = random_nip()
    xml = fa3_invoice("ZAKUP/%s" % os.urandom(3).hex(), seller_nip=seller, buyer_nip=BUYER_NIP)
    result = api.emu.admin("/purchase-invoices", {"invoices": [{"xmlBase64": base64.b64encode(xml).decode()}]})
    item = result["invoices"][0]
    assert item["sellerNip"] == seller and item["buyerNip"] == BUYER_NIP
    assert item["invoiceHash"] == sha256_b64(xml)
    assert item["ksefNumber"].startswith(seller + "-")


def test_invalid_seed_is_refused_with_the_reason(api):
    with pytest.raises(EmulatorError) as error:
        api.emu.admin("/purchase-invoices", {"invoices": [{"xml": "<Faktura/>"}]})
    assert "rejected (430)" in str(error.value)
