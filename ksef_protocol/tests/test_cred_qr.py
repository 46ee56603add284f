"""KOD I / KOD II verification links (ksef_protocol.qr), with the examples of kody-qr.md as vectors."""
import base64
import datetime
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef_protocol import certificates as certs
from ksef_protocol.qr import (
    QrCodeError, kod_i_url, kod_ii_string_to_sign, kod_ii_url, parse_kod_ii_url, verify_kod_ii_url)

# Vectors from kody-qr.md.
DOC_HASH = "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
DOC_KOD_I = "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
DOC_SIGNED_PART = ("qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/"
                   "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE")
DOC_SIGNATURE = (
    "mSkm_XmM9fq7PgAJwiL32L9ujhyguOEV48cDB0ncemD2r9TMGa3lr0iRoFk588agCi8QPsOuscUY1rZ7ff76STbGquO-gZtQys5_fHdf2HUf"
    "DqPqVTnUS6HknBu0zLkyf9ygoW7WbH06Ty_8BgQTlOmJFzNWSt9WZa7tAGuAE9JOooNps-KG2PYkkIP4q4jPMp3FKypAygHVnXtS0RDGgOxhh"
    "M7LWtFP7D-dWINbh5yXD8Lr-JVbeOpyQjHa6WmMYavCDQJ3X_Z-iS01LZu2s1B3xuOykl1h0sLObCdADrbxOONsXrvQa61Xt_rxyprVraj2Uf9"
    "pANQgR4-12HEcMw")
DOC_KOD_II = "https://" + DOC_SIGNED_PART + "/" + DOC_SIGNATURE
DOC_DIGEST = base64.urlsafe_b64decode(DOC_HASH + "=")
OPENSSL = shutil.which("openssl")


class FakeEnvironment:
    qr_url = "https://qr-test.ksef.mf.gov.pl"


@pytest.mark.parametrize("host", ["https://qr-test.ksef.mf.gov.pl", "https://qr-test.ksef.mf.gov.pl/",
                                  "qr-test.ksef.mf.gov.pl", "test", FakeEnvironment()])
@pytest.mark.parametrize("digest", [DOC_DIGEST, DOC_HASH, base64.b64encode(DOC_DIGEST).decode()])
@pytest.mark.parametrize("issue_date", [datetime.date(2026, 2, 1), "2026-02-01", "01-02-2026",
                                        datetime.datetime(2026, 2, 1, 23, 59)])
def test_kod_i_documented_example(host, digest, issue_date):
    assert kod_i_url(host, "1111111111", issue_date, digest) == DOC_KOD_I


def test_kod_i_with_the_real_package_environment():
    from ksef_protocol import Environment
    assert kod_i_url(Environment.get("prod"), "1111111111", "2026-02-01", DOC_DIGEST).startswith(
        "https://qr.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/")


def test_kod_i_hash_of_an_invoice_is_unpadded_base64url():
    invoice = b"<Faktura>...</Faktura>"
    digest = hashlib.sha256(invoice).digest()
    url = kod_i_url("demo", "5265877635", "2026-03-04", digest)
    last = url.rsplit("/", 1)[1]
    assert len(last) == 43 and "=" not in last and "+" not in last and "/" not in last
    assert base64.urlsafe_b64decode(last + "=") == digest
    assert url.startswith("https://qr-demo.ksef.mf.gov.pl/invoice/5265877635/04-03-2026/")


@pytest.mark.parametrize("nip, date, digest, message", [
    ("111-111-11-11", "2026-02-01", DOC_DIGEST, "10-digit NIP"),
    ("1111111111", "2026-02-30", DOC_DIGEST, "not a real calendar date"),
    ("1111111111", "1.2.2026", DOC_DIGEST, "P_1"),
    ("1111111111", "2026-02-01", b"<Faktura/>", "32-byte SHA-256"),
    ("1111111111", "2026-02-01", "abc", "32 bytes"),
    ("1111111111", "2026-02-01", "Ut!p9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE", "32 bytes"),
])
def test_kod_i_rejects_bad_input(nip, date, digest, message):
    with pytest.raises(QrCodeError, match=message):
        kod_i_url("test", nip, date, digest)


def test_kod_ii_signed_part_of_the_documented_example():
    assert kod_ii_string_to_sign(DOC_KOD_II) == DOC_SIGNED_PART
    assert kod_ii_string_to_sign("https://" + DOC_SIGNED_PART + "/") == DOC_SIGNED_PART
    link = parse_kod_ii_url(DOC_KOD_II)
    assert (link.context_type, link.context_value, link.seller_nip, link.certificate_serial) == (
        "Nip", "1111111111", "1111111111", "01F20A5D352AE590")
    assert len(link.signature) == 256  # a 2048-bit RSA signature


@pytest.fixture(scope="module")
def offline_rsa():
    return certs.generate_test_certificate("1111111111", key_type="RSA", purpose="Offline")


