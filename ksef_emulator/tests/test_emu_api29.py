"""API 2.9.0 in the emulator (malformed JSON is 21001, a well-formed but invalid body 21405): rate-limit groups and their test-data overrides, context/subject limits,
export ``compressionType`` and ``x-ms-meta-hash``, system warnings, malformed input (400/21405, never
500), unknown methods (405), admin input checked against the spec, PUT /testdata/certificates."""
import base64
import hashlib
import http.client
import json
import urllib.parse

import pytest
import requests

from conftest import random_nip
from test_emu_certificates import enroll, new_key, person  # noqa: F401 (fixture)
from test_emu_receiving import buyer, buyer_filters, run_export, seed  # noqa: F401 (fixture)

SPEC_GROUPS = ("onlineSession", "onlineSessionClose", "batchSession", "batchSessionClose", "invoiceSend",
               "invoiceStatus", "sessionList", "sessionInvoiceList", "sessionMisc", "invoiceMetadata",
               "invoiceExport", "invoiceExportStatus", "invoiceDownload", "collectiveIdentifier", "other",
               "anonymous", "global")


def code_of(response):
    assert response.status_code == 400, (response.status_code, response.text[:300])
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def override_body(per_second=100, per_minute=1000, per_hour=10000, **groups):
    values = {"perSecond": per_second, "perMinute": per_minute, "perHour": per_hour}
    body = {group: dict(values) for group in ("onlineSession", "batchSession", "invoiceSend", "invoiceStatus",
                                              "sessionList", "sessionInvoiceList", "sessionMisc", "invoiceMetadata",
                                              "invoiceExport", "invoiceExportStatus", "invoiceDownload",
                                              "collectiveIdentifier", "other")}
    body.update(groups)
    return {"rateLimits": body}


def test_rate_limits_list_every_2_9_group_with_the_documented_values(api):
    access = api.access_token()
    limits = api.get("/rate-limits", access).json()
    assert set(limits) == set(SPEC_GROUPS)
    assert limits["onlineSessionClose"] == {"perSecond": 20, "perMinute": 60, "perHour": 240}
    assert limits["batchSessionClose"] == {"perSecond": 20, "perMinute": 40, "perHour": 120}
    assert limits["collectiveIdentifier"] == {"perSecond": 20, "perMinute": 120, "perHour": 240}
    assert limits["anonymous"] == {"perSecond": 60, "perMinute": -1, "perHour": -1}
    assert limits["global"] == {"perSecond": 75, "perMinute": -1, "perHour": -1}


def test_closing_counts_in_its_own_group_and_testdata_overrides_apply(api):
    access = api.access_token(random_nip())
    # 2.6.0 body (no collectiveIdentifier) is refused: the group is required since 2.7.0
    old_shape = override_body()
    del old_shape["rateLimits"]["collectiveIdentifier"]
    assert code_of(api.post("/testdata/rate-limits", access, json=old_shape)) == 21405
    tight = {"perSecond": 1, "perMinute": 1, "perHour": 1}
    assert api.post("/testdata/rate-limits", access, json=override_body(onlineSession=tight)).status_code == 200
    assert api.get("/rate-limits", access).json()["onlineSession"] == tight
    api.emu.admin("/config", {"rateLimitsEnabled": True})
    api.emu.admin("/rate-limits/reset")
    reference, _, _ = api.open_session(access)
    second = api.post("/sessions/online", access, json={})
    assert second.status_code == 429 and second.headers["Retry-After"]
    # ... but closing has its own counter (onlineSessionClose), so the session can still be closed
    assert api.post("/sessions/online/%s/close" % reference, access).status_code == 204
    api.emu.admin("/config", {"rateLimitsEnabled": False})
    assert api.post("/testdata/rate-limits/production", access).status_code == 200
    # PRD limits are the documented ones (limity/limity-api.md, "Środowisko PRD")
    assert api.get("/rate-limits", access).json()["onlineSession"] == {"perSecond": 10, "perMinute": 30, "perHour": 120}
    assert api.get("/rate-limits", access).json()["invoiceSend"] == {"perSecond": 10, "perMinute": 30, "perHour": 180}
    assert api.http.delete(api.url("/testdata/rate-limits"), headers={"Authorization": "Bearer " + access}).status_code == 200
    assert api.get("/rate-limits", access).json()["onlineSession"] == {"perSecond": 10, "perMinute": 30, "perHour": 120}


