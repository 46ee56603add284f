"""SessionKey, RSA-OAEP wrapping, hashes and public-key selection."""
import base64
import datetime
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from _core_keys import make_rsa_certificate
from ksef_protocol import KsefProtocolError, PublicKeyCertificate, SessionKey, sha256_b64
from ksef_protocol.crypto import FileDigest
from ksef_protocol.public_keys import select_certificate

UTC = datetime.timezone.utc


def test_sha256_b64_known_answer():
    # FIPS 180-2 "abc" vector, standard Base64 (the 44-char form used by invoiceHash).
    expected = base64.b64encode(bytes.fromhex(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")).decode()
    assert sha256_b64(b"abc") == expected == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    assert FileDigest.of(b"abc") == (3, expected)


def test_aes_cbc_known_answer_nist_sp800_38a():
    # NIST SP 800-38A F.2.5 CBC-AES256 block 1; PKCS#7 adds one full padding block.
    key = SessionKey(bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
                     bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    ciphertext = key.encrypt(bytes.fromhex("6bc1bee22e409f96e93d7e117393172a"))
    assert ciphertext[:16].hex() == "f58c4c04d6e5f1ba779eabfb5f7bfbd6"
    assert len(ciphertext) == 32


@pytest.mark.parametrize("plain_size, encrypted_size", [(6480, 6496), (16037, 16048), (1, 16), (0, 16)])
def test_ciphertext_sizes_match_openapi_examples_without_iv_prefix(plain_size, encrypted_size):
    key = SessionKey.generate()
    assert len(key.encrypt(b"x" * plain_size)) == encrypted_size


def test_round_trip_and_json_persistence():
    key = SessionKey.generate()
    data = "Zażółć gęślą jaźń <Faktura/>".encode("utf-8") * 100
    restored = SessionKey.from_json(key.to_json())
    assert restored == key
    assert restored.decrypt(key.encrypt(data)) == data
    assert "key" not in repr(key).lower().replace("sessionkey", "")


def test_decrypt_with_wrong_key_raises_protocol_error():
    ciphertext = SessionKey.generate().encrypt(b"<Faktura/>" * 10)
    with pytest.raises(KsefProtocolError):
        # Wrong keys almost always produce invalid padding; retry a few keys to make it certain.
        for _ in range(20):
            SessionKey.generate().decrypt(ciphertext)
    with pytest.raises(KsefProtocolError, match="whole number"):
        SessionKey.generate().decrypt(b"short")


def test_invalid_key_material_rejected_with_clear_message():
    with pytest.raises(ValueError, match="32 bytes"):
        SessionKey(b"too short", b"0" * 16)
    with pytest.raises(ValueError, match="16 bytes"):
        SessionKey(b"0" * 32, b"0" * 8)
    with pytest.raises(ValueError, match="new session"):
        SessionKey.from_json("{not json")


def test_encryption_info_wraps_key_with_rsa_oaep_sha256():
    private_key, der = make_rsa_certificate()
    certificate = PublicKeyCertificate.from_api({
        "certificate": base64.b64encode(der).decode(), "usage": ["SymmetricKeyEncryption"],
        "validFrom": "2025-01-01T00:00:00Z", "validTo": "2030-01-01T00:00:00Z"})
    key = SessionKey.generate()
    info = key.encryption_info(certificate)
    unwrapped = private_key.decrypt(base64.b64decode(info["encryptedSymmetricKey"]), padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    assert unwrapped == key.key
    assert base64.b64decode(info["initializationVector"]) == key.iv
    # publicKeyId computed as Base64(SHA-256(SubjectPublicKeyInfo)) when the API omits it.
    from cryptography.hazmat.primitives import serialization
    spki = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    assert info["publicKeyId"] == base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert len(info["publicKeyId"]) == 44


def test_public_key_certificate_dict_round_trip():
    _, der = make_rsa_certificate()
    original = PublicKeyCertificate.from_api({
        "certificate": base64.b64encode(der).decode(), "publicKeyId": "A" * 43 + "=",
        "usage": ["KsefTokenEncryption"], "validFrom": "2025-10-01T10:00:00.1234567+00:00",
        "validTo": "2026-10-01T10:00:00Z"})
    restored = PublicKeyCertificate.from_dict(original.to_dict())
    assert restored == original
    assert original.valid_from == datetime.datetime(2025, 10, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_select_prefers_latest_valid_from_among_valid_certificates():
    _, der = make_rsa_certificate()

    def cert(usage, valid_from, valid_to, key_id):
        return PublicKeyCertificate(der, key_id, [usage], datetime.datetime(*valid_from, tzinfo=UTC),
                                    datetime.datetime(*valid_to, tzinfo=UTC))
    certificates = [
        cert("SymmetricKeyEncryption", (2025, 1, 1), (2027, 1, 1), "old"),
        cert("SymmetricKeyEncryption", (2026, 1, 1), (2028, 1, 1), "new"),
        cert("SymmetricKeyEncryption", (2026, 6, 1), (2028, 1, 1), "future"),
        cert("KsefTokenEncryption", (2026, 2, 1), (2028, 1, 1), "token"),
    ]
    now = datetime.datetime(2026, 3, 1, tzinfo=UTC)
    assert select_certificate(certificates, "SymmetricKeyEncryption", now).public_key_id == "new"
    assert select_certificate(certificates, "KsefTokenEncryption", now).public_key_id == "token"
    with pytest.raises(KsefProtocolError, match="re-fetch"):
        select_certificate(certificates, "KsefTokenEncryption", datetime.datetime(2029, 1, 1, tzinfo=UTC))
