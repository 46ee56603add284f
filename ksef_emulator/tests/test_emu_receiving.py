"""Receiving: metadata query filters and paging, download by KSeF number, exports and HWM.

Raw HTTP and crypto written here; every response is also checked against open-api.json by the
emulator itself (``validateResponses``)."""
import base64
import datetime
import hashlib
import io
import json
import os
import tarfile
import zipfile
import zlib

import pytest
import requests
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from conftest import OAEP, b64, fa3_invoice, random_nip, sha256_b64


def seed(api, buyer, count=1, seller=None, **invoice_kwargs):
    """Seed ``count`` purchase invoices for ``buyer``; returns the admin answers in order."""
    items = []
    for _ in range(count):
        xml = fa3_invoice("FZ/%s" % os.urandom(4).hex(), seller_nip=seller or random_nip(), buyer_nip=buyer,
                          **invoice_kwargs)
        items.append({"xmlBase64": b64(xml)})
    return api.emu.admin("/purchase-invoices", {"invoices": items})["invoices"]


def ago(minutes=5):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return moment.isoformat()


def query(api, access, filters, **params):
    return api.post("/invoices/query/metadata", access, json=filters, params=params)


def buyer_filters(date_type="PermanentStorage", start=None, **extra):
    filters = {"subjectType": "Subject2", "dateRange": {"dateType": date_type, "from": start or ago(60)}}
    filters.update(extra)
    return filters


@pytest.fixture
def buyer(api):
    """A fresh buyer NIP (no earlier invoices) with an InvoiceRead access token."""
    nip = random_nip()
    # long-lived access token: several tests move the clock by hours or days
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 0, "accessTokenTtlSeconds": 30 * 24 * 3600})
    return nip, api.access_token(nip, ["InvoiceRead"])


def test_seeded_purchase_invoice_is_found_by_the_buyer_and_downloadable(api, buyer):
    nip, access = buyer
    seller = random_nip()
    seeded = seed(api, nip, seller=seller)[0]
    response = query(api, access, buyer_filters())
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["ksefNumber"] for item in body["invoices"]] == [seeded["ksefNumber"]]
    metadata = body["invoices"][0]
    assert metadata["seller"]["nip"] == seller
    assert metadata["buyer"]["identifier"] == {"type": "Nip", "value": nip}
    assert (metadata["netAmount"], metadata["vatAmount"], metadata["grossAmount"]) == (100.0, 23.0, 123.0)
    assert body["hasMore"] is False and body["isTruncated"] is False
    assert body["permanentStorageHwmDate"]

    download = api.get("/invoices/ksef/%s" % seeded["ksefNumber"], access)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("application/xml")
    assert download.headers["x-ms-meta-hash"] == sha256_b64(download.content) == seeded["invoiceHash"]

    # the seller sees nothing as Subject1 in the buyer's context
    assert query(api, access, dict(buyer_filters(), subjectType="Subject1")).json()["invoices"] == []


def test_download_errors_unknown_and_not_yet_stored(api, buyer):
    nip, access = buyer
    unknown = api.get("/invoices/ksef/%s" % "5265877635-20250101-0123456789AB-00", access)
    assert unknown.status_code == 400 and unknown.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21164
    api.emu.admin("/config", {"permanentStorageDelaySeconds": 3600})
    pending = seed(api, nip)[0]
    response = api.get("/invoices/ksef/%s" % pending["ksefNumber"], access)
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21165
    # not yet in permanent storage: invisible to queries as well
    assert query(api, access, buyer_filters()).json()["invoices"] == []
    api.emu.admin("/clock", {"advanceSeconds": 3601})
    assert api.get("/invoices/ksef/%s" % pending["ksefNumber"], access).status_code == 200