@pytest.fixture(scope="module")
def offline_ec():
    return certs.generate_test_certificate("1111111111", kind="seal", key_type="EC", purpose="Offline")


def _serial(cert):
    return certs.describe_certificate(cert).serial_hex


def test_kod_ii_rsa_pss_matches_the_documented_layout(offline_rsa):
    cert, key = offline_rsa
    url = kod_ii_url("https://qr-test.ksef.mf.gov.pl", "Nip", "1111111111", "1111111111", _serial(cert),
                     DOC_HASH, key)
    unsigned, signature = url.rsplit("/", 1)
    assert unsigned == "https://qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/%s/%s" % (
        _serial(cert), DOC_HASH)
    assert len(signature) == len(DOC_SIGNATURE) == 342
    # Independent check: PSS, MGF1-SHA-256, salt exactly 32 bytes, over the documented part of the URL.
    raw = base64.urlsafe_b64decode(signature + "==")
    cert.public_key().verify(raw, kod_ii_string_to_sign(url).encode(),
                             padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    assert verify_kod_ii_url(url, cert).certificate_serial == _serial(cert)


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command line tool is not installed")
def test_kod_ii_rsa_signature_verified_by_openssl(tmp_path, offline_rsa):
    cert, key = offline_rsa
    url = kod_ii_url("qr-test.ksef.mf.gov.pl", "Nip", "1111111111", "1111111111", _serial(cert), DOC_DIGEST, key)
    (tmp_path / "data.txt").write_bytes(kod_ii_string_to_sign(url).encode())
    (tmp_path / "sig.bin").write_bytes(base64.urlsafe_b64decode(url.rsplit("/", 1)[1] + "=="))
    (tmp_path / "cert.pem").write_bytes(certs.certificate_to_pem(cert))
    pub = subprocess.run([OPENSSL, "x509", "-in", str(tmp_path / "cert.pem"), "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    result = subprocess.run([OPENSSL, "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                             "rsa_pss_saltlen:32", "-verify", str(tmp_path / "pub.pem"), "-signature",
                             str(tmp_path / "sig.bin"), str(tmp_path / "data.txt")], capture_output=True, text=True)
    assert result.returncode == 0 and "Verified OK" in result.stdout, result.stdout + result.stderr


def test_kod_ii_ecdsa_raw_and_der(offline_ec):
    cert, key = offline_ec
    url = kod_ii_url("test", "InternalId", "1111111111-00001", "1111111111", _serial(cert), DOC_DIGEST, key)
    raw = base64.urlsafe_b64decode(url.rsplit("/", 1)[1] + "==")
    assert len(raw) == 64  # IEEE P1363 R||S, the recommended form
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    cert.public_key().verify(der, kod_ii_string_to_sign(url).encode(), ec.ECDSA(hashes.SHA256()))
    assert verify_kod_ii_url(url, cert).context_type == "InternalId"
    der_url = kod_ii_url("test", "Nip", "1111111111", "1111111111", _serial(cert), DOC_DIGEST, key,
                         ecdsa_format="der")
    assert base64.urlsafe_b64decode(der_url.rsplit("/", 1)[1] + "==")[:1] == b"\x30"
    verify_kod_ii_url(der_url, cert)


def test_kod_ii_verification_failures(offline_rsa, offline_ec):
    cert, key = offline_rsa
    url = kod_ii_url("test", "Nip", "1111111111", "1111111111", _serial(cert), DOC_DIGEST, key)
    tampered = url.replace("/Nip/1111111111/1111111111/", "/Nip/1111111111/2222222222/")
    with pytest.raises(QrCodeError, match="does not verify"):
        verify_kod_ii_url(tampered, cert)
    with pytest.raises(QrCodeError, match="names certificate"):
        verify_kod_ii_url(url, offline_ec[0])
    # The documented example was signed by a key we do not have.
    with pytest.raises(QrCodeError):
        verify_kod_ii_url(DOC_KOD_II.replace("01F20A5D352AE590", _serial(cert)), cert)


@pytest.mark.parametrize("kwargs, message", [
    (dict(context_type="Pesel"), "context type"),
    (dict(serial="XYZ"), "hexadecimal"),
    (dict(seller="12345"), "10-digit NIP"),
    (dict(context_value=""), "context identifier"),
])
def test_kod_ii_rejects_bad_input(offline_ec, kwargs, message):
    cert, key = offline_ec
    args = dict(context_type="Nip", context_value="1111111111", seller="1111111111", serial=_serial(cert))
    args.update(kwargs)
    with pytest.raises(QrCodeError, match=message):
        kod_ii_url("test", args["context_type"], args["context_value"], args["seller"], args["serial"],
                   DOC_DIGEST, key)


def test_kod_ii_refuses_weak_keys():
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(QrCodeError, match="P-256"):
        kod_ii_url("test", "Nip", "1111111111", "1111111111", "01F20A5D352AE590", DOC_DIGEST, p384)
