"""Status service ("Latarnia") client: hosts, parsing, events, tolerance of a broken service."""
import datetime

import pytest

from ksef_protocol import Environment
from ksef_protocol import status_service as latarnia

UTC = datetime.timezone.utc


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def board(emulator):
    emulator.admin("/status-service", method="DELETE")
    yield emulator
    emulator.admin("/status-service", method="DELETE")


def test_hosts_per_environment():
    assert latarnia.status_service_url(Environment.get("test")) == "https://api-latarnia-test.ksef.mf.gov.pl"
    assert latarnia.status_service_url(Environment.get("demo")) == "https://api-latarnia-test.ksef.mf.gov.pl"
    assert latarnia.status_service_url(Environment.get("prod")) == "https://api-latarnia.ksef.mf.gov.pl"
    assert latarnia.status_service_url(Environment.custom("http://127.0.0.1:8123/v2")) == "http://127.0.0.1:8123"


def test_available_from_the_emulator(board):
    report = latarnia.StatusServiceClient(latarnia.status_service_url(Environment.custom(board.base_url))).check()
    assert (report.status, report.error, report.is_outage) == ("AVAILABLE", "", False)
    assert report.current_event() is None


def test_failure_with_a_moved_end_then_its_end(board):
    client = latarnia.StatusServiceClient(board.root_url)
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    start = board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_START",
                                                      "title": "Awaria KSeF", "start": iso(now)})["message"]
    report = client.check()
    assert report.status == "FAILURE" and report.is_outage
    event = report.current_event()
    assert (event.key, event.category, event.start, event.end, event.ended) == (start["eventId"], "FAILURE", now,
                                                                                  None, False)
    assert event.title == "Awaria KSeF"

    board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_START",
                                             "eventId": start["eventId"], "end": iso(now + datetime.timedelta(hours=5))})
    assert client.check().current_event().end == now + datetime.timedelta(hours=5)

    board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_END",
                                             "eventId": start["eventId"], "end": iso(now + datetime.timedelta(hours=1))})
    report = client.check()
    assert report.status == "AVAILABLE" and report.current_event() is None
    [event] = report.events()
    assert event.ended and event.end == now + datetime.timedelta(hours=1), "the actual end wins"
    assert [m.type for m in event.messages] == ["FAILURE_START", "FAILURE_START", "FAILURE_END"]


def test_maintenance_announced_ahead(board):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    board.admin("/status-service/messages", {"category": "MAINTENANCE", "type": "MAINTENANCE_ANNOUNCEMENT",
                                             "start": iso(now + datetime.timedelta(days=1)),
                                             "end": iso(now + datetime.timedelta(days=1, hours=2))})
    report = latarnia.StatusServiceClient(board.root_url).check()
    assert report.status == "AVAILABLE"
    [event] = report.events()
    assert event.category == "MAINTENANCE" and not event.ended and not event.is_active(now)
    assert event.is_active(now + datetime.timedelta(days=1, hours=1))


def test_service_down_is_unknown_never_an_exception():
    report = latarnia.StatusServiceClient("http://127.0.0.1:9", timeout=1).check()
    assert report.status == "UNKNOWN" and not report.is_outage
    assert "unreachable" in report.error


def test_no_url_is_unknown():
    assert latarnia.StatusServiceClient("").check().status == "UNKNOWN"


def test_unknown_values_html_and_the_api_prefix(fake_server):
    base = fake_server.base_url  # http://127.0.0.1:PORT/v2: the service's base for this test
    # /status is not there, /api/status is (as one SDK documents): the client finds it and keeps it.
    fake_server.script("GET", "/api/status", [(200, {}, {"status": "DEGRADED", "messages": "oops"})])
    fake_server.script("GET", "/api/messages", [(200, {}, [
        {"id": "x", "eventId": "12", "category": "FAILURE", "type": "FAILURE_START",
         "start": "2026-03-02T10:00:00", "end": None, "version": "2"},
        {"eventId": 13, "category": "SOMETHING_NEW", "type": "WHATEVER"},
        "not an object",
    ])])
    client = latarnia.StatusServiceClient(base, timeout=2)
    report = client.check()
    assert (report.status, report.raw_status) == ("UNKNOWN", "DEGRADED")
    assert "DEGRADED" in report.error
    first = report.announcements[0]
    # A time without offset is Polish time (CET in March): 10:00 in Warsaw is 09:00 UTC.
    assert first.start == datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert (first.event_id, first.version, first.end) == (12, 2, None)
    assert [e.key for e in report.events()] == [12], "unknown categories are ignored"
    assert len(fake_server.calls("GET", "/status")) == 1
    client.check()
    assert len(fake_server.calls("GET", "/status")) == 1, "the working prefix is remembered"

    fake_server.script("GET", "/api/status", [(502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>")])
    report = client.check()
    assert report.status == "UNKNOWN" and "502" in report.error
    fake_server.script("GET", "/api/status", [(200, {"Content-Type": "text/html"}, b"<html>maintenance</html>")])
    assert "JSON" in client.check().error
