"""Parsing of every documented KSeF error body shape (and of undocumented junk)."""
import json

import pytest

from ksef_protocol.errors import (KsefBadRequest, KsefForbidden, KsefGone, KsefHttpError, KsefRateLimited,
                                  KsefServerError, KsefUnauthorized, error_from_response)


def _body(payload):
    return json.dumps(payload).encode()


def test_default_exception_response_400():
    body = _body({"exception": {
        "exceptionDetailList": [
            {"exceptionCode": 21405, "exceptionDescription": "Błąd walidacji danych wejściowych.",
             "details": ["'invoiceHash' is required."]},
            {"exceptionCode": 21470, "exceptionDescription": "Nieznany klucz publiczny."}],
        "referenceNumber": "20251010-EE-0000000000-0000000000-00", "serviceCode": "x",
        "timestamp": "2025-10-10T10:00:00Z"}})
    error = error_from_response(400, body, method="POST", path="/v2/sessions/online")
    assert isinstance(error, KsefBadRequest)
    assert error.codes == {21405, 21470}
    assert error.errors[0].details == ["'invoiceHash' is required."]
    assert error.reference_number == "20251010-EE-0000000000-0000000000-00"
    assert "21405" in error.message and "invoiceHash" in error.message and "/v2/sessions/online" in error.message


def test_problem_details_400():
    body = _body({"title": "Bad Request", "status": 400, "instance": "/v2/invoices/exports",
                  "detail": "Validation failed", "errors": [{"code": 21182, "description": "Too many exports",
                                                             "details": ["max 10"]}],
                  "timestamp": "2025-10-10T10:00:00Z", "traceId": "abc"})
    error = error_from_response(400, body)
    assert isinstance(error, KsefBadRequest)
    assert error.codes == {21182}
    assert "Validation failed" in error.message and "21182" in error.message


def test_problem_details_401():
    error = error_from_response(401, _body({"title": "Unauthorized", "status": 401,
                                            "detail": "Token expired", "traceId": "t"}))
    assert isinstance(error, KsefUnauthorized)
    assert error.codes == set()
    assert "Token expired" in error.message


def test_problem_details_403_reason_and_security():
    error = error_from_response(403, _body({
        "title": "Forbidden", "status": 403, "detail": "Missing permissions", "reasonCode": "missing-permissions",
        "security": {"requiredAnyOfPermissions": ["InvoiceWrite"], "presentPermissions": ["InvoiceRead"]}}))
    assert isinstance(error, KsefForbidden)
    assert error.reason_code == "missing-permissions"
    assert error.security["requiredAnyOfPermissions"] == ["InvoiceWrite"]
    assert "required any of InvoiceWrite; present InvoiceRead" in error.message


def test_problem_details_410():
    error = error_from_response(410, _body({"title": "Gone", "status": 410, "detail": "Status expired"}))
    assert isinstance(error, KsefGone)


@pytest.mark.parametrize("payload", [
    {"status": {"code": 429, "description": "Too Many Requests", "details": ["Limit 10/s"]}},
    {"title": "Too Many Requests", "status": 429, "detail": "Retry later", "instance": "/x",
     "timestamp": "2025-10-10T10:00:00Z", "traceId": "t"},
])
def test_both_429_shapes(payload):
    error = error_from_response(429, _body(payload), retry_after=7.0)
    assert isinstance(error, KsefRateLimited)
    assert error.retry_after == 7.0
    assert "Too Many Requests" in error.message


def test_html_502_page_survives():
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = error_from_response(502, html, method="GET", path="/v2/sessions/x")
    assert isinstance(error, KsefServerError)
    assert error.http_status == 502 and error.errors == []
    assert "502 Bad Gateway" in error.body and "HTTP 502" in error.message


def test_empty_and_binary_bodies_and_other_statuses():
    assert "empty body" in error_from_response(500, b"").message
    error = error_from_response(404, b"\xff\xfe\x00garbage")
    assert type(error) is KsefHttpError and error.http_status == 404


def test_long_body_is_truncated():
    error = error_from_response(500, b"x" * 10000)
    assert len(error.body) < 2100 and error.body.endswith("[truncated]")
