"""Collective identifiers (IZ) in the emulator, over raw HTTP (open-api.json 2.9.0 rules)."""
import datetime
import os

from conftest import b64, fa3_invoice, random_nip

from ksef_emulator.handlers.collective import MAX_IDENTIFIERS_PER_INVOICE
from ksef_emulator.ids import crc8


def seed(api, seller, buyer, count):
    items = [{"xmlBase64": b64(fa3_invoice("IZ/%s" % os.urandom(4).hex(), seller_nip=seller, buyer_nip=buyer))}
             for _ in range(count)]
    return [item["ksefNumber"] for item in api.emu.admin("/purchase-invoices", {"invoices": items})["invoices"]]


def parties(api):
    seller, buyer = random_nip(), random_nip()
    return seller, buyer, api.access_token(seller, ["InvoiceRead"]), api.access_token(buyer, ["InvoiceRead"])


def generate(api, token, numbers, amount=None):
    items = [dict({"ksefNumber": n}, **({"payment": {"amount": amount, "currency": "PLN"}} if amount else {}))
             for n in numbers]
    return api.post("/collective-identifiers", token, json={"invoices": items})


def codes(response):
    assert response.status_code == 400, response.text
    return [(e["exceptionCode"], e["details"]) for e in response.json()["exception"]["exceptionDetailList"]]


def window(days_before=1, days_after=1):
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"dateCreatedFrom": (now - datetime.timedelta(days=days_before)).isoformat(),
            "dateCreatedTo": (now + datetime.timedelta(days=days_after)).isoformat()}


def test_buyer_generates_an_iz_with_a_valid_number_and_both_sides_see_it(api):
    seller, buyer, seller_token, buyer_token = parties(api)
    numbers = seed(api, seller, buyer, 3)
    response = generate(api, buyer_token, numbers, amount=123.0)
    assert response.status_code == 201, response.text
    number = response.json()["collectiveIdentifierNumber"]
    assert len(number) == 35 and number.startswith(seller + "-IZ" + datetime.date.today().strftime("%Y%m"))
    assert number[33:] == "%02X" % crc8(number[:32])
    # The seller (Podmiot1) sees it in its query; not created in its context.
    listed = api.post("/collective-identifiers/query", seller_token, json=window()).json()["collectiveIdentifiers"]
    assert [(i["collectiveIdentifierNumber"], i["invoiceCount"], i["createdInCurrentContext"]) for i in listed] \
        == [(number, 3, False)]
    mine = api.post("/collective-identifiers/query", buyer_token, json=window()).json()["collectiveIdentifiers"]
    assert mine[0]["createdInCurrentContext"] is True
    # Invoices: sorted by KSeF number descending, payment visible to the seller (a role on the invoice).
    invoices = api.post("/collective-identifiers/invoices", seller_token,
                        json={"collectiveIdentifierNumbers": [number]}).json()["invoices"]
    assert [i["ksefNumber"] for i in invoices] == sorted(numbers, reverse=True)
    assert all(i["payment"] == {"amount": 123.0, "currency": "PLN"} and not i["detailsHidden"] for i in invoices)
    by_number = api.get("/collective-identifiers/ksef/%s" % numbers[0], buyer_token).json()["collectiveIdentifiers"]
    assert [i["collectiveIdentifierNumber"] for i in by_number] == [number]


def test_refusals_71001_71004_71005_and_validation(api):
    seller, buyer, _seller_token, buyer_token = parties(api)
    numbers = seed(api, seller, buyer, 2)
    other = seed(api, random_nip(), buyer, 1)
    stranger = seed(api, random_nip(), random_nip(), 1)
    assert codes(generate(api, buyer_token, [numbers[0], numbers[0]]))[0] == (
        71005, ["Powtórzony numer KSeF %s." % numbers[0]])
    assert codes(generate(api, buyer_token, numbers + stranger))[0] == (
        71001, ["Faktura o numerze KSeF %s nie została znaleziona." % stranger[0]])
    assert codes(generate(api, buyer_token, numbers + other))[0] == (
        71004, ["Faktura o numerze KSeF %s ma innego sprzedawcę." % other[0]])
    assert codes(generate(api, buyer_token, numbers[:1]))[0][0] == 21405  # minItems 2
    api.emu.admin("/config", {"permanentStorageDelaySeconds": 3600})
    fresh = seed(api, seller, buyer, 1)
    assert codes(generate(api, buyer_token, numbers + fresh))[0][0] == 71001  # not in permanent storage yet