def test_an_invoice_sent_online_is_visible_to_seller_and_buyer(api):
    seller, buyer_nip = random_nip(), random_nip()
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 0})
    seller_access = api.access_token(seller, ["InvoiceWrite", "InvoiceRead"])
    session, key, iv = api.open_session(seller_access)
    xml = fa3_invoice("FV/%s" % os.urandom(4).hex(), seller_nip=seller, buyer_nip=buyer_nip)
    sent = api.send(seller_access, session, key, iv, xml).json()
    status = api.wait_invoice(seller_access, session, sent["referenceNumber"])
    assert status["status"]["code"] == 200, status
    as_seller = query(api, seller_access, dict(buyer_filters(), subjectType="Subject1")).json()["invoices"]
    assert [item["ksefNumber"] for item in as_seller] == [status["ksefNumber"]]
    buyer_access = api.access_token(buyer_nip, ["InvoiceRead"])
    as_buyer = query(api, buyer_access, buyer_filters()).json()["invoices"]
    assert [item["ksefNumber"] for item in as_buyer] == [status["ksefNumber"]]
    assert api.get("/invoices/ksef/%s" % status["ksefNumber"], buyer_access).content == xml


def test_filters_narrow_the_result(api, buyer):
    nip, access = buyer
    seller = random_nip()
    vat = seed(api, nip, seller=seller)[0]
    other = seed(api, nip)[0]
    correction = seed(api, nip, seller=seller, rodzaj="KOR")
    all_numbers = {vat["ksefNumber"], other["ksefNumber"], correction[0]["ksefNumber"]}

    def numbers(**extra):
        response = query(api, access, buyer_filters(**extra), pageSize=250)
        assert response.status_code == 200, response.text
        return {item["ksefNumber"] for item in response.json()["invoices"]}

    assert numbers() == all_numbers
    assert numbers(sellerNip=seller) == {vat["ksefNumber"], correction[0]["ksefNumber"]}
    assert numbers(ksefNumber=other["ksefNumber"]) == {other["ksefNumber"]}
    assert numbers(invoiceNumber=vat["invoiceNumber"]) == {vat["ksefNumber"]}
    assert numbers(invoiceTypes=["Kor"]) == {correction[0]["ksefNumber"]}
    assert numbers(amount={"type": "Brutto", "from": 123, "to": 123}) == all_numbers
    assert numbers(amount={"type": "Netto", "from": 100.01}) == set()
    assert numbers(amount={"type": "Vat", "to": 22.99}) == set()
    assert numbers(currencyCodes=["EUR"]) == set()
    assert numbers(currencyCodes=["PLN"]) == all_numbers
    assert numbers(buyerIdentifier={"type": "Nip", "value": nip}) == all_numbers
    assert numbers(buyerIdentifier={"type": "VatUe"}) == set()
    assert numbers(invoicingMode="Online") == all_numbers
    assert numbers(invoicingMode="Offline") == set()
    assert numbers(isSelfInvoicing=True) == set()
    assert numbers(hasAttachment=False) == all_numbers
    assert numbers(formType="FA") == all_numbers
    assert numbers(formType="PEF") == set()
    today = datetime.date.today().isoformat()
    issue = query(api, access, buyer_filters("Issue", start=today + "T00:00:00")).json()
    assert {item["ksefNumber"] for item in issue["invoices"]} == all_numbers
    assert "permanentStorageHwmDate" not in issue or issue["permanentStorageHwmDate"] is None
    in_range = query(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "Invoicing", "from": ago(60), "to": ago(30)}}).json()
    assert in_range["invoices"] == []


def test_date_range_rules(api, buyer):
    _, access = buyer
    # open-api.json 2.9.0 InvoiceQueryDateRange: at most "100 dni w strefie UTC" (was 3 months).
    too_long = query(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "Issue", "from": "2026-01-01T00:00:00Z", "to": "2026-04-11T00:00:00.001Z"}})
    assert too_long.status_code == 400
    assert "100 dni" in " ".join(too_long.json()["exception"]["exceptionDetailList"][0]["details"])
    hundred_days = query(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "Issue", "from": "2026-01-01T00:00:00+01:00", "to": "2026-04-11T00:00:00+01:00"}})
    assert hundred_days.status_code == 200
    reversed_range = query(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "Issue", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}})
    assert reversed_range.status_code == 400
    bad_size = query(api, access, buyer_filters(), pageSize=5)
    assert bad_size.status_code == 400
    assert bad_size.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405


