"""Certificate and token endpoints of KsefClient over real HTTP against a scripted server.

The emulator-based end-to-end flows live in test_cred_e2e_emulator.py; here a
scripted HTTP peer (conftest ``fake_server``) checks the exact requests, the
paging and the error mapping.  The client itself is the real one.
"""
import base64
import datetime
import json
import urllib.parse

import pytest
from cryptography import x509

from ksef_protocol.certificates import build_csr
from ksef_protocol.errors import KsefBadRequest, KsefProtocolError

SERIAL = "01F20A5D352AE590"
REF = "20251010-EH-1B6C9EB000-4B15D3AEB9-8E"


def _json(request):
    return json.loads(request[3].decode("utf-8"))


def _query(request):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request[1]).query)


def test_limits_and_enrollment_data_use_the_access_token(fake_server, fake_client):
    limits = {"canRequest": True, "enrollment": {"limit": 300, "remaining": 299},
              "certificate": {"limit": 100, "remaining": 100}}
    fake_server.script("GET", "/certificates/limits", [(200, {}, limits)])
    fake_server.script("GET", "/certificates/enrollments/data",
                       [(200, {}, {"commonName": "Firma", "countryName": "PL"})])
    assert fake_client.get_certificate_limits() == limits
    assert fake_client.get_enrollment_data() == {"commonName": "Firma", "countryName": "PL"}
    for request in fake_server.requests:
        assert request[2]["Authorization"] == "Bearer test-access-token-SECRET"


def test_enroll_sends_the_csr_in_base64(fake_server, fake_client):
    enrollment = {"commonName": "Firma Testowa", "countryName": "PL", "organizationName": "Firma Testowa",
                  "organizationIdentifier": "VATPL-5265877635"}
    csr_der, _key = build_csr(enrollment)
    fake_server.script("POST", "/certificates/enrollments",
                       [(202, {}, {"referenceNumber": REF, "timestamp": "2025-10-10T10:00:00Z"})])
    valid_from = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert fake_client.enroll_certificate("Certyfikat offline 1", "Offline", csr_der, valid_from=valid_from) == REF
    body = _json(fake_server.calls("POST", "/certificates/enrollments")[0])
    assert body["certificateName"] == "Certyfikat offline 1"
    assert body["certificateType"] == "Offline"
    assert body["validFrom"] == "2026-01-02T03:04:05Z"
    csr = x509.load_der_x509_csr(base64.b64decode(body["csr"]))
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))[0].value == "VATPL-5265877635"


@pytest.mark.parametrize("name, kind, csr, message", [
    ("abc", "Offline", b"\x30", "5-100"),
    ("Nazwa/ze/slashem", "Offline", b"\x30", "5-100"),
    ("Poprawna nazwa", "Both", b"\x30", "certificate_type"),
    ("Poprawna nazwa", "Offline", "base64-text", "DER bytes"),
])
def test_enroll_validates_before_calling(fake_server, fake_client, name, kind, csr, message):
    with pytest.raises(ValueError, match=message):
        fake_client.enroll_certificate(name, kind, csr)
    assert fake_server.requests == []


def test_enrollment_status_retrieve_and_revoke(fake_server, fake_client):
    status = {"requestDate": "2025-10-10T10:00:00Z", "status": {"code": 200, "description": "ok"},
              "certificateSerialNumber": SERIAL}
    fake_server.script("GET", "/certificates/enrollments/%s" % REF, [(200, {}, status)])
    item = {"certificate": "MIIB", "certificateName": "x" * 5, "certificateSerialNumber": SERIAL,
            "certificateType": "Offline"}
    fake_server.script("POST", "/certificates/retrieve", [(200, {}, {"certificates": [item]})])
    fake_server.script("POST", "/certificates/%s/revoke" % SERIAL, [(204, {}, b"")])
    assert fake_client.get_enrollment_status(REF)["certificateSerialNumber"] == SERIAL
    assert fake_client.retrieve_certificates([SERIAL.lower()]) == [item]
    assert _json(fake_server.calls("POST", "/certificates/retrieve")[0]) == {"certificateSerialNumbers": [SERIAL]}
    assert fake_client.revoke_certificate(SERIAL, reason="KeyCompromise") is None
    assert _json(fake_server.calls("POST", "/certificates/%s/revoke" % SERIAL)[0]) == {
        "revocationReason": "KeyCompromise"}
    with pytest.raises(ValueError, match="16 hexadecimal"):
        fake_client.retrieve_certificates(["123"])
    with pytest.raises(ValueError, match="between 1 and 10"):
        fake_client.retrieve_certificates([SERIAL] * 11)
    with pytest.raises(ValueError, match="reason"):
        fake_client.revoke_certificate(SERIAL, reason="Lost")