def test_at_most_132_identifiers_per_invoice_per_context(api):
    seller, buyer, seller_token, buyer_token = parties(api)
    numbers = seed(api, seller, buyer, 2)
    for _ in range(MAX_IDENTIFIERS_PER_INVOICE):
        assert generate(api, buyer_token, numbers).status_code == 201
    assert codes(generate(api, buyer_token, numbers)) == [
        (71002, ["Faktura o numerze KSeF %s jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych."
                 % n for n in numbers])]
    # The limit is per context: the seller may still create its own.
    assert generate(api, seller_token, numbers).status_code == 201
    # Paging of the by-number list (pageSize 10..200) with x-continuation-token; the seller sees the
    # buyer's IZs too (it is Podmiot1 on the invoices), the buyer only its own.
    seen, token = [], None
    while True:
        headers = {"x-continuation-token": token} if token else None
        page = api.get("/collective-identifiers/ksef/%s" % numbers[0], seller_token, params={"pageSize": 100},
                       headers=headers).json()
        seen += page["collectiveIdentifiers"]
        token = page.get("continuationToken")
        if not token:
            break
    assert len(seen) == MAX_IDENTIFIERS_PER_INVOICE + 1 and len({i["collectiveIdentifierNumber"] for i in seen}) == len(seen)
    assert sum(i["createdInCurrentContext"] for i in seen) == 1
    assert len(api.get("/collective-identifiers/ksef/%s" % numbers[0], buyer_token,
                       params={"pageSize": 200}).json()["collectiveIdentifiers"]) == MAX_IDENTIFIERS_PER_INVOICE


def test_query_rules_range_paging_filters_and_hidden_details(api):
    seller, buyer, _seller_token, buyer_token = parties(api)
    numbers = seed(api, seller, buyer, 3)
    created = [generate(api, buyer_token, numbers[:2] if i % 2 else numbers, amount=10.0).json()
               ["collectiveIdentifierNumber"] for i in range(12)]
    assert codes(api.post("/collective-identifiers/query", buyer_token, json=window(60, 41)))[0][0] == 21405
    first = api.post("/collective-identifiers/query", buyer_token, json=window()).json()
    assert len(first["collectiveIdentifiers"]) == 10 and first["continuationToken"]
    second = api.post("/collective-identifiers/query", buyer_token, json=window(),
                      headers={"x-continuation-token": first["continuationToken"]}).json()
    listed = first["collectiveIdentifiers"] + second["collectiveIdentifiers"]
    assert sorted(i["collectiveIdentifierNumber"] for i in listed) == sorted(created)
    assert listed == sorted(listed, key=lambda i: (i["dateCreated"], i["collectiveIdentifierNumber"]), reverse=True)
    three = api.post("/collective-identifiers/query", buyer_token, json=dict(window(), invoiceCountFrom=3)).json()
    assert len(three["collectiveIdentifiers"]) == 6
    assert codes(api.post("/collective-identifiers/query", buyer_token, json=window(),
                          headers={"x-continuation-token": "not-a-token"}))[0][0] == 21418
    # A third party that only knows the number sees neither it nor (if it had a role) hidden details.
    outsider = api.access_token(random_nip(), ["InvoiceRead"])
    assert api.post("/collective-identifiers/invoices", outsider,
                    json={"collectiveIdentifierNumbers": created[:1]}).json()["invoices"] == []
    assert codes(api.post("/collective-identifiers/invoices", buyer_token,
                          json={"collectiveIdentifierNumbers": created[:11]}))[0][0] == 21405


def test_permissions_and_rate_limit_group(api):
    seller, buyer, _seller_token, _buyer_token = parties(api)
    numbers = seed(api, seller, buyer, 2)
    no_rights = api.access_token(buyer, ["CredentialsRead"])
    response = generate(api, no_rights, numbers)
    assert response.status_code == 403
    assert response.json()["security"]["requiredAnyOfPermissions"] == [
        "InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage"]
    api.emu.admin("/config", {"rateLimitsEnabled": True})
    api.emu.admin("/rate-limits/reset", {})
    token = api.access_token(buyer, ["InvoiceRead"])
    statuses = [api.post("/collective-identifiers/query", token, json=window()).status_code for _ in range(21)]
    assert statuses.count(200) == 20 and statuses[-1] == 429  # 20 per second in the group
