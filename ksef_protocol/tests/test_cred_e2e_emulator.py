"""End-to-end credential flows against the project's KSeF emulator (real HTTP, real client).

XAdES login with self-signed TEST certificates, KSeF-token generation and use,
and KSeF certificate enrollment followed by a KOD II link signed with the
issued Offline certificate.
"""
import datetime

import pytest
import requests

from ksef_protocol import Environment, KsefClient
from ksef_protocol import certificates as certs
from ksef_protocol.errors import KsefAuthFailed
from ksef_protocol.qr import kod_ii_url, verify_kod_ii_url
from ksef_protocol.xades import sign_auth_token_request

NIP = "5265877635"


def _client(emulator, recorded_sleep):
    return KsefClient(Environment.custom(emulator.base_url), sleep=recorded_sleep, timeout=10.0,
                      jitter=lambda: 0.0)


@pytest.mark.parametrize("kind, key_type", [("personal", "RSA"), ("personal", "EC"), ("seal", "EC"),
                                            ("seal", "RSA")])
def test_xades_login_with_self_signed_test_certificate(emulator, recorded_sleep, kind, key_type):
    cert, key = certs.generate_test_certificate(NIP, kind=kind, key_type=key_type)
    client = _client(emulator, recorded_sleep)
    tokens = client.authenticate_with_certificate(NIP, cert, key)
    assert tokens.access_token and client.access_token == tokens.access_token
    assert tokens.access_token_valid_until > datetime.datetime.now(datetime.timezone.utc)


def test_xades_login_with_encrypted_pem_files(emulator, recorded_sleep):
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    loaded_cert, loaded_key = certs.load_certificate_and_key(
        certs.certificate_to_pem(cert), certs.private_key_to_pem(key, "test-only-pw"), "test-only-pw")
    tokens = _client(emulator, recorded_sleep).authenticate_with_certificate(NIP, loaded_cert, loaded_key)
    assert tokens.access_token


def test_xades_login_for_another_nip_without_permissions_fails(emulator, recorded_sleep):
    # The certificate says NIP 5265877635; the context 1111111111 granted it nothing.
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    with pytest.raises(KsefAuthFailed) as failure:
        _client(emulator, recorded_sleep).authenticate_with_certificate("1111111111", cert, key)
    assert failure.value.status_code == 415  # "Brak przypisanych uprawnień"


def _post_signed(emulator, xml):
    return requests.post(emulator.base_url + "/auth/xades-signature", data=xml,
                         headers={"Content-Type": "application/xml"}, timeout=10)


def _challenge(emulator):
    return requests.post(emulator.base_url + "/auth/challenge", timeout=10).json()["challenge"]


def test_emulator_rejects_a_tampered_signed_request(emulator):
    cert, key = certs.generate_test_certificate(NIP, key_type="RSA")
    signed = sign_auth_token_request(_challenge(emulator), NIP, cert, key)
    response = _post_signed(emulator, signed.replace(b"<Nip>%s</Nip>" % NIP.encode(), b"<Nip>1111111111</Nip>"))
    assert response.status_code == 400
    assert "9105" in response.text  # invalid signature


def test_emulator_accepts_namespace_2_1_with_ip_policy(emulator):
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    signed = sign_auth_token_request(_challenge(emulator), NIP, cert, key, namespace_version="2.1",
                                     authorization_policy={"ip4_addresses": ["127.0.0.1"]})
    response = _post_signed(emulator, signed)
    assert response.status_code == 202, response.text
    assert response.json()["authenticationToken"]["token"]


def test_generate_use_list_and_revoke_a_ksef_token(emulator, recorded_sleep):
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    admin_client = _client(emulator, recorded_sleep)
    admin_client.authenticate_with_certificate(NIP, cert, key)
    reference, token = admin_client.generate_ksef_token(["InvoiceRead", "InvoiceWrite"], "Token e2e cred")
    assert token and reference
    details = admin_client.get_ksef_token(reference)
    for _ in range(20):  # Pending -> Active may take a moment of emulated time
        if details["status"] != "Pending":
            break
        emulator.admin("/clock", {"advanceSeconds": 5})
        details = admin_client.get_ksef_token(reference)
    assert details["status"] == "Active", details
    assert details["referenceNumber"] == reference
    assert set(details["requestedPermissions"]) == {"InvoiceRead", "InvoiceWrite"}
    listed = [t["referenceNumber"] for t in admin_client.iter_ksef_tokens(description="e2e cred")]
    assert reference in listed

    token_client = _client(emulator, recorded_sleep)
    assert token_client.authenticate_with_ksef_token(NIP, token).access_token

    admin_client.revoke_ksef_token(reference)
    assert admin_client.get_ksef_token(reference)["status"] in ("Revoking", "Revoked")
    with pytest.raises(KsefAuthFailed):
        _client(emulator, recorded_sleep).authenticate_with_ksef_token(NIP, token)


def test_enroll_offline_certificate_and_sign_kod_ii(emulator, recorded_sleep):
    cert, key = certs.generate_test_certificate(NIP, key_type="RSA")
    client = _client(emulator, recorded_sleep)
    client.authenticate_with_certificate(NIP, cert, key)
    assert client.get_certificate_limits()["canRequest"] is True

    data = client.get_enrollment_data()
    csr_der, offline_key = certs.build_csr(data, key_type="EC")
    reference = client.enroll_certificate("Offline e2e", "Offline", csr_der)
    status = client.get_enrollment_status(reference)
    for _ in range(20):  # the emulator issues at once or after a short emulated delay
        if status["status"]["code"] != 100:
            break
        emulator.admin("/clock", {"advanceSeconds": 5})
        status = client.get_enrollment_status(reference)
    assert status["status"]["code"] == 200, status
    serial = status["certificateSerialNumber"]

    [item] = client.retrieve_certificates([serial])
    issued = certs.load_certificate(item["certificate"])
    assert certs.keys_match(issued, offline_key)
    info = certs.describe_certificate(issued)
    assert info.serial_hex == serial and info.nip == NIP
    assert serial in [c["certificateSerialNumber"] for c in client.query_certificates(type="Offline")]

    url = kod_ii_url(emulator.root_url, "Nip", NIP, NIP, serial,
                     b"\x01" * 32, offline_key)
    assert verify_kod_ii_url(url, issued).certificate_serial == serial

    client.revoke_certificate(serial, reason="Superseded")
    assert [c["status"] for c in client.query_certificates(certificateSerialNumber=serial)] == ["Revoked"]
