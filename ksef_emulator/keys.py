"""The emulator's own "Ministry of Finance" key pairs and certificates.

One RSA-2048 key per usage (``KsefTokenEncryption``, ``SymmetricKeyEncryption``)
with a self-signed certificate, plus a UPO signing key. ``publicKeyId`` is
Base64(SHA-256(SubjectPublicKeyInfo DER)), ``certificateId`` Base64(SHA-256(cert DER)).
Rotation replaces the keys of every usage; retired ``publicKeyId``s are remembered
so a request naming one gets 21470. Keys are stored (PEM) in the state database.
"""
import base64
import datetime
import hashlib
import threading

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .clock import iso
from .errors import ApiError

USAGES = ("KsefTokenEncryption", "SymmetricKeyEncryption")
UPO_SIGNING = "UpoSigning"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def public_key_id(public_key):
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64(hashlib.sha256(spki).digest())


class KeyPair:
    def __init__(self, usage, private_key, certificate):
        self.usage = usage
        self.private_key = private_key
        self.certificate = certificate
        self.certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        self.public_key_id = public_key_id(certificate.public_key())
        self.certificate_id = b64(hashlib.sha256(self.certificate_der).digest())

    def to_record(self):
        return {
            "usage": self.usage,
            "key": self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode("ascii"),
            "certificate": self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }

    @classmethod
    def from_record(cls, record):
        key = serialization.load_pem_private_key(record["key"].encode("ascii"), None, default_backend())
        cert = x509.load_pem_x509_certificate(record["certificate"].encode("ascii"), default_backend())
        return cls(record["usage"], key, cert)


def _generate(usage, now):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048, backend=default_backend())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministerstwo Finansów (KSeF emulator)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, usage),
    ])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2 * 365))
        .sign(key, hashes.SHA256(), default_backend())
    )
    return KeyPair(usage, key, certificate)


class KeyStore:
    def __init__(self, store, clock):
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self.active = {}
        for usage in USAGES:
            self.active[usage] = self._load_or_create(usage)
        self._upo_signing = None  # created on the first UPO (keeps start-up fast)
        self.retired = set(store.get_json("keys", "retiredPublicKeyIds", []))

    def _load_or_create(self, usage):
        record = self._store.get_json("keys", usage)
        if record is not None:
            return KeyPair.from_record(record)
        pair = _generate(usage, self._clock.now())
        self._store.put_json("keys", usage, pair.to_record())
        return pair

    def public_key_certificates(self):
        """Items of ``GET /security/public-key-certificates``."""
        return [
            {
                "certificate": b64(pair.certificate_der),
                "certificateId": pair.certificate_id,
                "publicKeyId": pair.public_key_id,
                "validFrom": iso(_not_before(pair.certificate)),
                "validTo": iso(_not_after(pair.certificate)),
                "usage": [usage],
            }
            for usage, pair in self.active.items()
        ]

    def rotate(self, usages=USAGES):
        """Emergency rotation: new key pairs; the old ``publicKeyId``s are rejected with 21470."""
        with self._lock:
            result = {}
            for usage in usages:
                old = self.active[usage]
                self.retired.add(old.public_key_id)
                pair = _generate(usage, self._clock.now())
                self._store.put_json("keys", usage, pair.to_record())
                self.active[usage] = pair
                result[usage] = {"oldPublicKeyId": old.public_key_id, "newPublicKeyId": pair.public_key_id}
            self._store.put_json("keys", "retiredPublicKeyIds", sorted(self.retired))
            return result

    def pair_for(self, usage, public_key_id=None):
        """The key pair to decrypt with; 21470 if ``public_key_id`` is unknown, retired or of another usage."""
        pair = self.active[usage]
        if public_key_id and public_key_id != pair.public_key_id:
            state = "wycofany" if public_key_id in self.retired else "nieznany"
            raise ApiError(21470, details=["Klucz %s jest %s dla zastosowania %s." % (public_key_id, state, usage)])
        return pair

    def decrypt(self, usage, ciphertext, public_key_id=None):
        """RSA-OAEP (SHA-256, MGF1-SHA-256) decryption; raises ValueError when the ciphertext is wrong."""
        return self.pair_for(usage, public_key_id).private_key.decrypt(ciphertext, OAEP)

    @property
    def upo_signing(self):
        with self._lock:
            if self._upo_signing is None:
                self._upo_signing = self._load_or_create(UPO_SIGNING)
            return self._upo_signing


def _not_before(certificate):
    value = getattr(certificate, "not_valid_before_utc", None)
    return value if value is not None else certificate.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def _not_after(certificate):
    value = getattr(certificate, "not_valid_after_utc", None)
    return value if value is not None else certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)