def test_paging_and_sort_order(api, buyer):
    nip, access = buyer
    seeded = []
    for _ in range(12):
        seeded.append(seed(api, nip)[0]["ksefNumber"])
        api.emu.admin("/clock", {"advanceSeconds": 1})
    first = query(api, access, buyer_filters(), pageSize=10).json()
    second = query(api, access, buyer_filters(), pageSize=10, pageOffset=10).json()
    assert [i["ksefNumber"] for i in first["invoices"]] == seeded[:10] and first["hasMore"] is True
    assert [i["ksefNumber"] for i in second["invoices"]] == seeded[10:] and second["hasMore"] is False
    assert first["isTruncated"] is False and second["isTruncated"] is False
    exact = query(api, access, buyer_filters(), pageSize=12).json()
    assert exact["hasMore"] is False
    beyond = query(api, access, buyer_filters(), pageSize=10, pageOffset=20).json()
    assert beyond["invoices"] == [] and beyond["hasMore"] is False
    descending = query(api, access, buyer_filters(), pageSize=10, sortOrder="Desc").json()
    assert [i["ksefNumber"] for i in descending["invoices"]] == list(reversed(seeded))[:10]
    # the HWM is at (or before) now and after every stored invoice
    last_storage = exact["invoices"][-1]["permanentStorageDate"]
    assert exact["permanentStorageHwmDate"] >= last_storage


def test_truncation_then_move_from_covers_everything(api, buyer):
    nip, access = buyer
    api.emu.admin("/config", {"receivingTruncationLimit": 12})
    seeded = []
    for _ in range(15):
        seeded.append(seed(api, nip)[0]["ksefNumber"])
        api.emu.admin("/clock", {"advanceSeconds": 1})
    page1 = query(api, access, buyer_filters(), pageSize=10).json()
    assert page1["hasMore"] is True and page1["isTruncated"] is False
    page2 = query(api, access, buyer_filters(), pageSize=10, pageOffset=10).json()
    assert len(page2["invoices"]) == 2
    assert page2["hasMore"] is True and page2["isTruncated"] is True
    over_cap = query(api, access, buyer_filters(), pageSize=10, pageOffset=12)
    assert over_cap.status_code == 400 and "dateRange.from" in over_cap.text
    # documented continuation: from = the last record's date, pageOffset = 0, dedupe by KSeF number
    start = page2["invoices"][-1]["permanentStorageDate"]
    rest = query(api, access, buyer_filters(start=start), pageSize=10).json()
    assert rest["hasMore"] is False and rest["isTruncated"] is False
    collected = [i["ksefNumber"] for i in page1["invoices"] + page2["invoices"] + rest["invoices"]]
    assert list(dict.fromkeys(collected)) == seeded


def test_hwm_restriction_and_21183(api, buyer):
    nip, access = buyer
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 30})
    older = seed(api, nip)[0]
    api.emu.admin("/clock", {"advanceSeconds": 60})
    newer = seed(api, nip)[0]  # stored 60 s later: above the HWM (now - 30 s)
    body = query(api, access, dict(buyer_filters(), dateRange={
        "dateType": "PermanentStorage", "from": ago(10), "restrictToPermanentStorageHwmDate": True})).json()
    assert [i["ksefNumber"] for i in body["invoices"]] == [older["ksefNumber"]]
    hwm = body["permanentStorageHwmDate"]
    unrestricted = query(api, access, buyer_filters(start=ago(10))).json()
    assert [i["ksefNumber"] for i in unrestricted["invoices"]] == [older["ksefNumber"], newer["ksefNumber"]]
    # the HWM is the newest permanent storage date (of any invoice) at or below now - lag
    assert body["invoices"][0]["permanentStorageDate"] <= hwm < unrestricted_newer_date(api, access)
    # stable across pages and sort orders of the same query
    again = query(api, access, dict(buyer_filters(), dateRange={
        "dateType": "PermanentStorage", "from": ago(10), "restrictToPermanentStorageHwmDate": True}),
        sortOrder="Desc", pageOffset=10).json()
    assert again["permanentStorageHwmDate"] == hwm
    # an explicit older "to" is the HWM of that window
    older_to = query(api, access, dict(buyer_filters(), dateRange={
        "dateType": "PermanentStorage", "from": ago(10), "to": ago(9)})).json()
    assert older_to["permanentStorageHwmDate"] < hwm
    # the next window starts at the HWM (inclusive: a boundary invoice may come again, dedupe by number)
    api.emu.admin("/clock", {"advanceSeconds": 60})
    after = query(api, access, dict(buyer_filters(), dateRange={
        "dateType": "PermanentStorage", "from": hwm, "restrictToPermanentStorageHwmDate": True})).json()
    assert after["invoices"][-1]["ksefNumber"] == newer["ksefNumber"]
    both = [i["ksefNumber"] for i in body["invoices"] + after["invoices"]]
    assert list(dict.fromkeys(both)) == [older["ksefNumber"], newer["ksefNumber"]]
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)).isoformat()
    refused = query(api, access, dict(buyer_filters(), dateRange={
        "dateType": "PermanentStorage", "from": future, "restrictToPermanentStorageHwmDate": True}))
    assert refused.status_code == 400
    assert refused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21183


