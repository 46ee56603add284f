"""API 2.9.0 in the client: rate-limit groups, 100-day date ranges with offsets, x-ms-meta-hash on
export parts, compressionType, X-Test-System-Warning (against the emulator where it can show it)."""
import datetime

import pytest

from ksef_protocol import Environment, KsefClient, SessionKey, sha256_b64
from ksef_protocol.api_receiving import date_windows
from ksef_protocol.errors import KsefProtocolError
from ksef_protocol.ratelimit import RateLimiter

UTC = datetime.timezone.utc
NIP = "5265877635"


def test_limiter_adopts_2_9_groups_and_treats_minus_one_as_no_limit():
    limiter = RateLimiter(clock=lambda: 0.0, sleep=lambda s: None)
    assert limiter.limits["onlineSessionClose"] == (20, 60, 240)
    assert limiter.limits["batchSessionClose"] == (20, 40, 120)
    assert limiter.limits["collectiveIdentifier"] == (20, 120, 240)
    limiter.update_from_api({"anonymous": {"perSecond": 60, "perMinute": -1, "perHour": -1},
                             "global": {"perSecond": 75, "perMinute": -1, "perHour": -1}})
    assert limiter.limits["public"] == (60, None, None)
    assert limiter.limits["global"] == (75, None, None)
    for _ in range(60):  # -1 must not block: 60 public calls fit the first second
        assert limiter.acquire("public") == 0.0


def test_date_range_needs_offsets_and_at_most_100_days(emulator_client):
    def filters(start, end):
        return {"subjectType": "Subject1", "dateRange": {"dateType": "Invoicing", "from": start, "to": end}}
    with pytest.raises(ValueError, match="offset"):
        emulator_client.query_invoice_metadata(filters("2026-01-01T00:00:00", "2026-01-02T00:00:00Z"))
    with pytest.raises(ValueError, match="100 days"):
        emulator_client.query_invoice_metadata(filters("2026-01-01T00:00:00Z", "2026-04-11T00:00:01Z"))
    windows = date_windows(datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 9, 1, tzinfo=UTC))
    assert len(windows) == 3 and windows[0][1] == windows[1][0]
    assert all(end - start <= datetime.timedelta(days=100) for start, end in windows)


def test_emulator_accepts_exactly_100_days_and_refuses_more(emulator, emulator_client):
    emulator_client.authenticate_with_ksef_token(NIP, emulator.create_token(NIP, ["InvoiceRead"])["token"])
    ok = emulator_client.query_invoice_metadata({"subjectType": "Subject1", "dateRange": {
        "dateType": "Invoicing", "from": "2026-01-01T00:00:00+01:00", "to": "2026-04-11T00:00:00+01:00"}})
    assert ok["invoices"] == []
    # The client refuses a longer range itself; the emulator says the same with 21405.
    from ksef_protocol.errors import KsefError
    with pytest.raises(KsefError) as error:
        emulator_client._request("POST", "/invoices/query/metadata", json={"subjectType": "Subject1", "dateRange": {
            "dateType": "Invoicing", "from": "2026-01-01T00:00:00Z", "to": "2026-04-11T00:00:01Z"}})
    assert "21405" in str(error.value) or getattr(error.value, "status_code", None) == 400


def test_rate_limits_and_limits_endpoints_give_the_2_9_groups(emulator, emulator_client):
    emulator_client.authenticate_with_ksef_token(NIP, emulator.create_token(NIP, ["InvoiceRead"])["token"])
    rate_limits = emulator_client.get_rate_limits()
    for group in ("onlineSessionClose", "batchSessionClose", "collectiveIdentifier", "anonymous", "global"):
        assert group in rate_limits
    assert emulator_client.limiter.limits["onlineSessionClose"] == (20, 60, 240)
    assert emulator_client.get_context_limits()["collectiveIdentifier"]["maxInvoices"] == 500
    assert emulator_client.get_subject_limits()["certificate"]["maxCertificates"] > 0