def test_context_and_subject_limits_with_testdata_overrides(api):
    nip = random_nip()
    access = api.access_token(nip)
    limits = api.get("/limits/context", access).json()
    assert limits["collectiveIdentifier"] == {"maxInvoices": 500}
    assert limits["onlineSession"]["maxInvoices"] == 10000
    override = {"onlineSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1},
                "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5},
                "collectiveIdentifier": {"maxInvoices": 2}}
    assert api.post("/testdata/limits/context/session", access, json=override).status_code == 200
    assert api.get("/limits/context", access).json() == override
    # the override is what sending enforces: a second invoice in the session is 21155
    from conftest import fa3_invoice
    reference, key, iv = api.open_session(access)
    assert api.send(access, reference, key, iv, fa3_invoice("API29/1", seller_nip=nip)).status_code == 202
    assert code_of(api.send(access, reference, key, iv, fa3_invoice("API29/2", seller_nip=nip))) == 21155
    api.http.delete(api.url("/testdata/limits/context/session"), headers={"Authorization": "Bearer " + access})
    assert api.get("/limits/context", access).json()["onlineSession"]["maxInvoices"] == 10000
    subject = api.get("/limits/subject", access).json()
    enforced = api.get("/certificates/limits", access).json()
    assert subject == {"enrollment": {"maxEnrollments": enforced["enrollment"]["limit"]},
                       "certificate": {"maxCertificates": enforced["certificate"]["limit"]}}
    assert api.post("/testdata/limits/subject/certificate", access,
                    json={"subjectIdentifierType": "Nip", "certificate": {"maxCertificates": 2}}).status_code == 200
    assert api.get("/limits/subject", access).json()["certificate"] == {"maxCertificates": 2}
    assert api.get("/certificates/limits", access).json()["certificate"]["limit"] == 2


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_export_status_names_the_compression_and_parts_carry_x_ms_meta_hash(api, buyer, compression):  # noqa: F811
    nip, access = buyer
    seed(api, nip, count=2)
    _, _, status = run_export(api, access, buyer_filters(), compression)
    package = status["package"]
    assert package["compressionType"] == compression
    for part in package["parts"]:
        download = requests.get(part["url"], timeout=30)
        digest = base64.b64encode(hashlib.sha256(download.content).digest()).decode()
        assert download.headers["x-ms-meta-hash"] == digest == part["encryptedPartHash"]


def test_test_system_warning_is_echoed_ascii_folded_on_te_only(api):
    access = api.access_token()
    headers = {"X-Test-System-Warning": "[T1]: Próba łączności".encode("utf-8").decode("latin-1")}
    echoed = api.get("/rate-limits", access, headers=headers)
    assert echoed.headers["X-System-Warning"] == "[T1]: Proba lacznosci"
    api.emu.admin("/config", {"systemWarning": "[W2]: Planowana przerwa"})
    both = api.get("/rate-limits", access, headers={"X-Test-System-Warning": "[T1]: x"})
    assert both.headers["X-System-Warning"] == "[W2]: Planowana przerwa | [T1]: x"
    api.emu.admin("/config", {"systemWarning": "", "environment": "PRD"})
    assert "X-System-Warning" not in api.get("/rate-limits", access, headers={"X-Test-System-Warning": "[T1]: x"}).headers