def unrestricted_newer_date(api, access):
    invoices = query(api, access, buyer_filters(start=ago(10))).json()["invoices"]
    return invoices[-1]["permanentStorageDate"]


# -- exports ---------------------------------------------------------------------------------------
def export_encryption(api):
    key, iv = os.urandom(32), os.urandom(16)
    rsa_key, key_id = api.public_key("SymmetricKeyEncryption")
    return key, iv, {"encryptedSymmetricKey": b64(rsa_key.encrypt(key, OAEP)), "initializationVector": b64(iv),
                     "publicKeyId": key_id}


def aes_decrypt(key, iv, data):
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def run_export(api, access, filters, compression="Zip", only_metadata=False):
    key, iv, encryption = export_encryption(api)
    started = api.post("/invoices/exports", access, json={"encryption": encryption, "filters": filters,
                                                          "compressionType": compression, "onlyMetadata": only_metadata})
    assert started.status_code == 201, started.text
    status = api.get("/invoices/exports/%s" % started.json()["referenceNumber"], access).json()
    return key, iv, status


def unpack(key, iv, status, compression="Zip"):
    archive = b""
    for part in sorted(status["package"]["parts"], key=lambda p: p["ordinalNumber"]):
        encrypted = requests.get(part["url"], timeout=30).content  # pre-signed: no bearer token
        assert hashlib.sha256(encrypted).digest() == base64.b64decode(part["encryptedPartHash"])
        assert len(encrypted) == part["encryptedPartSize"]
        plain = aes_decrypt(key, iv, encrypted)
        assert sha256_b64(plain) == part["partHash"] and len(plain) == part["partSize"]
        archive += plain
    if compression == "TarGz":
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}
    with zipfile.ZipFile(io.BytesIO(archive)) as package:
        return {name: package.read(name) for name in package.namelist()}


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_export_package_decrypts_and_unpacks_in_several_parts(api, buyer, compression):
    nip, access = buyer
    api.emu.admin("/config", {"exportPartSizeBytes": 700})
    seeded = seed(api, nip, count=3)
    key, iv, status = run_export(api, access, buyer_filters(), compression)
    assert status["status"]["code"] == 200, status
    package = status["package"]
    assert package["invoiceCount"] == 3 and package["isTruncated"] is False
    assert len(package["parts"]) >= 2
    files = unpack(key, iv, status, compression)
    assert set(files) == {"%s.xml" % s["ksefNumber"] for s in seeded} | {"_metadata.json"}
    for item in seeded:
        assert sha256_b64(files["%s.xml" % item["ksefNumber"]]) == item["invoiceHash"]
    metadata = json.loads(files["_metadata.json"])["invoices"]
    assert [m["ksefNumber"] for m in metadata] == [s["ksefNumber"] for s in seeded]
    assert "lastPermanentStorageDate" not in package  # documented: only in a truncated package
    assert package["permanentStorageHwmDate"]


