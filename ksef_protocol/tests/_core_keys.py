"""Helpers for core tests: a self-signed RSA certificate standing in for the MF public key."""
import datetime

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def make_rsa_certificate(common_name="Ministerstwo Finansow (test)", days=365, key_size=2048):
    """Return ``(private_key, certificate_der)`` for a self-signed RSA certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size, backend=default_backend())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2025, 1, 1)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .sign(key, hashes.SHA256(), default_backend()))
    return key, certificate.public_bytes(serialization.Encoding.DER)
