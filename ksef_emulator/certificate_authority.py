"""The emulator's own certificate authority: issues KSeF certificates from enrolled CSRs.

The CA key pair (EC P-256) is created on first use and kept in the state database, so
certificates issued before a restart still chain to it. ``Authentication`` certificates carry
keyUsage digitalSignature, ``Offline`` ones nonRepudiation (certyfikaty-KSeF.md).
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .clock import UTC

CERTIFICATE_LIFETIME = datetime.timedelta(days=2 * 365)


class CsrError(ValueError):
    """A CSR that cannot be accepted; ``code`` is the KSeF exception code (25004, 25010)."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def load_csr(der):
    """Parse and check a PKCS#10 CSR (DER): signature valid, key RSA 2048 or EC P-256."""
    try:
        csr = x509.load_der_x509_csr(der, default_backend())
    except ValueError:
        raise CsrError(25004, "CSR nie jest poprawnym żądaniem PKCS#10 w DER (Base64).")
    if not csr.is_signature_valid:
        raise CsrError(25004, "Podpis CSR jest nieprawidłowy.")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size != 2048:
            raise CsrError(25010, "Klucz RSA musi mieć 2048 bitów (ma %d)." % key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise CsrError(25010, "Klucz EC musi być na krzywej P-256 (secp256r1), a jest %s." % key.curve.name)
    else:
        raise CsrError(25010, "Dozwolone są tylko klucze RSA 2048 i EC P-256.")
    return csr


class CertificateAuthority:
    def __init__(self, store):
        self._store = store
        stored = store.get_json("secrets", "ksef_certificate_ca")
        if stored is None:
            stored = self._create()
            store.put_json("secrets", "ksef_certificate_ca", stored)
        self.key = serialization.load_pem_private_key(stored["key"].encode("ascii"), None, default_backend())
        self.certificate = x509.load_pem_x509_certificate(stored["certificate"].encode("ascii"), default_backend())

    @staticmethod
    def _create():
        key = ec.generate_private_key(ec.SECP256R1(), default_backend())
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KSeF emulator"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "KSeF emulator CA")])
        now = datetime.datetime.now(UTC).replace(tzinfo=None)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=3650))
                       .not_valid_after(now + datetime.timedelta(days=3650))
                       .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                       .sign(key, hashes.SHA256(), default_backend()))
        return {"key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode("ascii"),
                "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")}

    def new_serial(self):
        """16 uppercase hex digits (the spec's ``certificateSerialNumber``), never starting with 0."""
        return "%016X" % ((int.from_bytes(os.urandom(8), "big") & 0x7FFFFFFFFFFFFFFF) | (1 << 60))

    def issue(self, csr, certificate_type, serial, valid_from):
        """DER certificate for ``csr`` (subject copied verbatim), valid from ``valid_from`` (aware UTC)."""
        usage = dict(digital_signature=certificate_type == "Authentication", content_commitment=certificate_type == "Offline",
                     key_encipherment=False, data_encipherment=False, key_agreement=False, key_cert_sign=False,
                     crl_sign=False, encipher_only=False, decipher_only=False)
        start = valid_from.astimezone(UTC).replace(tzinfo=None)
        certificate = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.certificate.subject)
                       .public_key(csr.public_key()).serial_number(int(serial, 16))
                       .not_valid_before(start).not_valid_after(start + CERTIFICATE_LIFETIME)
                       .add_extension(x509.KeyUsage(**usage), critical=True)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .sign(self.key, hashes.SHA256(), default_backend()))
        return certificate.public_bytes(serialization.Encoding.DER)

    def issued(self, certificate):
        """True when ``certificate`` was signed by this CA."""
        if certificate.issuer != self.certificate.subject:
            return False
        try:
            self.certificate.public_key().verify(certificate.signature, certificate.tbs_certificate_bytes,
                                                 ec.ECDSA(certificate.signature_hash_algorithm))
        except Exception:  # InvalidSignature or an unsupported algorithm: not ours
            return False
        return True