def deflated_size(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(compressor.compress(data)) + len(compressor.flush())


def test_export_package_is_cut_at_the_compressed_size_limit(api, buyer):
    """The package stops at 1 GB of compressed invoices (config ``exportMaxPackageBytes``), then
    ``isTruncated`` with the last date; ``_metadata.json`` does not count."""
    nip, access = buyer
    seeded = seed(api, nip, count=3)
    xmls = [api.get("/invoices/ksef/%s" % item["ksefNumber"], access).content for item in seeded]
    api.emu.admin("/config", {"exportMaxPackageBytes": deflated_size(xmls[0]) + deflated_size(xmls[1])})
    key, iv, status = run_export(api, access, buyer_filters())
    package = status["package"]
    assert package["invoiceCount"] == 2 and package["isTruncated"] is True
    files = unpack(key, iv, status)
    assert set(files) == {"%s.xml" % s["ksefNumber"] for s in seeded[:2]} | {"_metadata.json"}
    metadata = json.loads(files["_metadata.json"])["invoices"]
    assert [m["ksefNumber"] for m in metadata] == [s["ksefNumber"] for s in seeded[:2]]
    assert package["lastPermanentStorageDate"] == metadata[-1]["permanentStorageDate"]
    # metadata only: no invoice bytes, so only the count limit applies
    _, _, only_metadata = run_export(api, access, buyer_filters(), only_metadata=True)
    assert only_metadata["package"]["invoiceCount"] == 3 and only_metadata["package"]["isTruncated"] is False
    # an invoice larger than the whole limit still travels alone (the client always progresses)
    api.emu.admin("/config", {"exportMaxPackageBytes": 1})
    _, _, alone = run_export(api, access, buyer_filters())
    assert alone["package"]["invoiceCount"] == 1 and alone["package"]["isTruncated"] is True


def test_export_only_metadata_and_bad_key(api, buyer):
    nip, access = buyer
    seeded = seed(api, nip)[0]
    key, iv, status = run_export(api, access, buyer_filters(), only_metadata=True)
    files = unpack(key, iv, status)
    assert list(files) == ["_metadata.json"]
    assert json.loads(files["_metadata.json"])["invoices"][0]["ksefNumber"] == seeded["ksefNumber"]
    _, _, encryption = export_encryption(api)
    encryption["encryptedSymmetricKey"] = b64(os.urandom(256))
    started = api.post("/invoices/exports", access, json={"encryption": encryption, "filters": buyer_filters()})
    status = api.get("/invoices/exports/%s" % started.json()["referenceNumber"], access).json()
    assert status["status"]["code"] == 415 and "package" not in status


def test_export_part_link_needs_a_valid_signature(api, buyer):
    nip, access = buyer
    seed(api, nip)
    _, _, status = run_export(api, access, buyer_filters())
    url = status["package"]["parts"][0]["url"]
    assert requests.get(url, timeout=30).status_code == 200
    assert requests.get(url.replace("sig=", "sig=0"), timeout=30).status_code == 403
    api.emu.admin("/clock", {"advanceSeconds": 7200})
    assert requests.get(url, timeout=30).status_code == 403  # expired link
    fresh = api.get("/invoices/exports/%s" % url.split("/storage/exports/")[1].split("/")[0], access).json()
    assert requests.get(fresh["package"]["parts"][0]["url"], timeout=30).status_code == 200


def test_export_status_in_progress_and_concurrency_limit(api, buyer):
    nip, access = buyer
    api.emu.admin("/config", {"exportProcessingDelaySeconds": 600, "maxConcurrentExports": 2})
    references = []
    for _ in range(2):
        _, _, status = run_export(api, access, buyer_filters())
        assert status["status"]["code"] == 100 and "package" not in status
    _, _, encryption = export_encryption(api)
    third = api.post("/invoices/exports", access, json={"encryption": encryption, "filters": buyer_filters()})
    assert third.status_code == 400
    assert third.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21182
    api.emu.admin("/clock", {"advanceSeconds": 601})
    again = api.post("/invoices/exports", access, json={"encryption": encryption, "filters": buyer_filters()})
    assert again.status_code == 201
    references.append(again.json()["referenceNumber"])
    api.emu.admin("/clock", {"advanceSeconds": 601})
    assert api.get("/invoices/exports/%s" % references[0], access).json()["status"]["code"] == 200
    api.emu.admin("/clock", {"advanceSeconds": 8 * 24 * 3600})
    assert api.get("/invoices/exports/%s" % references[0], access).status_code == 410


def test_incremental_export_windows_are_adjacent_and_complete(api, buyer):
    """The documented HWM algorithm: truncated -> from = lastPermanentStorageDate; else from = HWM."""
    nip, access = buyer
    api.emu.admin("/config", {"receivingTruncationLimit": 3, "permanentStorageHwmLagSeconds": 5})
    seeded = []
    for _ in range(7):
        seeded.append(seed(api, nip)[0]["ksefNumber"])
        api.emu.admin("/clock", {"advanceSeconds": 2})
    checkpoint = ago(10)
    received = []
    truncated_seen = False
    for _ in range(10):
        filters = {"subjectType": "Subject2", "dateRange": {"dateType": "PermanentStorage", "from": checkpoint,
                                                            "restrictToPermanentStorageHwmDate": True}}
        key, iv, status = run_export(api, access, filters, only_metadata=True)
        assert status["status"]["code"] == 200, status
        package = status["package"]
        received += [m["ksefNumber"] for m in json.loads(unpack(key, iv, status)["_metadata.json"])["invoices"]]
        if package["isTruncated"]:
            truncated_seen = True
            checkpoint = package["lastPermanentStorageDate"]
        else:
            assert package["permanentStorageHwmDate"] >= checkpoint
            if checkpoint == package["permanentStorageHwmDate"]:
                break
            checkpoint = package["permanentStorageHwmDate"]
    assert truncated_seen
    # the last 2 s of invoices are above the HWM (lag 5 s) until time moves on
    api.emu.admin("/clock", {"advanceSeconds": 10})
    filters = {"subjectType": "Subject2", "dateRange": {"dateType": "PermanentStorage", "from": checkpoint,
                                                        "restrictToPermanentStorageHwmDate": True}}
    key, iv, status = run_export(api, access, filters, only_metadata=True)
    received += [m["ksefNumber"] for m in json.loads(unpack(key, iv, status)["_metadata.json"])["invoices"]]
    assert list(dict.fromkeys(received)) == seeded


def test_export_from_after_hwm_gives_status_420(api, buyer):
    _, access = buyer
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)).isoformat()
    _, _, status = run_export(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "PermanentStorage", "from": future, "restrictToPermanentStorageHwmDate": True}})
    assert status["status"]["code"] == 420


