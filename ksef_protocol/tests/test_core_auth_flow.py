"""Authentication flow details over HTTP against a scripted server: token plaintext, polling budget,
550 restart, failure statuses.  (The happy path against the emulator is in test_core_e2e_auth.py.)"""
import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from _core_keys import make_rsa_certificate
from ksef_protocol import KsefAuthFailed, KsefAuthPending

CHALLENGE = {"challenge": "20250625-CR-20F5EE4000-DA48AE4124-46", "timestamp": "2025-06-25T12:00:00.1234567+00:00",
             "timestampMs": 1750852800123, "clientIp": "127.0.0.1"}
TOKENS = {"accessToken": {"token": "ACCESS", "validUntil": "2030-01-01T00:15:00Z"},
          "refreshToken": {"token": "REFRESH", "validUntil": "2030-01-07T00:00:00Z"}}


def status(code, description="", details=None):
    return 200, {}, {"startDate": "2025-06-25T12:00:00Z", "authenticationMethod": "Token",
                     "authenticationMethodInfo": {"category": "Token", "code": "token", "displayName": "Token"},
                     "status": {"code": code, "description": description, "details": details or []}}


@pytest.fixture
def auth_server(fake_server):
    private_key, der = make_rsa_certificate()
    fake_server.script("GET", "/security/public-key-certificates", [(200, {}, [{
        "certificate": base64.b64encode(der).decode(), "publicKeyId": "K" * 43 + "=",
        "usage": ["KsefTokenEncryption", "SymmetricKeyEncryption"],
        "validFrom": "2020-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z"}])])
    fake_server.script("POST", "/auth/challenge", [(200, {}, CHALLENGE)])
    fake_server.script("POST", "/auth/ksef-token", [(202, {}, {
        "referenceNumber": "20250625-AU-1", "authenticationToken": {"token": "AUTHTOKEN",
                                                                   "validUntil": "2030-01-01T00:00:00Z"}})])
    fake_server.script("POST", "/auth/token/redeem", [(200, {}, TOKENS)])
    fake_server.private_key = private_key
    return fake_server


def test_token_plaintext_is_token_pipe_timestamp_ms_with_rsa_oaep(auth_server, fake_client):
    auth_server.script("GET", "/auth/20250625-AU-1", [status(200, "OK")])
    ksef_token = "20251010-EC-ABC|internalId-5265877635-12345|919f"
    tokens = fake_client.authenticate_with_ksef_token("5265877635", ksef_token)
    assert (tokens.access_token, tokens.refresh_token) == ("ACCESS", "REFRESH")
    assert tokens.access_token_valid_until.isoformat() == "2030-01-01T00:15:00+00:00"
    request = auth_server.calls("POST", "/auth/ksef-token")[0]
    import json
    body = json.loads(request[3])
    plaintext = auth_server.private_key.decrypt(base64.b64decode(body["encryptedToken"]), padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    assert plaintext == ("%s|1750852800123" % ksef_token).encode()
    assert body["contextIdentifier"] == {"type": "Nip", "value": "5265877635"}
    assert body["publicKeyId"] == "K" * 43 + "="
    # Bearers: none for init, authenticationToken for status and redeem.
    assert "Authorization" not in request[2]
    assert auth_server.calls("GET", "/auth/20250625-AU-1")[0][2]["Authorization"] == "Bearer AUTHTOKEN"
    assert auth_server.calls("POST", "/auth/token/redeem")[0][2]["Authorization"] == "Bearer AUTHTOKEN"


def test_polling_never_sleeps_beyond_wait(auth_server, fake_client, recorded_sleep):
    auth_server.script("GET", "/auth/20250625-AU-1", [status(100, "W toku")])
    with pytest.raises(KsefAuthPending) as info:
        fake_client.authenticate_with_ksef_token("5265877635", "tok", wait=4.0)
    assert recorded_sleep.total == pytest.approx(4.0)
    assert recorded_sleep.calls[:3] == [0.5, 1.0, 2.0]  # back-off
    assert info.value.reference_number == "20250625-AU-1"
    assert info.value.authentication_token == "AUTHTOKEN" and "AUTHTOKEN" not in str(info.value)
    assert auth_server.calls("POST", "/auth/token/redeem") == []


def test_status_550_restarts_the_flow(auth_server, fake_client):
    auth_server.script("GET", "/auth/20250625-AU-1", [status(550, "Anulowano"), status(200, "OK")])
    tokens = fake_client.authenticate_with_ksef_token("5265877635", "tok")
    assert tokens.access_token == "ACCESS"
    assert len(auth_server.calls("POST", "/auth/challenge")) == 2
    assert len(auth_server.calls("POST", "/auth/ksef-token")) == 2
    # a challenge is spent by the attempt that names it: the retry takes a new one
    assert len(auth_server.calls("POST", "/auth/challenge")) == 2


@pytest.mark.parametrize("code", [415, 425, 450, 460, 470, 480, 500])
def test_failure_statuses_raise_auth_failed(auth_server, fake_client, code):
    auth_server.script("GET", "/auth/20250625-AU-1", [status(code, "Błąd", ["Token unieważniony"])])
    with pytest.raises(KsefAuthFailed) as info:
        fake_client.authenticate_with_ksef_token("5265877635", "secret-token")
    assert info.value.status_code == code
    assert "Token unieważniony" in info.value.message and "secret-token" not in info.value.message


def test_21470_on_init_refetches_keys_once(auth_server, fake_client):
    bad_key = (400, {}, {"exception": {"exceptionDetailList": [
        {"exceptionCode": 21470, "exceptionDescription": "Nieznany klucz"}]}})
    auth_server.script("POST", "/auth/ksef-token", [bad_key, (202, {}, {
        "referenceNumber": "20250625-AU-1", "authenticationToken": {"token": "AUTHTOKEN"}})])
    auth_server.script("GET", "/auth/20250625-AU-1", [status(200)])
    fake_client.authenticate_with_ksef_token("5265877635", "tok")
    assert len(auth_server.calls("GET", "/security/public-key-certificates")) == 2
    assert len(auth_server.calls("POST", "/auth/ksef-token")) == 2
