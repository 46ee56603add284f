"""Collective identifiers (IZ): format, local checks, and the four endpoints against the emulator."""
import base64
import datetime
import random
from decimal import Decimal

import pytest

from _core_invoices import make_invoice
from ksef_protocol import KsefBadRequest, ksef_crc8
from ksef_protocol.api_collective import (CollectiveInvoice, check_request, find_collective_identifiers,
                                          find_ksef_numbers, is_valid_collective_identifier)


def nip():
    while True:
        digits = "%d%08d" % (random.randint(1, 9), random.randint(0, 10 ** 8 - 1))
        check = sum(int(d) * w for d, w in zip(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7))) % 11
        if check != 10 and digits[1:3] != "00":  # the FA(3) NIP pattern
            return digits + str(check)


def ksef_number(seller="5265877635", technical="0100001AF629"):
    head = "%s-20261201-%s" % (seller, technical)
    return "%s-%s" % (head, ksef_crc8(head))


def test_documented_examples_check_out_over_the_first_32_characters():
    # open-api.json 2.9.0: the response example and the IZ inside the continuation-token example.
    assert is_valid_collective_identifier("1111111111-IZ202607-65ED02180000-E7")
    assert is_valid_collective_identifier("8631941578-IZ202607-323B52184000-CD")
    assert not is_valid_collective_identifier("1111111111-IZ202607-65ED02180000-E8")
    assert not is_valid_collective_identifier("1111111111-IZ202613-65ED02180000-E7")  # month 13
    label = "Przelew za FV 1/2026 1111111111-IZ202607-65ED02180000-E7, x1111111111-IZ202607-65ED02180000-E8"
    assert find_collective_identifiers(label) == ["1111111111-IZ202607-65ED02180000-E7"]
    number = ksef_number()
    assert find_ksef_numbers("zapłata %s %s" % (number.lower(), number[:-1] + "0")) == [number]


def test_local_checks_say_what_is_wrong():
    a, b = ksef_number(technical="0100001AF629"), ksef_number(technical="0100001AF62A")
    with pytest.raises(ValueError, match="2 to 500"):
        check_request([a])
    with pytest.raises(ValueError, match="repeated"):
        check_request([a, a])
    with pytest.raises(ValueError, match="same seller"):
        check_request([a, ksef_number(seller="1111111111")])
    with pytest.raises(ValueError, match="amount and the currency"):
        check_request([CollectiveInvoice(a, Decimal("1")), b])
    assert [i.to_request() for i in check_request([{"ksef_number": a, "amount": "12.30", "currency": "PLN"}, b])] \
        == [{"ksefNumber": a, "payment": {"amount": 12.3, "currency": "PLN"}}, {"ksefNumber": b}]


@pytest.fixture
def parties(emulator):
    """Three invoices seller -> buyer seeded in the emulator; (seller, buyer, numbers)."""
    seller, buyer = nip(), nip()
    items = [{"xmlBase64": base64.b64encode(make_invoice(seller=seller, buyer=buyer)).decode()} for _ in range(3)]
    numbers = [item["ksefNumber"] for item in emulator.admin("/purchase-invoices", {"invoices": items})["invoices"]]
    return seller, buyer, numbers


def login(emulator, client, nip_value, permissions=("InvoiceRead",)):
    client.authenticate_with_ksef_token(nip_value, emulator.create_token(nip_value, list(permissions))["token"])
    return client


def test_generate_query_and_list_against_the_emulator(emulator, emulator_client, parties):
    seller, buyer, numbers = parties
    client = login(emulator, emulator_client, buyer)
    invoices = [CollectiveInvoice(n, Decimal("123.00"), "PLN", "FV %d" % i) for i, n in enumerate(numbers)]
    number, created = client.obtain_collective_identifier(invoices)
    assert created and is_valid_collective_identifier(number) and number.startswith(seller + "-IZ")
    # The same invoices and amounts again: the existing IZ, not a second one.
    assert client.obtain_collective_identifier(invoices) == (number, False)
    # Other amounts are another payment: a new IZ.
    other, created = client.obtain_collective_identifier([i._replace(amount=Decimal("1")) for i in invoices])
    assert created and other != number
    now = datetime.datetime.now(datetime.timezone.utc)
    listed = list(client.iter_collective_identifiers(now - datetime.timedelta(days=1), now + datetime.timedelta(hours=1),
                                                     page_size=10))
    assert {i.number for i in listed} == {number, other} and all(i.invoice_count == 3 for i in listed)
    held = list(client.iter_collective_identifier_invoices([number]))
    assert sorted(i.ksef_number for i in held) == sorted(numbers)
    assert all(i.amount == Decimal("123") and i.currency == "PLN" and not i.details_hidden for i in held)
    assert {i.number for i in client.iter_collective_identifiers_for_invoice(numbers[0])} == {number, other}
    with pytest.raises(ValueError, match="100 days"):
        list(client.iter_collective_identifiers(now - datetime.timedelta(days=101), now))


@pytest.mark.parametrize("code", [71001, 71004, 71005])
def test_refusals_carry_their_codes(emulator, emulator_client, parties, code):
    seller, buyer, numbers = parties
    client = login(emulator, emulator_client, buyer)
    if code == 71001:
        with pytest.raises(KsefBadRequest) as caught:
            client.generate_collective_identifier(numbers[:1] + [ksef_number(seller=seller)])
        assert caught.value.codes == {71001}
        return
    if code == 71004:
        stranger = base64.b64encode(make_invoice(seller=nip(), buyer=buyer)).decode()
        request = numbers[:1] + [emulator.admin("/purchase-invoices", {"invoices": [{"xmlBase64": stranger}]})
                                 ["invoices"][0]["ksefNumber"]]
    else:
        request = [numbers[0], numbers[0]]
    # Both are caught before sending; the raw request shows KSeF's own answer.
    with pytest.raises(ValueError, match="same seller" if code == 71004 else "repeated"):
        client.generate_collective_identifier(request)
    with pytest.raises(KsefBadRequest) as caught:
        client._request("POST", "/collective-identifiers", json={"invoices": [{"ksefNumber": n} for n in request]},
                        expected=(201,))
    assert caught.value.codes == {code}


@pytest.mark.parametrize("fault", [{"kind": "drop"}, {"kind": "status", "status": 500}])
def test_a_lost_answer_is_looked_up_not_asked_twice(emulator, emulator_client, parties, fault):
    _seller, buyer, numbers = parties
    client = login(emulator, emulator_client, buyer)
    emulator.admin("/faults", dict(fault, pathPattern="^/v2/collective-identifiers$", method="POST", count=1))
    try:
        number, created = client.obtain_collective_identifier(numbers)
    finally:
        emulator.admin("/faults", method="DELETE")
    assert created and is_valid_collective_identifier(number)
    assert [i.number for i in client.iter_collective_identifiers_for_invoice(numbers[0])] == [number]
