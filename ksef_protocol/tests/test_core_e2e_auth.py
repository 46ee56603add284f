"""End-to-end authentication against the project's KSeF emulator over real HTTP."""
import datetime

import pytest

from ksef_protocol import KsefAuthFailed, KsefAuthPending, KsefUnauthorized, SessionKey

NIP = "5265877635"


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_token_authentication_full_flow(emulator, emulator_client):
    token = emulator.create_token(NIP, ["InvoiceWrite", "InvoiceRead"])["token"]
    tokens = emulator_client.authenticate_with_ksef_token(NIP, token)
    assert tokens.access_token and tokens.refresh_token and tokens.reference_number
    assert tokens.access_token_valid_until > _now()
    assert tokens.refresh_token_valid_until > tokens.access_token_valid_until
    assert emulator_client.access_token == tokens.access_token
    assert emulator_client.access_token_valid_until == tokens.access_token_valid_until
    assert token not in repr(tokens) and tokens.access_token not in repr(tokens)
    # The access token works on a protected endpoint.
    session = emulator_client.open_online_session(SessionKey.generate())
    assert "-SO-" in session.reference_number

    refreshed = emulator_client.refresh_access_token(tokens.refresh_token)
    assert refreshed.access_token and refreshed.refresh_token is None
    assert refreshed.access_token_valid_until > _now()
    assert emulator_client.access_token == refreshed.access_token


def test_redeem_is_never_repeated_and_bad_tokens_fail_clearly(emulator, emulator_client):
    created = emulator.create_token(NIP, ["InvoiceRead"])
    emulator.admin("/tokens/%s/status" % created["referenceNumber"], {"status": "Revoked"})
    with pytest.raises(KsefAuthFailed) as info:
        emulator_client.authenticate_with_ksef_token(NIP, created["token"])
    assert info.value.status_code == 450
    assert created["token"] not in str(info.value)


def test_invalid_context_nip_is_rejected_locally(emulator_client):
    with pytest.raises(ValueError, match="10 digits"):
        emulator_client.authenticate_with_ksef_token("PL123", "token")


def test_pending_authentication_can_be_resumed(emulator, emulator_client):
    token = emulator.create_token(NIP, ["InvoiceRead"])["token"]
    emulator.admin("/config", {"authProcessingDelaySeconds": 1.5})
    try:
        with pytest.raises(KsefAuthPending) as info:
            emulator_client.authenticate_with_ksef_token(NIP, token, wait=0.0)
        pending = info.value
        assert pending.authentication_token not in str(pending)
        tokens = emulator_client.resume_authentication(pending.reference_number, pending.authentication_token,
                                                       wait=15.0)
        assert tokens.reference_number == pending.reference_number and tokens.refresh_token
    finally:
        emulator.admin("/config", {"authProcessingDelaySeconds": 0})


def test_protected_call_with_garbage_token_is_unauthorized(emulator_client):
    emulator_client.access_token = "not-a-jwt"
    with pytest.raises(KsefUnauthorized):
        emulator_client.get_session_status("20250101-SO-0000000000-0000000000-00")


def test_unknown_public_key_id_21470_refetches_and_retries(emulator, emulator_client):
    token = emulator.create_token(NIP, ["InvoiceWrite"])["token"]
    emulator_client.authenticate_with_ksef_token(NIP, token)
    before = {c.public_key_id for c in emulator_client.get_public_keys()}
    emulator.admin("/keys/rotate", {})
    # The client still holds the old (now withdrawn) keys in its cache.
    assert {c.public_key_id for c in emulator_client.get_public_keys()} == before
    session = emulator_client.open_online_session(SessionKey.generate())
    assert session.reference_number
    after = {c.public_key_id for c in emulator_client.get_public_keys()}
    assert after and not (after & before)


@pytest.mark.parametrize("key_type", ["RSA", "EC"])
def test_xades_certificate_authentication(emulator_client, key_type):
    from ksef_protocol.certificates import generate_test_certificate
    certificate, private_key = generate_test_certificate(nip=NIP, key_type=key_type)
    tokens = emulator_client.authenticate_with_certificate(NIP, certificate, private_key)
    assert tokens.access_token and tokens.refresh_token
    assert emulator_client.access_token == tokens.access_token


def test_xades_accepts_pem_bytes(emulator_client):
    from cryptography.hazmat.primitives import serialization
    from ksef_protocol.certificates import generate_test_certificate
    certificate, private_key = generate_test_certificate(nip=NIP)
    pem_certificate = certificate.public_bytes(serialization.Encoding.PEM)
    pem_key = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    assert emulator_client.authenticate_with_certificate(NIP, pem_certificate, pem_key).access_token


def test_rotation_during_login_refetches_keys_and_takes_a_new_challenge(emulator, emulator_client):
    """Emergency rotation between two logins: the cached key is refused (21470) and the challenge of
    that attempt is spent on KSeF's side; the retry re-fetches the keys and starts from a new challenge."""
    token = emulator.create_token(NIP, ["InvoiceWrite"])["token"]
    before = {c.public_key_id for c in emulator_client.get_public_keys()}
    emulator.admin("/keys/rotate", {})
    tokens = emulator_client.authenticate_with_ksef_token(NIP, token)
    assert tokens.access_token
    after = {c.public_key_id for c in emulator_client.get_public_keys()}
    assert after and not (after & before)
