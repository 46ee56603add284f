"""Loading, describing and creating certificates and keys (ksef_protocol.certificates).

PKCS#12 bundles and several certificates are produced with the OpenSSL command
line tool, so the loaders are checked against files we did not write ourselves.
"""
import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ksef_protocol import certificates as certs
from ksef_protocol.certificates import (
    CertificateError, CertificateExpiredError, CertificateFormatError, CertificateNotYetValidError,
    KeyMismatchError, UnsupportedKeyError, WrongPasswordError, build_csr, describe_certificate,
    generate_test_certificate, load_certificate_and_key, load_pkcs12)

NIP = "5265877635"
PESEL = "90010112345"
PASSWORD = "test-only-password"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line tool is not installed")


@pytest.fixture(scope="module")
def rsa_pair():
    return generate_test_certificate(NIP, key_type="RSA")


@pytest.fixture(scope="module")
def ec_pair():
    return generate_test_certificate(NIP, kind="seal", key_type="EC", organization="Test Sp. z o.o.")


def _pem_key(key, password=None):
    return certs.private_key_to_pem(key, password)


def _self_signed(subject_attributes, key=None, not_before=None, not_after=None):
    """A certificate built directly with cryptography (not through the code under test)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(subject_attributes)
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x01F20A5D352AE590)
            .not_valid_before(not_before or now - datetime.timedelta(days=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert, key


# --------------------------------------------------------------------------- loaders

@pytest.mark.parametrize("pair_name", ["rsa_pair", "ec_pair"])
def test_pem_certificate_and_plain_pem_key_round_trip(request, pair_name):
    cert, key = request.getfixturevalue(pair_name)
    loaded_cert, loaded_key = load_certificate_and_key(certs.certificate_to_pem(cert), _pem_key(key))
    assert loaded_cert == cert
    assert certs.keys_match(loaded_cert, loaded_key)


def test_der_certificate_and_encrypted_pem_key_round_trip(rsa_pair):
    cert, key = rsa_pair
    encrypted = _pem_key(key, PASSWORD)
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    assert PASSWORD.encode() not in encrypted
    loaded_cert, loaded_key = load_certificate_and_key(certs.certificate_to_der(cert), encrypted, PASSWORD)
    assert loaded_cert == cert
    assert loaded_key.private_numbers() == key.private_numbers()


def test_password_as_bytes_and_base64_der_certificate(ec_pair):
    import base64
    cert, key = ec_pair
    b64_der = base64.b64encode(certs.certificate_to_der(cert)).decode()  # as /certificates/retrieve returns it
    loaded_cert, _ = load_certificate_and_key(b64_der, _pem_key(key, PASSWORD), PASSWORD.encode())
    assert loaded_cert == cert


def test_encrypted_der_pkcs8_key(ec_pair):
    cert, key = ec_pair
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(PASSWORD.encode()))
    _, loaded = load_certificate_and_key(cert.public_bytes(serialization.Encoding.PEM), der, PASSWORD)
    assert loaded.private_numbers() == key.private_numbers()
    with pytest.raises(WrongPasswordError):
        load_certificate_and_key(cert.public_bytes(serialization.Encoding.PEM), der, "nope")


def test_wrong_and_missing_password_on_pem_key(rsa_pair):
    cert, key = rsa_pair
    encrypted = _pem_key(key, PASSWORD)
    with pytest.raises(WrongPasswordError) as wrong:
        load_certificate_and_key(certs.certificate_to_pem(cert), encrypted, "not-the-password")
    assert "password" in str(wrong.value).lower()
    assert "not-the-password" not in str(wrong.value)
    with pytest.raises(WrongPasswordError, match="enter its password"):
        load_certificate_and_key(certs.certificate_to_pem(cert), encrypted)


@needs_openssl
def test_traditional_openssl_encrypted_key(tmp_path, rsa_pair):
    cert, key = rsa_pair
    plain = tmp_path / "key.pem"
    plain.write_bytes(_pem_key(key))
    out = tmp_path / "legacy.pem"
    subprocess.run([OPENSSL, "rsa", "-in", str(plain), "-aes256", "-traditional", "-passout",
                    "pass:" + PASSWORD, "-out", str(out)], check=True, capture_output=True)
    assert b"Proc-Type: 4,ENCRYPTED" in out.read_bytes()
    _, loaded = load_certificate_and_key(certs.certificate_to_pem(cert), out.read_bytes(), PASSWORD)
    assert loaded.private_numbers() == key.private_numbers()


def test_mismatched_key_is_rejected(rsa_pair):
    cert, _ = rsa_pair
    _, other_key = generate_test_certificate(NIP, key_type="RSA")
    with pytest.raises(KeyMismatchError, match="does not belong"):
        load_certificate_and_key(certs.certificate_to_pem(cert), _pem_key(other_key))


def test_key_of_other_type_is_a_mismatch(rsa_pair, ec_pair):
    with pytest.raises(KeyMismatchError):
        load_certificate_and_key(certs.certificate_to_pem(rsa_pair[0]), _pem_key(ec_pair[1]))


@pytest.mark.parametrize("data", [b"", b"garbage that is not a certificate", b"\x30\x82\x01\x00broken-der",
                                  b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_corrupt_certificate_file(data, rsa_pair):
    with pytest.raises(CertificateFormatError, match="damaged or not a certificate"):
        load_certificate_and_key(data, _pem_key(rsa_pair[1]))


def test_corrupt_key_file(rsa_pair):
    pem = _pem_key(rsa_pair[1])
    broken = pem[:60] + b"!!!!" + pem[64:]
    with pytest.raises(CertificateFormatError, match="damaged or not a private key"):
        load_certificate_and_key(certs.certificate_to_pem(rsa_pair[0]), broken)


def test_swapped_files_get_a_hint(rsa_pair):
    cert, key = rsa_pair
    with pytest.raises(CertificateFormatError, match="private key file instead"):
        load_certificate_and_key(_pem_key(key), certs.certificate_to_pem(cert))
    with pytest.raises(CertificateFormatError, match="certificate file instead"):
        certs.load_private_key(certs.certificate_to_pem(cert))


def test_expired_and_not_yet_valid_certificates():
    now = datetime.datetime.utcnow()
    expired, key = _self_signed([x509.NameAttribute(NameOID.COMMON_NAME, "old")],
                                not_before=now - datetime.timedelta(days=60),
                                not_after=now - datetime.timedelta(days=1))
    with pytest.raises(CertificateExpiredError, match="expired on"):
        load_certificate_and_key(certs.certificate_to_pem(expired), _pem_key(key))
    # Loading for inspection still works when the caller opts out of the date check.
    loaded, _ = load_certificate_and_key(certs.certificate_to_pem(expired), _pem_key(key), check_dates=False)
    assert not describe_certificate(loaded).is_valid_at()

    future, key2 = _self_signed([x509.NameAttribute(NameOID.COMMON_NAME, "future")],
                                not_before=now + datetime.timedelta(days=2), not_after=now + datetime.timedelta(days=9))
    with pytest.raises(CertificateNotYetValidError, match="not valid yet"):
        load_certificate_and_key(certs.certificate_to_pem(future), _pem_key(key2))


def test_injected_clock_decides_validity(rsa_pair):
    cert, key = rsa_pair
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=800)
    with pytest.raises(CertificateExpiredError):
        load_certificate_and_key(certs.certificate_to_pem(cert), _pem_key(key), now=later)


def test_small_rsa_key_is_unsupported():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert, _ = _self_signed([x509.NameAttribute(NameOID.COMMON_NAME, "weak")], key=small)
    with pytest.raises(UnsupportedKeyError, match="at least 2048"):
        load_certificate_and_key(certs.certificate_to_pem(cert), _pem_key(small))


def test_small_ec_curve_is_unsupported():
    small = ec.generate_private_key(ec.SECP224R1())
    with pytest.raises(UnsupportedKeyError, match="P-256"):
        certs.load_private_key(_pem_key(small))


# --------------------------------------------------------------------------- PKCS#12

@needs_openssl
@pytest.mark.parametrize("pair_name", ["rsa_pair", "ec_pair"])
def test_pkcs12_made_by_openssl(tmp_path, request, pair_name):
    cert, key = request.getfixturevalue(pair_name)
    (tmp_path / "c.pem").write_bytes(certs.certificate_to_pem(cert))
    (tmp_path / "k.pem").write_bytes(_pem_key(key))
    subprocess.run([OPENSSL, "pkcs12", "-export", "-in", str(tmp_path / "c.pem"), "-inkey", str(tmp_path / "k.pem"),
                    "-passout", "pass:" + PASSWORD, "-out", str(tmp_path / "b.p12")], check=True, capture_output=True)
    data = (tmp_path / "b.p12").read_bytes()
    loaded_cert, loaded_key = load_pkcs12(data, PASSWORD)
    assert loaded_cert == cert
    assert certs.keys_match(loaded_cert, loaded_key)
    with pytest.raises(WrongPasswordError, match="password is wrong") as wrong:
        load_pkcs12(data, "bad-password")
    assert "bad-password" not in str(wrong.value)


def test_pkcs12_round_trip_through_our_writer(ec_pair):
    cert, key = ec_pair
    bundle = certs.to_pkcs12(cert, key, PASSWORD)
    loaded_cert, loaded_key = load_pkcs12(bundle, PASSWORD)
    assert loaded_cert == cert and certs.keys_match(loaded_cert, loaded_key)
    with pytest.raises(CertificateError):
        certs.to_pkcs12(cert, key, "")


def test_pkcs12_that_is_not_a_bundle():
    with pytest.raises(CertificateFormatError, match="not a PKCS#12"):
        load_pkcs12(b"-----BEGIN CERTIFICATE-----\n", PASSWORD)


# --------------------------------------------------------------------------- identifiers

@pytest.mark.parametrize("attributes, expected", [
    ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "TINPL-%s" % NIP)], (NIP, None, "TINPL")),
    ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "NIP: %s" % NIP)], (NIP, None, "NIP")),
    ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-%s" % PESEL)], (None, PESEL, "PESEL")),
    ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "PESEL:%s" % PESEL)], (None, PESEL, "PESEL")),
    ([x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), "VATPL-%s" % NIP)], (NIP, None, "VATPL")),
    ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "ABC-123")], (None, None, None)),
    ([x509.NameAttribute(NameOID.COMMON_NAME, "no identifiers")], (None, None, None)),
])
def test_identifier_extraction(attributes, expected):
    cert, _ = _self_signed(attributes + [x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    info = describe_certificate(cert)
    assert (info.nip, info.pesel, info.identifier_kind) == expected


@needs_openssl
def test_describe_certificate_made_by_openssl(tmp_path):
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-days", "5",
                    "-set_serial", "0x01F20A5D352AE590",
                    "-subj", "/O=Firma Testowa/organizationIdentifier=VATPL-%s/CN=Pieczec/C=PL" % NIP,
                    "-addext", "keyUsage=critical,nonRepudiation"], check=True, capture_output=True)
    pem = (tmp_path / "c.pem").read_bytes()
    info = describe_certificate(pem)
    assert (info.nip, info.identifier_kind, info.organization_name) == (NIP, "VATPL", "Firma Testowa")
    assert info.serial_hex == "01F20A5D352AE590"
    assert info.key_type == "EC" and info.key_size == 256
    assert info.key_usage == ("non_repudiation",)
    fingerprint = subprocess.run([OPENSSL, "x509", "-in", str(tmp_path / "c.pem"), "-noout", "-fingerprint",
                                  "-sha256"], check=True, capture_output=True, text=True).stdout
    assert info.fingerprint_sha256 == fingerprint.split("=", 1)[1].strip().replace(":", "")
    assert info.not_before.tzinfo is not None and info.not_after - info.not_before == datetime.timedelta(days=5)
    cert, key = load_certificate_and_key(pem, (tmp_path / "k.pem").read_bytes())
    assert describe_certificate(cert).is_self_signed


# --------------------------------------------------------------------------- generating

def test_personal_test_certificate_has_ksef_attributes(rsa_pair):
    cert, key = rsa_pair
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "TINPL-%s" % NIP
    assert subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "Jan"
    assert subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Testowy"
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PL"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    info = describe_certificate(cert)
    assert info.key_type == "RSA" and info.key_size == 2048
    assert info.key_usage == ("digital_signature",)
    assert info.is_self_signed and info.is_valid_at()
    assert len(info.serial_hex) == 16
    # The self-signature must verify (independently of our loaders).
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                             cert.signature_hash_algorithm)


def test_seal_test_certificate_for_offline_use(ec_pair):
    cert, _ = ec_pair
    info = describe_certificate(cert)
    assert info.identifier_kind == "VATPL" and info.nip == NIP
    assert info.organization_name == "Test Sp. z o.o."
    assert not cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
    offline, _ = generate_test_certificate(NIP, kind="seal", key_type="EC", purpose="Offline")
    assert describe_certificate(offline).key_usage == ("non_repudiation",)


def test_personal_certificate_with_pesel():
    cert, _ = generate_test_certificate(kind="personal", key_type="EC", pesel=PESEL)
    info = describe_certificate(cert)
    assert (info.pesel, info.identifier_kind, info.nip) == (PESEL, "PESEL", None)


@pytest.mark.parametrize("kwargs, message", [
    (dict(nip="123"), "10 digits"),
    (dict(nip=NIP, kind="robot"), "kind"),
    (dict(nip=NIP, purpose="Both"), "purpose"),
    (dict(nip=NIP, key_type="DSA"), "key type"),
    (dict(kind="seal", pesel=PESEL), "10 digits"),
])
def test_generate_rejects_bad_arguments(kwargs, message):
    with pytest.raises(CertificateError, match=message):
        generate_test_certificate(**kwargs)


@needs_openssl
def test_generated_certificate_is_readable_by_openssl(tmp_path, ec_pair):
    (tmp_path / "c.pem").write_bytes(certs.certificate_to_pem(ec_pair[0]))
    text = subprocess.run([OPENSSL, "x509", "-in", str(tmp_path / "c.pem"), "-noout", "-subject"],
                          check=True, capture_output=True, text=True).stdout
    assert "organizationIdentifier = VATPL-%s" % NIP in text or "2.5.4.97 = VATPL-%s" % NIP in text


# --------------------------------------------------------------------------- CSR

PERSONAL_ENROLLMENT = {
    "commonName": "Jan Kowalski", "countryName": "PL", "givenName": "Jan", "surname": "Kowalski",
    "serialNumber": "TINPL-%s" % NIP, "uniqueIdentifier": "a7d1c3e0-test", "organizationName": None,
    "organizationIdentifier": None,
}
SEAL_ENROLLMENT = {
    "commonName": "Firma Testowa", "countryName": "PL", "organizationName": "Firma Testowa Sp. z o.o.",
    "organizationIdentifier": "VATPL-%s" % NIP,
}


@pytest.mark.parametrize("key_type, key_class", [("EC", ec.EllipticCurvePrivateKey), ("RSA", rsa.RSAPrivateKey)])
def test_csr_copies_enrollment_data_verbatim(key_type, key_class):
    csr_der, key = build_csr(PERSONAL_ENROLLMENT, key_type=key_type)
    assert isinstance(key, key_class)
    csr = x509.load_der_x509_csr(csr_der)
    assert csr.is_signature_valid
    values = {attr.oid.dotted_string: attr.value for attr in csr.subject}
    assert values == {"2.5.4.3": "Jan Kowalski", "2.5.4.6": "PL", "2.5.4.42": "Jan", "2.5.4.4": "Kowalski",
                      "2.5.4.5": "TINPL-%s" % NIP, "2.5.4.45": "a7d1c3e0-test"}
    assert csr.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo) == \
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_csr_for_seal_and_multiple_given_names():
    csr = x509.load_der_x509_csr(build_csr(SEAL_ENROLLMENT)[0])
    assert csr.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))[0].value == "VATPL-%s" % NIP
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Firma Testowa Sp. z o.o."
    data = dict(PERSONAL_ENROLLMENT, givenName=["Jan", "Maria"])
    csr2 = x509.load_der_x509_csr(build_csr(data)[0])
    assert [a.value for a in csr2.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)] == ["Jan", "Maria"]


@needs_openssl
def test_csr_verifies_with_openssl(tmp_path):
    csr_der, _ = build_csr(SEAL_ENROLLMENT, key_type="EC")
    (tmp_path / "r.der").write_bytes(csr_der)
    result = subprocess.run([OPENSSL, "req", "-inform", "DER", "-in", str(tmp_path / "r.der"), "-noout", "-verify"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "verify OK" in (result.stdout + result.stderr)


def test_csr_reuses_given_key_and_rejects_bad_data():
    key = ec.generate_private_key(ec.SECP256R1())
    _, returned = build_csr(SEAL_ENROLLMENT, private_key=key)
    assert returned is key
    with pytest.raises(CertificateError, match="commonName and countryName"):
        build_csr({"givenName": "Jan"})


def test_der_files_ending_in_whitespace_bytes_are_not_truncated():
    """DER is binary: a certificate or key whose last byte is 0x20/0x0A/... must load intact."""
    for _ in range(3000):
        cert, key = _self_signed([x509.NameAttribute(NameOID.COMMON_NAME, "der")])
        der = certs.certificate_to_der(cert)
        if der[-1:].isspace():
            break
    else:  # pragma: no cover - probability about 1e-8
        pytest.fail("no certificate ending in a whitespace byte was generated")
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    loaded_cert, loaded_key = load_certificate_and_key(der, key_der)
    assert loaded_cert == cert