def test_third_subject_and_authorized_subject_roles(api):
    third, authorized, buyer_nip = random_nip(), random_nip(), random_nip()
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 0})
    xml = fa3_invoice("FZ/%s" % os.urandom(4).hex(), seller_nip=random_nip(), buyer_nip=buyer_nip).replace(
        b"</Podmiot2>", (
            "</Podmiot2><Podmiot3><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Odbiorca</Nazwa></DaneIdentyfikacyjne>"
            "<Rola>2</Rola></Podmiot3><PodmiotUpowazniony><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Komornik</Nazwa>"
            "</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Sądowa 3</AdresL1></Adres>"
            "<RolaPU>1</RolaPU></PodmiotUpowazniony>" % (third, authorized)).encode("utf-8"))
    number = api.emu.admin("/purchase-invoices", {"invoices": [{"xmlBase64": b64(xml)}]})["invoices"][0]["ksefNumber"]
    for nip, subject_type in ((third, "Subject3"), (authorized, "SubjectAuthorized")):
        access = api.access_token(nip, ["InvoiceRead"])
        found = query(api, access, dict(buyer_filters(), subjectType=subject_type)).json()["invoices"]
        assert [item["ksefNumber"] for item in found] == [number]
        assert query(api, access, buyer_filters()).json()["invoices"] == []  # not the buyer
        assert api.get("/invoices/ksef/%s" % number, access).content == xml
    stranger = api.access_token(random_nip(), ["InvoiceRead"])
    denied = api.get("/invoices/ksef/%s" % number, stranger)
    assert denied.status_code == 400 and denied.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21164


def internal_id_access(api, internal_id):
    """An InvoiceRead access token in an InternalId context (KSeF token issued for that context)."""
    token = api.emu.admin("/tokens", {"nip": internal_id, "contextType": "InternalId",
                                      "permissions": ["InvoiceRead"]})["token"]
    challenge = api.challenge()
    rsa_key, key_id = api.public_key("KsefTokenEncryption")
    init = api.post("/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "InternalId", "value": internal_id},
        "encryptedToken": b64(rsa_key.encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), OAEP)),
        "publicKeyId": key_id}).json()
    assert api.wait_auth(init)["status"]["code"] == 200
    redeemed = api.post("/auth/token/redeem", init["authenticationToken"]["token"])
    assert redeemed.status_code == 200, redeemed.text
    return redeemed.json()["accessToken"]["token"]


