"""Process, state, admin API, faults, rate limits and the request log."""
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
import requests

from ksef_emulator.openapi import get_openapi
from ksef_emulator.testing import REPO_ROOT, EmulatorError, start_emulator

from conftest import SELLER_NIP, Api, fa3_invoice


def test_announces_its_url():
    # Start-up time is measured by scripts/bench_emulator.py, not asserted here (timed tests flake).
    process = subprocess.Popen([sys.executable, "-m", "ksef_emulator", "--port", "0"], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = process.stdout.readline().decode()
        assert line.startswith("KSeF emulator listening on http://127.0.0.1:") and line.rstrip().endswith("/v2")
        url = line.split(" on ", 1)[1].strip()
        assert requests.get(url + "/security/public-key-certificates", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(5)


def test_restart_keeps_tokens_sessions_and_invoices():
    emulator = start_emulator()
    try:
        api = Api(emulator)
        access = api.access_token()
        session, key, iv = api.open_session(access)
        reference = api.send(access, session, key, iv, fa3_invoice("R/%s" % os.urandom(3).hex())).json()["referenceNumber"]
        status = api.wait_invoice(access, session, reference)
        port = emulator.port
        emulator.restart()
        assert emulator.port == port
        api = Api(emulator)
        assert api.get("/sessions/%s/invoices/%s" % (session, reference), access).json()["ksefNumber"] == status["ksefNumber"]
        assert api.send(access, session, key, iv, fa3_invoice("R/%s" % os.urandom(3).hex())).status_code == 202
    finally:
        emulator.stop()


def test_invoices_pending_at_shutdown_are_processed_after_restart():
    emulator = start_emulator(invoiceProcessingDelaySeconds=60)
    try:
        api = Api(emulator)
        access = api.access_token()
        session, key, iv = api.open_session(access)
        reference = api.send(access, session, key, iv, fa3_invoice("P/%s" % os.urandom(3).hex())).json()["referenceNumber"]
        assert api.get("/sessions/%s/invoices/%s" % (session, reference), access).json()["status"]["code"] in (100, 150)
        emulator.restart()
        assert Api(emulator).wait_invoice(access, session, reference)["status"]["code"] == 200
    finally:
        emulator.stop()


def test_cli_token_create_is_usable_by_the_server():
    state = tempfile.mkdtemp(prefix="ksef-emu-cli-")
    output = subprocess.run([sys.executable, "-m", "ksef_emulator", "token", "create", "--nip", SELLER_NIP, "--state", state,
                             "--permissions", "InvoiceWrite"], cwd=REPO_ROOT, capture_output=True, timeout=30, check=True)
    created = json.loads(output.stdout)
    emulator = start_emulator(state_dir=state)
    try:
        api = Api(emulator)
        init = api.start_token_auth(SELLER_NIP, created["token"])
        assert api.wait_auth(init)["status"]["code"] == 200
    finally:
        emulator.stop()
    bad = subprocess.run([sys.executable, "-m", "ksef_emulator", "token", "create", "--nip", "123", "--state", state],
                         cwd=REPO_ROOT, capture_output=True, timeout=30)
    assert bad.returncode != 0 and b"not a valid 10-digit NIP" in bad.stderr


def test_admin_api_rejects_unknown_config_and_reports_clock(api):
    with pytest.raises(Exception) as error:
        api.emu.admin("/config", {"noSuchKey": 1})
    assert "noSuchKey" in str(error.value) and "accessTokenTtlSeconds" in str(error.value)
    clock = api.emu.admin("/clock", {"offsetSeconds": 3600})
    assert clock["offsetSeconds"] == 3600
    assert api.challenge()["timestampMs"] / 1000.0 - time.time() > 3500


def test_unknown_endpoint_is_404_and_every_request_is_logged(api):
    response = api.get("/no/such/endpoint")
    assert response.status_code == 404 and "/v2/no/such/endpoint" in response.json()["detail"]
    api.challenge()
    time.sleep(0.05)
    lines = api.emu.log_text().splitlines()
    assert any('"GET /v2/no/such/endpoint" 404' in line for line in lines)
    assert any('"POST /v2/auth/challenge" 200' in line for line in lines)


def test_secrets_are_not_logged(api):
    created = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])
    access = api.access_token()
    api.get("/limits/context", access)
    time.sleep(0.05)
    log = api.emu.log_text()
    assert created["token"] not in log and access not in log and "sig=" not in log


