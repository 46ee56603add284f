"""The status service ("Latarnia") of the emulator and the API's 503 while an outage is announced."""
import datetime

import pytest
import requests


@pytest.fixture
def board(emulator):
    emulator.admin("/status-service", method="DELETE")
    yield emulator
    emulator.admin("/status-service", method="DELETE")


def status(emulator):
    return requests.get(emulator.root_url + "/status", timeout=10).json()


def later(hours):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_available_without_messages(board):
    assert status(board) == {"status": "AVAILABLE"}
    assert requests.get(board.root_url + "/messages", timeout=10).json() == []


def test_maintenance_refuses_api_with_503_and_counts(board, api):
    api.get("/security/public-key-certificates").raise_for_status()
    board.admin("/status-service/messages", {"category": "MAINTENANCE", "type": "MAINTENANCE_ANNOUNCEMENT",
                                              "eventId": 7, "start": later(-1), "end": later(2)})
    assert status(board)["status"] == "AVAILABLE", "an announcement alone does not change the status"
    board.admin("/status-service", {"status": "MAINTENANCE"})
    current = status(board)
    assert current["status"] == "MAINTENANCE"
    [message] = current["messages"]
    assert (message["eventId"], message["type"], message["version"]) == (7, "MAINTENANCE_ANNOUNCEMENT", 1)

    refused = api.get("/security/public-key-certificates")
    assert refused.status_code == 503
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    counters = board.admin("/status-service", method="GET")
    assert (counters["apiRequests"], counters["apiRefused"]) == (2, 1)

    board.admin("/status-service", {"status": "AVAILABLE"})
    assert api.get("/security/public-key-certificates").status_code == 200


def test_failure_start_and_end_drive_the_status_and_versions(board, api):
    started = board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_START",
                                                        "text": "Awaria"})["message"]
    assert status(board)["status"] == "FAILURE"
    assert started["end"] is None and started["version"] == 1
    assert api.get("/security/public-key-certificates").status_code == 503
    # A new end announced for the same event: a new version.
    update = board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_START",
                                                       "eventId": started["eventId"], "end": later(3)})
    assert update["message"]["version"] == 2
    assert [m["version"] for m in status(board)["messages"]] == [2]
    ended = board.admin("/status-service/messages", {"category": "FAILURE", "type": "FAILURE_END",
                                                      "eventId": started["eventId"], "end": later(0)})
    assert ended["status"] == "AVAILABLE"
    assert status(board) == {"status": "AVAILABLE"}
    published = requests.get(board.root_url + "/messages", timeout=10).json()
    assert [(m["type"], m["version"]) for m in published] == [("FAILURE_START", 1), ("FAILURE_START", 2),
                                                               ("FAILURE_END", 3)]
    assert api.get("/security/public-key-certificates").status_code == 200


def test_block_api_off_and_bad_admin_input(board, api):
    board.admin("/status-service", {"status": "TOTAL_FAILURE", "blockApi": False})
    assert api.get("/security/public-key-certificates").status_code == 200
    for payload in ({"status": "BROKEN"},):
        response = requests.post(board.root_url + "/admin/status-service", json=payload, timeout=10)
        assert response.status_code == 400
    response = requests.post(board.root_url + "/admin/status-service/messages",
                             json={"category": "FAILURE", "type": "SOMETHING"}, timeout=10)
    assert response.status_code == 400