def test_test_system_warning_is_echoed_and_parsed(emulator, emulator_client):
    emulator_client.test_system_warning = "[T-1]: Planowana przerwa techniczna"
    emulator_client.authenticate_with_ksef_token(NIP, emulator.create_token(NIP, ["InvoiceRead"])["token"])
    emulator_client.get_rate_limits()
    # ASCII-folded by KSeF ("Wartość nagłówka jest normalizowana z użyciem ASCII folding").
    assert emulator_client.last_system_warnings == [("T-1", "Planowana przerwa techniczna")]


def _export_status(fake_server, encrypted, header_hash, compression="Zip"):
    url = fake_server.base_url + "/storage/part1"
    fake_server.script("GET", "/storage/part1", [(200, {"x-ms-meta-hash": header_hash}, encrypted)])
    return {"status": {"code": 200}, "package": {
        "invoiceCount": 0, "size": 1, "isTruncated": False, "compressionType": compression,
        "parts": [{"ordinalNumber": 1, "url": url, "method": "GET",
                   "encryptedPartHash": sha256_b64(encrypted)}]}}


def test_export_part_with_a_wrong_x_ms_meta_hash_is_refused(fake_server, fake_client):
    key = SessionKey.generate()
    encrypted = key.encrypt(b"PK\x05\x06" + b"\x00" * 18)  # an empty ZIP
    status = _export_status(fake_server, encrypted, sha256_b64(b"something else"))
    with pytest.raises(KsefProtocolError, match="x-ms-meta-hash"):
        fake_client.download_export(status, key)
    status = _export_status(fake_server, encrypted, sha256_b64(encrypted))
    assert fake_client.download_export(status, key).files == {}
    status = _export_status(fake_server, encrypted, sha256_b64(encrypted), compression="TarGz")
    with pytest.raises(KsefProtocolError, match="TarGz"):
        fake_client.download_export(status, key)


def test_close_uses_its_own_rate_group(fake_server, fake_client):
    fake_server.script("POST", "/sessions/online/REF/close", [(204, {}, b"")])
    fake_client.limiter = RateLimiter({"onlineSession": (1, 1, 1)}, clock=lambda: 0.0, sleep=lambda s: None,
                                      max_wait=0.0)
    fake_client.limiter.acquire("onlineSession")  # the open counter is exhausted...
    fake_client.close_online_session("REF")     # ...and closing still goes through
    assert fake_server.calls("POST", "/sessions/online/REF/close")


def test_token_with_collective_identifier_permission(emulator, emulator_client):
    """TokenPermissionType gained CollectiveIdentifierManage (2.7.0); the owner holds it (OwnerPermissionScope)."""
    from ksef_protocol import certificates as certs
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    emulator_client.authenticate_with_certificate(NIP, cert, key)
    reference, token = emulator_client.generate_ksef_token(["InvoiceRead", "CollectiveIdentifierManage"],
                                                           "Token identyfikatorów zbiorczych")
    assert token and set(emulator_client.get_ksef_token(reference)["requestedPermissions"]) == {
        "InvoiceRead", "CollectiveIdentifierManage"}


def test_metadata_over_more_than_100_days_is_queried_window_by_window(fake_server, fake_client):
    import json as _json

    asked = []

    def page(method, path, headers, body):
        date_range = _json.loads(body)["dateRange"]
        asked.append((date_range["from"], date_range["to"]))
        # the same boundary record in two windows is yielded once
        return 200, {}, {"hasMore": False, "isTruncated": False,
                         "invoices": [{"ksefNumber": "K-%s" % date_range["from"][:10]}, {"ksefNumber": "K-edge"}]}
    fake_server.script("POST", "/invoices/query/metadata", [page])
    found = list(fake_client.iter_invoice_metadata({"subjectType": "Subject2", "dateRange": {
        "dateType": "PermanentStorage", "from": "2026-01-01T00:00:00Z", "to": "2026-08-01T00:00:00Z"}}))
    assert len(asked) == 3 and asked[0][0] == "2026-01-01T00:00:00.000Z" and asked[-1][1] == "2026-08-01T00:00:00.000Z"
    assert all(a[1] == b[0] for a, b in zip(asked, asked[1:]))
    assert [item["ksefNumber"] for item in found] == ["K-2026-01-01", "K-edge", "K-2026-04-11", "K-2026-07-20"]