def test_faults_html_status_slow_timeout(api):
    emulator = api.emu
    emulator.admin("/faults", {"pathPattern": "^/v2/auth/challenge$", "kind": "html", "count": 1})
    html = api.post("/auth/challenge")
    assert html.status_code == 502 and html.headers["Content-Type"].startswith("text/html")
    assert api.post("/auth/challenge").status_code == 200  # count consumed
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "status", "status": 550})
    assert api.post("/auth/challenge").status_code == 550
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "slow", "delaySeconds": 0.4})
    started = time.monotonic()
    assert api.post("/auth/challenge").status_code == 200
    assert time.monotonic() - started >= 0.4
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "timeout", "delaySeconds": 1.0})
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(api.url("/auth/challenge"), timeout=0.3)
    assert emulator.admin("/faults", method="GET")["active"] == []


def test_injected_429_has_retry_after_and_the_documented_body(api):
    operation = get_openapi().operation("POST", "/auth/challenge")
    emulator = api.emu
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "status", "status": 429, "retryAfter": 7})
    limited = api.post("/auth/challenge")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.headers["Content-Type"].startswith("application/json")
    body = limited.json()
    assert body["status"]["code"] == 429 and body["status"]["description"] == "Too Many Requests"
    assert "7 sekundach" in body["status"]["details"][0]
    assert get_openapi().response_errors(operation, 429, limited.headers["Content-Type"], body) == []
    # problem-details on request; without retryAfter the documented example value (30 s)
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "status", "status": 429})
    problem = api.post("/auth/challenge", headers={"X-Error-Format": "problem-details"})
    assert problem.status_code == 429 and problem.headers["Retry-After"] == "30"
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    assert problem.json()["status"] == 429 and problem.json()["instance"] == "/v2/auth/challenge"
    assert get_openapi().response_errors(operation, 429, problem.headers["Content-Type"], problem.json()) == []
    # a proxy's HTML 503 may carry Retry-After too; other answers have none unless asked for
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "html", "status": 503, "retryAfter": 2})
    proxy = api.post("/auth/challenge")
    assert proxy.status_code == 503 and proxy.headers["Retry-After"] == "2"
    emulator.admin("/faults", {"pathPattern": "challenge", "kind": "status", "status": 500})
    assert "Retry-After" not in api.post("/auth/challenge").headers
    assert api.post("/auth/challenge").status_code == 200
    with pytest.raises(EmulatorError, match="retryAfter"):
        emulator.admin("/faults", {"pathPattern": "challenge", "kind": "status", "status": 429, "retryAfter": 1.5})


def test_dropped_connection_after_the_invoice_was_accepted(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    api.emu.admin("/faults", {"pathPattern": "/invoices$", "method": "POST", "kind": "drop"})
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(api.url("/sessions/online/%s/invoices" % session), timeout=10,
                      headers={"Authorization": "Bearer " + access},
                      json=Api.invoice_body(key, iv, fa3_invoice("D/%s" % os.urandom(3).hex())))
    listed = api.get("/sessions/%s/invoices" % session, access).json()["invoices"]
    assert len(listed) == 1  # the server accepted it although the client saw no answer


def test_rate_limit_429_with_retry_after(api):
    access = api.access_token()
    api.emu.admin("/rate-limits/reset", {})
    api.emu.admin("/config", {"rateLimitsEnabled": True})
    limits = api.get("/rate-limits", access).json()
    assert limits["invoiceSend"] == {"perSecond": 10, "perMinute": 30, "perHour": 180}
    codes = [api.get("/limits/context", access).status_code for _ in range(12)]
    assert codes.count(429) >= 1 and codes[0] == 200
    limited = api.get("/limits/context", access)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["status"]["code"] == 429
    problem = api.get("/limits/context", access, headers={"X-Error-Format": "problem-details"})
    assert problem.json()["status"] == 429 and problem.headers["Content-Type"].startswith("application/problem+json")
    # another context has its own budget
    other = api.access_token(nip="9512345675")
    assert api.get("/limits/context", other).status_code == 200
    # sliding window: after the window passes, calls succeed again
    api.emu.admin("/clock", {"advanceSeconds": 61})
    assert api.get("/limits/context", access).status_code == 200
