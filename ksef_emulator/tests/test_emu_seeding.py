"""Seeding purchase invoices through the admin API."""
import base64
import datetime
import os

import pytest
import requests

from ksef_emulator.testing import EmulatorError

from conftest import BUYER_NIP, b64, fa3_invoice, random_nip, sha256_b64


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


def _seed(api, *xmls):
    return api.emu.admin("/purchase-invoices", {"invoices": [{"xmlBase64": b64(xml)} for xml in xmls]})["invoices"]


def _seeded_for_buyer(api, buyer, number):
    access = api.access_token(buyer, ["InvoiceRead"])
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).isoformat()
    response = api.post("/invoices/query/metadata", access, json={
        "subjectType": "Subject2", "invoiceNumber": number, "dateRange": {"dateType": "PermanentStorage", "from": since}})
    assert response.status_code == 200, response.text
    return response.json()["invoices"]


def test_seeding_a_duplicate_answers_the_original_ksef_number_and_stores_nothing(api):
    seller, buyer, number = random_nip(), random_nip(), "ZAKUP/%s" % os.urandom(3).hex()
    xml = fa3_invoice(number, seller_nip=seller, buyer_nip=buyer)
    [first] = _seed(api, xml)
    assert first["duplicate"] is False and first["status"]["code"] == 200
    # same seller + RodzajFaktury + P_2 (even with another buyer): the original's number, nothing stored
    other_buyer = fa3_invoice(number, seller_nip=seller, buyer_nip=random_nip())
    response = requests.post(api.emu.root_url + "/admin/purchase-invoices", timeout=30,
                             json={"invoices": [{"xmlBase64": b64(xml)}, {"xml": other_buyer.decode()}]})
    assert response.status_code == 200  # nothing created
    again, changed = response.json()["invoices"]
    for item in (again, changed):
        assert item["duplicate"] is True and item["ksefNumber"] == first["ksefNumber"]
        assert item["invoiceHash"] == sha256_b64(xml) and item["buyerNip"] == buyer
        assert item["status"]["code"] == 440 and item["status"]["description"] == "Duplikat faktury"
        assert item["status"]["extensions"] == {"originalKsefNumber": first["ksefNumber"],
                                                "originalSessionReferenceNumber": None}
        assert first["ksefNumber"] in item["status"]["details"][0]
    assert [m["ksefNumber"] for m in _seeded_for_buyer(api, buyer, number)] == [first["ksefNumber"]]


def test_duplicates_within_one_request_and_other_keys_are_distinct(api):
    seller, buyer, number = random_nip(), random_nip(), "ZAKUP/%s" % os.urandom(3).hex()
    xml = fa3_invoice(number, seller_nip=seller, buyer_nip=buyer)
    first, second, other_seller, other_number, other_kind = _seed(
        api, xml, xml, fa3_invoice(number, seller_nip=random_nip(), buyer_nip=buyer),
        fa3_invoice(number + "A", seller_nip=seller, buyer_nip=buyer),
        fa3_invoice(number, seller_nip=seller, buyer_nip=buyer, rodzaj="UPR"))
    assert first["duplicate"] is False and second["duplicate"] is True
    assert second["ksefNumber"] == first["ksefNumber"]
    assert not (other_seller["duplicate"] or other_number["duplicate"] or other_kind["duplicate"])
    assert len({first["ksefNumber"], other_seller["ksefNumber"], other_number["ksefNumber"],
                other_kind["ksefNumber"]}) == 4


def test_seeding_and_sending_share_the_duplicate_rule(api):
    buyer = random_nip()
    # sent online first: seeding the same invoice answers the online original and its session
    number = "FV/%s" % os.urandom(3).hex()
    xml = fa3_invoice(number, buyer_nip=buyer)
    access = api.access_token()
    session, key, iv = api.open_session(access)
    sent = api.send(access, session, key, iv, xml).json()
    accepted = api.wait_invoice(access, session, sent["referenceNumber"])
    assert accepted["status"]["code"] == 200
    [seeded] = _seed(api, xml)
    assert seeded["duplicate"] is True and seeded["ksefNumber"] == accepted["ksefNumber"]
    assert seeded["status"]["extensions"]["originalSessionReferenceNumber"] == session
    # seeded first: sending the same invoice gives 440 naming the seeded original
    number = "FV/%s" % os.urandom(3).hex()
    xml = fa3_invoice(number, buyer_nip=buyer)
    [original] = _seed(api, xml)
    duplicate = api.wait_invoice(access, session, api.send(access, session, key, iv, xml).json()["referenceNumber"])
    assert duplicate["status"]["code"] == 440
    assert duplicate["status"]["extensions"] == {"originalKsefNumber": original["ksefNumber"],
                                                 "originalSessionReferenceNumber": None}
    assert original["ksefNumber"] in duplicate["status"]["details"][0]
