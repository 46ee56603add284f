"""Receiving: metadata paging rules, export download/decrypt/unpack and HWM checkpoints.

Paging edge cases (10,000-record truncation) are served by the scripted local
server because they need huge data sets on a real KSeF/emulator.
"""
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from ksef_protocol import BatchArchive, KsefProtocolError, SessionKey, next_checkpoint, sha256_b64

FILTERS = {"subjectType": "Subject2",
           "dateRange": {"dateType": "PermanentStorage", "from": "2026-01-01T00:00:00Z"}}


def meta(number, stored):
    return {"ksefNumber": number, "permanentStorageDate": stored}


def test_metadata_paging_offset_and_truncation(fake_server, fake_client):
    seen = []

    def pages(method, path, headers, body):
        query = parse_qs(urlsplit(path).query)
        request = json.loads(body)
        seen.append((int(query["pageOffset"][0]), request["dateRange"]["from"]))
        offset, date_from = seen[-1]
        if date_from == "2026-01-01T00:00:00Z" and offset == 0:
            return 200, {}, {"hasMore": True, "isTruncated": False, "invoices": [meta("A", "2026-01-02"),
                                                                                  meta("B", "2026-01-03")]}
        if date_from == "2026-01-01T00:00:00Z" and offset == 1:
            # The 10,000 cap: move `from` to the last record's date, reset the offset.
            return 200, {}, {"hasMore": True, "isTruncated": True, "invoices": [meta("C", "2026-01-04")]}
        if date_from == "2026-01-04T00:00:00+01:00" and offset == 0:
            # Records at the boundary date come again and must not be yielded twice.
            return 200, {}, {"hasMore": False, "isTruncated": False, "invoices": [meta("C", "2026-01-04"),
                                                                                   meta("D", "2026-01-05")]}
        return 500, {}, b"unexpected page"

    fake_server.script("POST", "/invoices/query/metadata", [pages])
    numbers = [m["ksefNumber"] for m in fake_client.iter_invoice_metadata(FILTERS, page_size=10)]
    assert numbers == ["A", "B", "C", "D"]
    assert seen == [(0, "2026-01-01T00:00:00Z"), (1, "2026-01-01T00:00:00Z"), (0, "2026-01-04T00:00:00+01:00")]
    assert FILTERS["dateRange"]["from"] == "2026-01-01T00:00:00Z"  # caller's filters untouched
    query = parse_qs(urlsplit(fake_server.requests[0][1]).query)
    assert query["pageSize"] == ["10"] and query["sortOrder"] == ["Asc"]


def test_metadata_truncation_inside_one_timestamp_is_reported(fake_server, fake_client):
    fake_server.script("POST", "/invoices/query/metadata", [
        (200, {}, {"hasMore": True, "isTruncated": True, "invoices": [meta("A", "2026-01-01T00:00:00Z")]})])
    with pytest.raises(KsefProtocolError, match="narrow the filters"):
        list(fake_client.iter_invoice_metadata(FILTERS))


def test_metadata_filters_are_checked_before_calling(fake_server, fake_client):
    with pytest.raises(ValueError, match="subjectType"):
        list(fake_client.iter_invoice_metadata({"dateRange": FILTERS["dateRange"]}))
    with pytest.raises(ValueError, match="dateRange"):
        list(fake_client.iter_invoice_metadata({"subjectType": "Subject1"}))
    assert fake_server.requests == []


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_export_download_decrypts_concatenates_and_unpacks(fake_server, fake_client, compression):
    key = SessionKey.generate()
    invoices = {"5265877635-20260105-0100A0D6723E-00.xml": b"<Faktura>1</Faktura>" * 50,
                "5265877635-20260106-0100A0D6723E-00.xml": b"<Faktura>2</Faktura>" * 50,
                "_metadata.json": json.dumps({"invoices": [{"ksefNumber": "n1"}, {"ksefNumber": "n2"}]}).encode()}
    archive = BatchArchive.build(invoices, compression=compression, part_size=400)
    parts = []
    for number, plain in enumerate(archive.parts, start=1):
        encrypted = key.encrypt(plain)
        fake_server.script("GET", "/storage/part%d" % number, [(200, {}, encrypted)])
        parts.append({"ordinalNumber": number, "partName": "p%d" % number, "method": "GET",
                      "url": fake_server.base_url + "/storage/part%d?sig=x" % number, "partSize": len(plain),
                      "partHash": sha256_b64(plain), "encryptedPartSize": len(encrypted),
                      "encryptedPartHash": sha256_b64(encrypted), "expirationDate": "2026-01-01T00:00:00Z"})
    status = {"status": {"code": 200}, "package": {
        "invoiceCount": 2, "size": len(archive.content), "isTruncated": False,
        "permanentStorageHwmDate": "2026-01-06T12:00:00Z", "parts": list(reversed(parts))}}
    package = fake_client.download_export(status, key)
    assert package.metadata == [{"ksefNumber": "n1"}, {"ksefNumber": "n2"}]
    assert "_metadata.json" not in package.files
    assert package.invoices_by_ksef_number()["5265877635-20260105-0100A0D6723E-00"] == b"<Faktura>1</Faktura>" * 50
    assert all("Authorization" not in request[2] for request in fake_server.requests)


def test_export_part_hash_mismatch_is_detected(fake_server, fake_client):
    key = SessionKey.generate()
    encrypted = key.encrypt(b"PK-not-really")
    fake_server.script("GET", "/storage/p1", [(200, {}, encrypted)])
    status = {"package": {"parts": [{"ordinalNumber": 1, "method": "GET", "url": fake_server.base_url + "/storage/p1",
                                     "encryptedPartHash": sha256_b64(b"something else")}]}}
    with pytest.raises(KsefProtocolError, match="corrupted"):
        fake_client.download_export(status, key)


def test_hwm_next_checkpoint_rules():
    assert next_checkpoint({"isTruncated": True, "lastPermanentStorageDate": "L",
                            "permanentStorageHwmDate": "H"}, "prev") == "L"
    assert next_checkpoint({"isTruncated": False, "lastPermanentStorageDate": "L",
                            "permanentStorageHwmDate": "H"}, "prev") == "H"
    assert next_checkpoint({"isTruncated": False}, "prev") == "prev"