def test_query_certificates_follows_page_offset(fake_server, fake_client):
    def page(method, path, headers, body):
        offset = int(urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["pageOffset"][0])
        items = [{"certificateSerialNumber": "%016X" % (offset * 10 + i)} for i in range(2 if offset < 2 else 1)]
        return 200, {}, {"certificates": items, "hasMore": offset < 2}
    fake_server.script("POST", "/certificates/query", [page])
    since = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    results = fake_client.query_certificates(status="Active", type="Offline", expires_after=since, page_size=10)
    assert [r["certificateSerialNumber"] for r in results] == ["%016X" % n for n in (0, 1, 10, 11, 20)]
    calls = fake_server.calls("POST", "/certificates/query")
    assert [_query(c)["pageOffset"] for c in calls] == [["0"], ["1"], ["2"]]
    assert all(_query(c)["pageSize"] == ["10"] for c in calls)
    assert _json(calls[0]) == {"status": "Active", "type": "Offline", "expiresAfter": "2026-01-01T00:00:00Z"}
    with pytest.raises(ValueError, match="Unknown certificate filters"):
        fake_client.query_certificates(colour="red")


def test_certificate_error_codes_are_exposed(fake_server, fake_client):
    body = {"exception": {"exceptionDetailList": [{"exceptionCode": 25001, "exceptionDescription":
                                                   "Brak uprawnień", "details": []}]}}
    fake_server.script("GET", "/certificates/enrollments/data", [(400, {}, body)])
    with pytest.raises(KsefBadRequest) as error:
        fake_client.get_enrollment_data()
    assert 25001 in error.value.codes


def test_generate_token_returns_reference_and_token(fake_server, fake_client, caplog):
    caplog.set_level("DEBUG")
    fake_server.script("POST", "/tokens", [(202, {}, {"referenceNumber": REF, "token": "TOKEN-SECRET|nip-1|abc"})])
    assert fake_client.generate_ksef_token(["InvoiceRead", "InvoiceWrite"], "Token do Odoo") == (
        REF, "TOKEN-SECRET|nip-1|abc")
    assert _json(fake_server.calls("POST", "/tokens")[0]) == {
        "permissions": ["InvoiceRead", "InvoiceWrite"], "description": "Token do Odoo"}
    assert "TOKEN-SECRET" not in caplog.text  # the secret is returned once and never logged


def test_generate_token_checks_input_and_response(fake_server, fake_client):
    with pytest.raises(ValueError, match="Unknown token permissions"):
        fake_client.generate_ksef_token(["InvoiceDelete"], "Token do Odoo")
    with pytest.raises(ValueError, match="5 to 256"):
        fake_client.generate_ksef_token(["InvoiceRead"], "abc")
    with pytest.raises(ValueError, match="at least one"):
        fake_client.generate_ksef_token([], "Token do Odoo")
    assert fake_server.requests == []
    fake_server.script("POST", "/tokens", [(202, {}, {"referenceNumber": REF})])
    with pytest.raises(KsefProtocolError):
        fake_client.generate_ksef_token(["InvoiceRead"], "Token do Odoo")


def test_iter_tokens_sends_the_continuation_header(fake_server, fake_client):
    pages = [
        (200, {}, {"tokens": [{"referenceNumber": "A"}, {"referenceNumber": "B"}], "continuationToken": "page-2"}),
        (200, {}, {"tokens": [{"referenceNumber": "C"}], "continuationToken": None}),
    ]
    fake_server.script("GET", "/tokens", pages)
    tokens = list(fake_client.iter_ksef_tokens(status=["Active", "Pending"], description="Odoo", page_size=10))
    assert [t["referenceNumber"] for t in tokens] == ["A", "B", "C"]
    first, second = fake_server.calls("GET", "/tokens")
    assert _query(first) == {"status": ["Active", "Pending"], "description": ["Odoo"], "pageSize": ["10"]}
    assert "x-continuation-token" not in {k.lower() for k in first[2]}
    assert {k.lower(): v for k, v in second[2].items()}["x-continuation-token"] == "page-2"
    with pytest.raises(ValueError, match="Unknown token status"):
        list(fake_client.iter_ksef_tokens(status="Expired"))


def test_get_and_revoke_token(fake_server, fake_client):
    fake_server.script("GET", "/tokens/%s" % REF, [(200, {}, {"referenceNumber": REF, "status": "Active"})])
    fake_server.script("DELETE", "/tokens/%s" % REF, [(204, {}, b"")])
    assert fake_client.get_ksef_token(REF)["status"] == "Active"
    assert fake_client.revoke_ksef_token(REF) is None
    assert len(fake_server.calls("DELETE", "/tokens/%s" % REF)) == 1
    with pytest.raises(ValueError, match="reference number"):
        fake_client.revoke_ksef_token("../certificates")
    with pytest.raises(ValueError, match="reference number"):
        fake_client.get_enrollment_status("a?b")
