"""Transport behaviour over real HTTP against a scripted local server (the client is not mocked)."""
import logging

import pytest

from ksef_protocol import (Environment, KsefBadRequest, KsefClient, KsefError, KsefRateLimited, KsefServerError,
                           KsefTransportError)
from ksef_protocol.transport import parse_system_warning

STATUS_OK = (200, {}, {"status": {"code": 200, "description": "ok"}, "dateCreated": "2025-10-10T10:00:00Z",
                       "dateUpdated": "2025-10-10T10:00:00Z"})
HTML_502 = (502, {"Content-Type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>")


def test_parse_system_warning_documented_format():
    value = "[W001]: Planowana przerwa techniczna 16:00 | [W-2]: Klucz publiczny wygasa wkrotce"
    assert parse_system_warning(value) == [("W001", "Planowana przerwa techniczna 16:00"),
                                           ("W-2", "Klucz publiczny wygasa wkrotce")]
    assert parse_system_warning("") == []
    assert parse_system_warning(None) == []


def test_system_warning_is_logged_and_exposed(fake_server, fake_client, caplog):
    fake_server.script("GET", "/sessions/S1", [(200, {"X-System-Warning": "[MAINT]: Przerwa jutro"},
                                                STATUS_OK[2])])
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        fake_client.get_session_status("S1")
    assert fake_client.last_system_warnings == [("MAINT", "Przerwa jutro")]
    assert any("[MAINT] Przerwa jutro" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_one_log_line_per_call_without_secrets(fake_server, fake_client, caplog):
    fake_server.script("GET", "/sessions/S1", [STATUS_OK])
    with caplog.at_level(logging.DEBUG, logger="ksef_protocol"):
        fake_client.get_session_status("S1")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "GET" in lines[0] and "/v2/sessions/S1" in lines[0] and "200" in lines[0]
    assert "SECRET" not in "".join(lines)
    # The bearer did travel in the request.
    assert fake_server.requests[0][2]["Authorization"] == "Bearer test-access-token-SECRET"


def test_429_honours_retry_after_then_succeeds(fake_server, fake_client, recorded_sleep):
    fake_server.script("GET", "/sessions/S1", [
        (429, {"Retry-After": "7"}, {"status": {"code": 429, "description": "Too Many Requests", "details": []}}),
        (429, {"Retry-After": "3"}, {"title": "Too Many Requests", "status": 429, "detail": "x"}),
        STATUS_OK])
    status = fake_client.get_session_status("S1")
    assert status.code == 200
    assert recorded_sleep.calls == [7.0, 3.0]
    assert len(fake_server.calls("GET", "/sessions/S1")) == 3


def test_429_retry_after_includes_jitter(fake_server, recorded_sleep):
    client = KsefClient(Environment.custom(fake_server.base_url), sleep=recorded_sleep, jitter=lambda: 0.25)
    client.access_token = "t"
    fake_server.script("GET", "/sessions/S1", [(429, {"Retry-After": "2"}, b""), STATUS_OK])
    client.get_session_status("S1")
    assert 2.25 in recorded_sleep.calls


def test_429_gives_up_after_max_retries(fake_server, recorded_sleep):
    client = KsefClient(Environment.custom(fake_server.base_url), sleep=recorded_sleep, max_retries=2,
                        jitter=lambda: 0.0)
    client.access_token = "t"
    fake_server.script("GET", "/sessions/S1", [(429, {"Retry-After": "1"}, b"")])
    with pytest.raises(KsefRateLimited) as info:
        client.get_session_status("S1")
    assert info.value.retry_after == 1.0
    assert len(fake_server.calls("GET", "/sessions/S1")) == 3


def test_429_with_huge_retry_after_is_not_slept(fake_server, fake_client, recorded_sleep):
    fake_server.script("GET", "/sessions/S1", [(429, {"Retry-After": "3600"}, b"")])
    with pytest.raises(KsefRateLimited) as info:
        fake_client.get_session_status("S1")
    assert info.value.retry_after == 3600.0
    assert recorded_sleep.calls == []


def test_html_502_on_get_is_retried(fake_server, fake_client, recorded_sleep):
    fake_server.script("GET", "/sessions/S1", [HTML_502, HTML_502, STATUS_OK])
    assert fake_client.get_session_status("S1").code == 200
    assert recorded_sleep.calls == [1.0, 2.0]  # exponential back-off, jitter disabled


def test_html_502_exhausted_raises_readable_error(fake_server, fake_client):
    fake_server.script("GET", "/sessions/S1", [HTML_502])
    with pytest.raises(KsefServerError) as info:
        fake_client.get_session_status("S1")
    assert info.value.http_status == 502 and "502 Bad Gateway" in info.value.body
    assert len(fake_server.calls("GET", "/sessions/S1")) == fake_client.max_retries + 1


def test_non_idempotent_post_is_not_retried_on_502(fake_server, fake_client):
    fake_server.script("POST", "/sessions/online/S1/close", [HTML_502, (204, {}, b"")])
    with pytest.raises(KsefServerError) as info:
        fake_client.close_online_session("S1")
    assert info.value.may_have_been_accepted
    assert len(fake_server.calls("POST", "/sessions/online/S1/close")) == 1


def test_400_is_not_retried(fake_server, fake_client):
    fake_server.script("GET", "/sessions/S1", [(400, {}, {"exception": {"exceptionDetailList": [
        {"exceptionCode": 21173, "exceptionDescription": "Brak sesji"}]}})])
    with pytest.raises(KsefBadRequest) as info:
        fake_client.get_session_status("S1")
    assert info.value.codes == {21173}
    assert len(fake_server.requests) == 1


def test_dropped_connection_on_get_is_retried(fake_server, fake_client, recorded_sleep):
    fake_server.script("GET", "/sessions/S1", ["drop", STATUS_OK])
    assert fake_client.get_session_status("S1").code == 200
    assert len(recorded_sleep.calls) == 1


def test_dropped_connection_on_post_may_have_been_accepted(fake_server, fake_client):
    fake_server.script("POST", "/sessions/online/S1/close", ["drop"])
    with pytest.raises(KsefTransportError) as info:
        fake_client.close_online_session("S1")
    assert info.value.may_have_been_accepted
    assert len(fake_server.calls("POST", "/sessions/online/S1/close")) == 1


def test_read_timeout_on_post_may_have_been_accepted(fake_server, fake_client):
    import time

    def slow(*_):
        time.sleep(1.5)
        return 204, {}, b""
    fake_server.script("POST", "/sessions/online/S1/close", [slow])
    fake_client.timeout = 0.3
    with pytest.raises(KsefTransportError) as info:
        fake_client.close_online_session("S1")
    assert info.value.may_have_been_accepted and "may have reached KSeF" in info.value.message


def test_connection_refused_is_retried_even_for_post(recorded_sleep):
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = KsefClient(Environment.custom("http://127.0.0.1:%d/v2" % port), sleep=recorded_sleep,
                        max_retries=2, jitter=lambda: 0.0)
    client.access_token = "t"
    with pytest.raises(KsefTransportError) as info:
        client.close_online_session("S1")
    assert not info.value.may_have_been_accepted
    assert recorded_sleep.calls == [1.0, 2.0]


def test_missing_access_token_message(fake_server):
    client = KsefClient(Environment.custom(fake_server.base_url))
    with pytest.raises(KsefError, match="authenticate first"):
        client.get_session_status("S1")
    assert fake_server.requests == []


def test_non_json_success_body_is_protocol_error(fake_server, fake_client):
    from ksef_protocol import KsefProtocolError
    fake_server.script("GET", "/sessions/S1", [(200, {"Content-Type": "text/html"}, b"<html>maintenance</html>")])
    with pytest.raises(KsefProtocolError, match="non-JSON"):
        fake_client.get_session_status("S1")


def test_presigned_urls_get_no_bearer_and_query_is_not_logged(fake_server, fake_client, caplog):
    fake_server.script("GET", "/storage/upo.xml", [(200, {"Content-Type": "application/xml"}, b"<x/>")])
    url = fake_server.base_url + "/storage/upo.xml?sig=SECRETSIGNATURE"
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        document = fake_client.download_upo_url(url)
    assert document.content == b"<x/>"
    assert "Authorization" not in fake_server.requests[0][2]
    assert "SECRETSIGNATURE" not in caplog.text