def test_export_subject_type_not_allowed_for_the_context_type_gives_21181(api):
    parent = random_nip()
    internal_id = "%s-%05d" % (parent, int.from_bytes(os.urandom(2), "big") % 100000)
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 0})
    # the subunit appears on an invoice only as Podmiot3 with its internal identifier (IDWew)
    xml = fa3_invoice("FZ/%s" % os.urandom(4).hex(), seller_nip=random_nip(), buyer_nip=parent).replace(
        b"</Podmiot2>", ("</Podmiot2><Podmiot3><DaneIdentyfikacyjne><IDWew>%s</IDWew><Nazwa>Oddział</Nazwa>"
                         "</DaneIdentyfikacyjne><Rola>2</Rola></Podmiot3>" % internal_id).encode("utf-8"))
    number = api.emu.admin("/purchase-invoices", {"invoices": [{"xmlBase64": b64(xml)}]})["invoices"][0]["ksefNumber"]
    access = internal_id_access(api, internal_id)
    _, _, encryption = export_encryption(api)
    for subject_type in ("Subject1", "Subject2", "SubjectAuthorized"):
        refused = api.post("/invoices/exports", access, json={
            "encryption": encryption, "filters": dict(buyer_filters(), subjectType=subject_type)})
        assert refused.status_code == 400, refused.text
        error = refused.json()["exception"]["exceptionDetailList"][0]
        assert error["exceptionCode"] == 21181 and error["exceptionDescription"] == "Nieprawidłowe żądanie eksportu faktur."
        assert "(%s)" % subject_type in error["details"][0] and "(InternalId)" in error["details"][0]
    problem = api.post("/invoices/exports", access, headers={"X-Error-Format": "problem-details"}, json={
        "encryption": encryption, "filters": buyer_filters()})
    assert problem.status_code == 400 and problem.json()["errors"][0]["code"] == 21181
    key, iv, status = run_export(api, access, dict(buyer_filters(), subjectType="Subject3"))
    assert status["status"]["code"] == 200
    assert "%s.xml" % number in unpack(key, iv, status)
    # a NIP context may export every subject type
    nip_access = api.access_token(parent, ["InvoiceRead"])
    for subject_type in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized"):
        assert run_export(api, nip_access, dict(buyer_filters(), subjectType=subject_type))[2]["status"]["code"] == 200


def test_seed_with_permanent_storage_date_and_single_xml_form(api, buyer):
    nip, access = buyer
    stored = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=20)).replace(microsecond=0)
    xml = fa3_invoice("FZ/%s" % os.urandom(4).hex(), seller_nip=random_nip(), buyer_nip=nip)
    seeded = api.emu.admin("/purchase-invoices", {"xml": b64(xml), "permanentStorageDate": stored.isoformat()})
    number = seeded["invoices"][0]["ksefNumber"]
    window = query(api, access, {"subjectType": "Subject2", "dateRange": {
        "dateType": "PermanentStorage", "from": (stored - datetime.timedelta(hours=1)).isoformat(),
        "to": (stored + datetime.timedelta(hours=1)).isoformat()}}).json()
    assert [i["ksefNumber"] for i in window["invoices"]] == [number]
    assert window["invoices"][0]["permanentStorageDate"].startswith(stored.strftime("%Y-%m-%dT%H:%M:%S"))
    # an explicit, older "to" is the HWM of that window
    assert window["permanentStorageHwmDate"].startswith((stored + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))


def test_seed_command_line(api, buyer, tmp_path):
    import subprocess
    import sys
    from ksef_emulator.testing import REPO_ROOT
    nip, access = buyer
    path = tmp_path / "zakup.xml"
    path.write_bytes(fa3_invoice("FZ/%s" % os.urandom(4).hex(), seller_nip=random_nip(), buyer_nip=nip))
    done = subprocess.run([sys.executable, "-m", "ksef_emulator", "seed", "--url", api.emu.base_url, str(path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    number = json.loads(done.stdout)["invoices"][0]["ksefNumber"]
    assert [i["ksefNumber"] for i in query(api, access, buyer_filters()).json()["invoices"]] == [number]
    path.write_bytes(b"<Faktura/>")
    refused = subprocess.run([sys.executable, "-m", "ksef_emulator", "seed", "--url", api.emu.base_url, str(path)],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "seeding refused (400)" in refused.stderr and "430" in refused.stderr