def test_malformed_input_is_400_21405_never_500(api):
    access = api.access_token()
    assert code_of(api.post("/sessions/batch", access, json=[1, 2])) == 21405
    assert code_of(api.post("/sessions/batch", access, json={"formCode": 1, "batchFile": [1]})) == 21405
    assert code_of(api.post("/sessions/online", access, json=[])) == 21405
    assert code_of(api.post("/testdata/attachment/revoke", json={"nip": "5265877635", "expectedEndDate": "xx-13-45"})) == 21405
    assert code_of(api.post("/testdata/attachment/revoke", json={"nip": "5265877635", "expectedEndDate": "2026-02-30"})) == 21405
    # open-api.json 2.9.0 adds "21001 | Nieczytelna treść." to the 400 tables: a body that is not JSON at all
    assert code_of(api.post("/tokens", access, data=b"{bad", headers={"Content-Type": "application/json"})) == 21001
    assert code_of(api.post("/sessions/batch", access, data=b"[1,", headers={"Content-Type": "application/json"})) == 21001
    assert code_of(api.post("/invoices/query/metadata", access, json={"subjectType": "Subject1", "dateRange": {
        "dateType": "Issue", "from": "2026-13-01T00:00:00Z"}})) == 21405


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PROPFIND", "CONNECT"])
def test_unknown_methods_get_a_json_405(api, method):
    parsed = urllib.parse.urlsplit(api.emu.base_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    connection.request(method, "/v2/tokens")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 405
    assert response.getheader("Content-Type") == "application/problem+json"
    assert json.loads(body)["status"] == 405


def test_admin_token_input_is_checked_against_the_spec(api):
    for bad in ({"nip": "5265877635", "description": "abc"}, {"nip": "5265877635", "description": "x" * 257},
                {"nip": "5265877635", "permissions": ["Everything"]}, {"nip": 5265877635},
                {"nip": "5265877635", "status": "Whatever"}, {"nip": "5265877635", "contextType": "Pesel"}):
        with pytest.raises(Exception) as error:
            api.emu.admin("/tokens", bad)
        assert "400" in str(error.value), bad
    created = api.emu.admin("/tokens", {"nip": "5265877635", "permissions": ["CollectiveIdentifierManage"],
                                        "description": "Identyfikatory zbiorcze"})
    assert created["referenceNumber"]


def test_testdata_certificate_validity_can_only_be_shortened(api, person):  # noqa: F811
    _, access = person
    serial = enroll(api, access, new_key("ec"))
    listed = api.post("/certificates/query", access, json={}).json()["certificates"]
    valid_to = [c for c in listed if c["certificateSerialNumber"] == serial][0]["validTo"]
    put = lambda number, body: api.http.put(api.url("/testdata/certificates/%s" % number), json=body,  # noqa: E731
                                            headers={"Authorization": "Bearer " + access}, timeout=30)
    assert code_of(put(serial, {"validTo": "2099-01-01T00:00:00Z"})) == 21405
    assert code_of(put("0123456789ABCDEF", {"validTo": "2026-01-01T00:00:00Z"})) == 25008
    assert code_of(put("not-hex", {"validTo": "2026-01-01T00:00:00Z"})) == 21405
    shorter = api.emu.admin("/clock", method="GET")["now"][:10] + "T23:59:59Z"
    assert shorter < valid_to
    assert put(serial, {"validTo": shorter}).status_code == 200
    listed = api.post("/certificates/query", access, json={}).json()["certificates"]
    assert [c for c in listed if c["certificateSerialNumber"] == serial][0]["validTo"].startswith(shorter[:19])


def test_upo_looks_like_the_official_te_samples(api):
    """faktury/upo/przyklady/v4-3: "Ministerstwo Finansów - środowisko testowe (TE)" and dates like
    2025-09-16T11:05:40.841+02:00 (milliseconds, Europe/Warsaw offset)."""
    import re

    from lxml import etree

    from conftest import fa3_invoice
    access = api.access_token()
    reference, key, iv = api.open_session(access)
    sent = api.send(access, reference, key, iv, fa3_invoice("UPO/%s" % random_nip()))
    invoice_reference = sent.json()["referenceNumber"]
    api.wait_invoice(access, reference, invoice_reference)
    upo = api.get("/sessions/%s/invoices/%s/upo" % (reference, invoice_reference), access)
    assert upo.headers["x-ms-meta-hash"] == base64.b64encode(hashlib.sha256(upo.content).digest()).decode()
    root = etree.fromstring(upo.content)
    ns = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
    assert root.findtext("u:NazwaPodmiotuPrzyjmujacego", namespaces=ns) == "Ministerstwo Finansów - środowisko testowe (TE)"
    for name in ("DataPrzeslaniaDokumentu", "DataNadaniaNumeruKSeF"):
        value = root.findtext("u:Dokument/u:%s" % name, namespaces=ns)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00", value), value
    api.emu.admin("/config", {"environment": "PRD"})
    reference, key, iv = api.open_session(access)
    invoice_reference = api.send(access, reference, key, iv, fa3_invoice("UPO/%s" % random_nip())).json()["referenceNumber"]
    api.wait_invoice(access, reference, invoice_reference)
    upo = api.get("/sessions/%s/invoices/%s/upo" % (reference, invoice_reference), access)
    assert etree.fromstring(upo.content).findtext("u:NazwaPodmiotuPrzyjmujacego", namespaces=ns) == "Ministerstwo Finansów"


def test_optional_request_body_may_be_absent(api, person):  # noqa: F811
    """OpenAPI 3.0: ``requestBody.required`` defaults to false. RevokeCertificateRequest needs nothing,
    so a revocation without a body is valid (ksef2 sends it so); a body whose schema requires fields
    is still refused with 21405."""
    _, access = person
    serial = enroll(api, access, new_key("ec"))
    assert api.post("/certificates/%s/revoke" % serial, access).status_code == 204
    assert code_of(api.post("/certificates/enrollments", access)) == 21405


def test_documented_response_headers_are_validated_too():
    """validateResponses also checks the headers the spec documents (x-ms-meta-hash: Sha256HashBase64,
    Retry-After: integer)."""
    from ksef_emulator.openapi import get_openapi
    openapi = get_openapi()
    download = openapi.operation("GET", "/invoices/ksef/{ksefNumber}")
    good = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert openapi.response_errors(download, 200, "application/xml", b"<a/>", {"x-ms-meta-hash": good}) == []
    assert openapi.response_errors(download, 200, "application/xml", b"<a/>", {"x-ms-meta-hash": "abc"})
    limits = openapi.operation("GET", "/rate-limits")
    body = {"status": {"code": 429, "description": "Too Many Requests", "details": ["x"]}}
    assert openapi.response_errors(limits, 429, "application/json", body, {"Retry-After": "30"}) == []
    assert openapi.response_errors(limits, 429, "application/json", body, {"Retry-After": "soon"})


def test_unreadable_content_length_is_a_json_400(api):
    parsed = urllib.parse.urlsplit(api.emu.base_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    connection.putrequest("POST", "/v2/tokens")
    connection.putheader("Content-Length", "abc")
    connection.endheaders()
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 400
    assert body["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21001


def test_override_bodies_with_extra_properties_are_accepted_and_ignored(api):
    """Found by scripts/fuzz_emulator.py: the override schemas allow additional properties, which
    made GET /rate-limits and GET /limits/context fail afterwards."""
    access = api.access_token(random_nip())
    body = override_body()
    body["rateLimits"]["unknownGroup"] = 0
    body["rateLimits"]["other"]["extra"] = "x"
    assert api.post("/testdata/rate-limits", access, json=body).status_code == 200
    assert set(api.get("/rate-limits", access).json()) == set(SPEC_GROUPS)
    session = {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5, "x": []}
    assert api.post("/testdata/limits/context/session", access, json={
        "onlineSession": session, "batchSession": session, "collectiveIdentifier": {"maxInvoices": 2},
        "extra": 0}).status_code == 200
    assert api.get("/limits/context", access).json()["batchSession"] == {
        "maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 5}
