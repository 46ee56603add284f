"""X.509 certificates and private keys for KSeF: loading, inspecting, creating.

KSeF authenticates with qualified certificates (personal, with a NIP or PESEL
in ``serialNumber``; company seals, with ``VATPL-<NIP>`` in
``organizationIdentifier``), with KSeF-issued certificates, and on the TEST
environment with self-signed certificates carrying the same attributes
(digest §3.3 and §11, ``auth/podpis-xades.md``, ``certyfikaty-KSeF.md``).

Everything here works with cryptography 3.4.8 (Odoo 19's pin) and current
releases.  Error messages never contain passwords or key material.
"""
import base64
import datetime
import hashlib
import logging
import re
import secrets
from typing import NamedTuple, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

_logger = logging.getLogger(__name__)

#: ``organizationIdentifier``; spelled out because cryptography 3.4.8 has no NameOID constant for it.
OID_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
#: ``uniqueIdentifier`` as KSeF names 2.5.4.45 in ``/certificates/enrollments/data``.
OID_UNIQUE_IDENTIFIER = x509.ObjectIdentifier("2.5.4.45")

# Identifier patterns KSeF recognises (auth/podpis-xades.md).
_PESEL_IN_SERIAL = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_NIP_IN_SERIAL = re.compile(r"(TINPL|NIP).*?(\d{10})")
_NIP_IN_ORG_ID = re.compile(r"(VATPL).*?(\d{10})")

_NIP_FORMAT = re.compile(r"^\d{10}$")
_PESEL_FORMAT = re.compile(r"^\d{11}$")

#: Smallest keys KSeF accepts (RSA 2048 bits, EC curves of 256 bits).
MIN_RSA_KEY_SIZE = 2048
MIN_EC_KEY_SIZE = 256


# --------------------------------------------------------------------------- errors

class CertificateError(ValueError):
    """A certificate or private key cannot be used; the message says what to do."""


class CertificateFormatError(CertificateError):
    """The file is not a readable certificate, key or PKCS#12 bundle."""


class WrongPasswordError(CertificateError):
    """The password of an encrypted key or PKCS#12 file is missing or wrong."""


class KeyMismatchError(CertificateError):
    """The private key does not belong to the certificate."""


class UnsupportedKeyError(CertificateError):
    """The key type or size is not accepted by KSeF."""


class CertificateExpiredError(CertificateError):
    """The certificate's validity period has ended."""


class CertificateNotYetValidError(CertificateError):
    """The certificate's validity period has not started yet."""


# --------------------------------------------------------------------------- helpers

def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _as_bytes(data, what):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise CertificateFormatError("The %s must be given as bytes or text, not %s." % (what, type(data).__name__))


def _password_bytes(password):
    if password is None or password == "" or password == b"":
        return None
    if isinstance(password, str):
        return password.encode("utf-8")
    return bytes(password)


def certificate_not_before(cert) -> datetime.datetime:
    """Start of validity as an aware UTC datetime (works across cryptography versions)."""
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:
        value = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return value


def certificate_not_after(cert) -> datetime.datetime:
    """End of validity as an aware UTC datetime (works across cryptography versions)."""
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def serial_number_hex(cert) -> str:
    """Serial number as upper-case hex with an even number of digits (KSeF style, e.g. ``01F20A5D352AE590``)."""
    text = "%X" % cert.serial_number
    return text if len(text) % 2 == 0 else "0" + text


def fingerprint_sha256(cert) -> str:
    """SHA-256 of the DER certificate as 64 upper-case hex digits (``certificateFingerprint``)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def keys_match(certificate, private_key) -> bool:
    """True when ``private_key`` is the private half of ``certificate``'s public key."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return certificate.public_key().public_bytes(der, spki) == private_key.public_key().public_bytes(der, spki)


def check_supported_key(key):
    """Raise :class:`UnsupportedKeyError` unless ``key`` (public or private) is RSA >= 2048 or EC >= 256 bits."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_KEY_SIZE:
            raise UnsupportedKeyError(
                "The RSA key has %d bits; KSeF requires at least %d bits. Create a new key and certificate."
                % (key.key_size, MIN_RSA_KEY_SIZE))
        return
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.key_size < MIN_EC_KEY_SIZE:
            raise UnsupportedKeyError(
                "The EC key uses curve %s (%d bits); KSeF requires at least 256 bits (use P-256)."
                % (key.curve.name, key.curve.key_size))
        return
    raise UnsupportedKeyError(
        "Unsupported key type %s; KSeF accepts RSA (2048+ bits) and EC (P-256) keys." % type(key).__name__)


def check_validity(certificate, now=None):
    """Raise if ``certificate`` is expired or not yet valid at ``now`` (aware datetime, default: current time)."""
    now = now or _utcnow()
    not_before = certificate_not_before(certificate)
    not_after = certificate_not_after(certificate)
    if now < not_before:
        raise CertificateNotYetValidError(
            "The certificate is not valid yet: its validity starts on %s UTC. Check the computer's clock "
            "or wait until then." % not_before.strftime("%Y-%m-%d %H:%M"))
    if now > not_after:
        raise CertificateExpiredError(
            "The certificate expired on %s UTC. Obtain a new certificate." % not_after.strftime("%Y-%m-%d %H:%M"))


# --------------------------------------------------------------------------- loading

def load_certificate(data):
    """Load one X.509 certificate from PEM, DER or Base64-encoded DER (as returned by ``/certificates/retrieve``)."""
    raw = _as_bytes(data, "certificate")
    if raw[:1] == b"\x30":  # binary DER: never strip, its last bytes may look like whitespace
        try:
            return x509.load_der_x509_certificate(raw)
        except Exception:
            raise CertificateFormatError(
                "The certificate file is damaged or not a certificate. Provide an X.509 certificate in PEM "
                "(.pem/.crt) or DER (.cer/.der) format.") from None
    stripped = raw.strip()
    try:
        if b"-----BEGIN" in stripped:
            if b"-----BEGIN CERTIFICATE-----" not in stripped:
                raise CertificateFormatError(
                    "The PEM file does not contain a certificate (no 'BEGIN CERTIFICATE' block). "
                    "Did you choose the private key file instead?")
            return x509.load_pem_x509_certificate(stripped)
        decoded = base64.b64decode(stripped, validate=True)
        return x509.load_der_x509_certificate(decoded)
    except CertificateFormatError:
        raise
    except Exception:
        raise CertificateFormatError(
            "The certificate file is damaged or not a certificate. Provide an X.509 certificate in PEM "
            "(.pem/.crt) or DER (.cer/.der) format.") from None


def load_private_key(data, password=None):
    """Load a private key from PEM (PKCS#8 or traditional, encrypted or not) or DER PKCS#8.

    ``password`` may be text or bytes; it is ignored for unencrypted keys.
    """
    raw = _as_bytes(data, "private key")
    secret = _password_bytes(password)
    is_pem = raw[:1] != b"\x30" and b"-----BEGIN" in raw
    if is_pem:
        raw = raw.strip()
    if is_pem and b"PRIVATE KEY-----" not in raw:
        raise CertificateFormatError(
            "The PEM file does not contain a private key (no 'BEGIN ... PRIVATE KEY' block). "
            "Did you choose the certificate file instead?")
    if is_pem:
        key = _load_pem_key(raw, secret)
    else:
        key = _load_der_key(raw, secret)
    check_supported_key(key)
    return key


def _load_pem_key(raw, secret):
    if b"ENCRYPTED" in raw:  # PKCS#8 "ENCRYPTED PRIVATE KEY" or OpenSSL "Proc-Type: 4,ENCRYPTED"
        if secret is None:
            raise WrongPasswordError("The private key is encrypted: enter its password.")
        try:
            return serialization.load_pem_private_key(raw, password=secret)
        except Exception:
            raise WrongPasswordError(
                "The password of the private key is wrong (or the key file is damaged). Check the password.") from None
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except Exception:
        raise CertificateFormatError(
            "The private key file is damaged or not a private key. Provide a PEM (PKCS#8) key file.") from None


def _load_der_key(raw, secret):
    try:
        return serialization.load_der_private_key(raw, password=None)
    except TypeError:
        pass  # encrypted PKCS#8 DER: retry with the password below
    except Exception:
        raise CertificateFormatError(
            "The private key file is damaged or not a private key. Provide a PEM (PKCS#8) key file.") from None
    if secret is None:
        raise WrongPasswordError("The private key is encrypted: enter its password.")
    try:
        return serialization.load_der_private_key(raw, password=secret)
    except Exception:
        raise WrongPasswordError(
            "The password of the private key is wrong (or the key file is damaged). Check the password.") from None


def load_certificate_and_key(certificate_data, key_data, password=None, *, check_dates=True, now=None):
    """Load a certificate and its private key and check they can sign for KSeF.

    Raises a :class:`CertificateError` subclass when a file is unreadable, the
    password is wrong, the key does not match the certificate, the key is not
    supported, or (with ``check_dates``) the certificate is outside its validity
    period at ``now``.  Returns ``(certificate, private_key)``.
    """
    certificate = load_certificate(certificate_data)
    private_key = load_private_key(key_data, password)
    _check_pair(certificate, private_key, check_dates=check_dates, now=now)
    return certificate, private_key


def _check_pair(certificate, private_key, *, check_dates, now):
    check_supported_key(certificate.public_key())
    if not keys_match(certificate, private_key):
        raise KeyMismatchError(
            "The private key does not belong to this certificate (%s). Choose the key file that was "
            "created together with the certificate." % describe_certificate(certificate).subject)
    if check_dates:
        check_validity(certificate, now)


def load_pkcs12(data, password=None, *, check_dates=True, now=None):
    """Load a PKCS#12 (.p12/.pfx) bundle; returns ``(certificate, private_key)``.

    The same checks as :func:`load_certificate_and_key` apply.
    """
    raw = _as_bytes(data, "PKCS#12 file")
    if raw[:1] != b"\x30":
        raise CertificateFormatError(
            "The file is not a PKCS#12 (.p12/.pfx) bundle. Export the certificate with its private key "
            "as .p12/.pfx, or load the PEM certificate and key separately.")
    try:
        private_key, certificate, _chain = pkcs12.load_key_and_certificates(raw, _password_bytes(password))
    except Exception:
        # OpenSSL reports a wrong password and a damaged bundle the same way.
        raise WrongPasswordError(
            "Cannot open the PKCS#12 file: the password is wrong or the file is damaged. Check the password.") from None
    if certificate is None or private_key is None:
        raise CertificateFormatError(
            "The PKCS#12 file must contain both the certificate and its private key; this one lacks the %s."
            % ("certificate" if certificate is None else "private key"))
    check_supported_key(private_key)
    _check_pair(certificate, private_key, check_dates=check_dates, now=now)
    return certificate, private_key


def coerce_certificate(certificate):
    """Return a cryptography certificate from a certificate object or PEM/DER data."""
    if isinstance(certificate, x509.Certificate):
        return certificate
    return load_certificate(certificate)


def coerce_private_key(private_key, password=None):
    """Return a cryptography private key from a key object or PEM/DER data."""
    if isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        check_supported_key(private_key)
        return private_key
    return load_private_key(private_key, password)


# --------------------------------------------------------------------------- serialising

def certificate_to_pem(certificate) -> bytes:
    """PEM encoding of a certificate."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_to_der(certificate) -> bytes:
    """DER encoding of a certificate."""
    return certificate.public_bytes(serialization.Encoding.DER)


def private_key_to_pem(private_key, password=None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted with ``password`` when one is given (recommended for storage)."""
    secret = _password_bytes(password)
    encryption = (serialization.BestAvailableEncryption(secret) if secret
                  else serialization.NoEncryption())
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def to_pkcs12(certificate, private_key, password, name="ksef") -> bytes:
    """A password-protected PKCS#12 bundle holding ``certificate`` and ``private_key``."""
    secret = _password_bytes(password)
    if not secret:
        raise CertificateError("A PKCS#12 bundle needs a password.")
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), private_key, certificate, None, serialization.BestAvailableEncryption(secret))


# --------------------------------------------------------------------------- describing

class CertificateInfo(NamedTuple):
    """What a user (and KSeF) needs to know about a certificate."""
    subject: str
    issuer: str
    serial_hex: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    key_type: str                      # "RSA" or "EC"
    key_size: int
    nip: Optional[str]
    pesel: Optional[str]
    identifier_kind: Optional[str]     # "TINPL", "NIP", "VATPL", "PESEL" or None
    fingerprint_sha256: str            # 64 upper-case hex digits
    key_usage: Tuple[str, ...]         # e.g. ("digital_signature",), ("non_repudiation",)
    common_name: Optional[str]
    organization_name: Optional[str]
    is_self_signed: bool

    def is_valid_at(self, when=None) -> bool:
        """True when ``when`` (aware datetime, default now) lies within the validity period."""
        when = when or _utcnow()
        return self.not_before <= when <= self.not_after


_KEY_USAGE_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                    "key_agreement", "key_cert_sign", "crl_sign")


def _attribute(name, oid):
    values = [a.value for a in name.get_attributes_for_oid(oid)]
    return values[0] if values else None


def _key_usage_names(certificate):
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    names = []
    for flag in _KEY_USAGE_FLAGS:
        if getattr(usage, flag):
            # X.509 calls content_commitment "nonRepudiation"; KSeF's docs use that name.
            names.append("non_repudiation" if flag == "content_commitment" else flag)
    return tuple(names)


def _name_to_text(name):
    try:
        return name.rfc4514_string()
    except Exception:  # pragma: no cover - unusual attribute encodings
        return str(name)


def extract_identifiers(certificate):
    """``(nip, pesel, identifier_kind)`` found in serialNumber (2.5.4.5) or organizationIdentifier (2.5.4.97)."""
    serial = _attribute(certificate.subject, NameOID.SERIAL_NUMBER) or ""
    match = _PESEL_IN_SERIAL.search(serial)
    if match:
        return None, match.group(2), "PESEL"
    match = _NIP_IN_SERIAL.search(serial)
    if match:
        return match.group(2), None, match.group(1)
    org_id = _attribute(certificate.subject, OID_ORGANIZATION_IDENTIFIER) or ""
    match = _NIP_IN_ORG_ID.search(org_id)
    if match:
        return match.group(2), None, "VATPL"
    return None, None, None


def describe_certificate(certificate) -> CertificateInfo:
    """Summarise ``certificate`` (object or PEM/DER data) as a :class:`CertificateInfo`."""
    certificate = coerce_certificate(certificate)
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        key_type, key_size = "RSA", public_key.key_size
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        key_type, key_size = "EC", public_key.curve.key_size
    else:
        key_type, key_size = type(public_key).__name__, 0
    nip, pesel, kind = extract_identifiers(certificate)
    return CertificateInfo(
        subject=_name_to_text(certificate.subject),
        issuer=_name_to_text(certificate.issuer),
        serial_hex=serial_number_hex(certificate),
        not_before=certificate_not_before(certificate),
        not_after=certificate_not_after(certificate),
        key_type=key_type,
        key_size=key_size,
        nip=nip,
        pesel=pesel,
        identifier_kind=kind,
        fingerprint_sha256=fingerprint_sha256(certificate),
        key_usage=_key_usage_names(certificate),
        common_name=_attribute(certificate.subject, NameOID.COMMON_NAME),
        organization_name=_attribute(certificate.subject, NameOID.ORGANIZATION_NAME),
        is_self_signed=certificate.subject == certificate.issuer,
    )


# --------------------------------------------------------------------------- creating

def generate_private_key(key_type="EC"):
    """A new private key KSeF accepts: ``"EC"`` (P-256, recommended) or ``"RSA"`` (2048 bits)."""
    kind = (key_type or "").upper()
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_KEY_SIZE)
    raise UnsupportedKeyError("Unknown key type %r; use 'EC' or 'RSA'." % (key_type,))


def _random_serial():
    # 64 bits like KSeF's own serials (16 hex digits); top bit clear keeps it positive.
    return (secrets.randbits(63) | 1 << 56)


def generate_test_certificate(nip=None, kind="personal", key_type="RSA", purpose="Authentication",
                              valid_days=730, given_name="Jan", surname="Testowy", organization=None,
                              *, pesel=None, common_name=None, now=None):
    """Create a self-signed certificate for the KSeF TEST environment; returns ``(certificate, private_key)``.

    ``kind="personal"`` puts givenName, surname, serialNumber ``TINPL-<nip>``
    (or ``PNOPL-<pesel>`` when ``pesel`` is given), CN and C=PL in the subject;
    ``kind="seal"`` puts organizationName, organizationIdentifier
    ``VATPL-<nip>``, CN and C=PL.  ``purpose`` sets keyUsage like KSeF's own
    certificates: digitalSignature for ``Authentication``, nonRepudiation for
    ``Offline``.  Self-signed certificates are accepted on TEST only.
    """
    if kind not in ("personal", "seal"):
        raise CertificateError("Unknown certificate kind %r; use 'personal' or 'seal'." % (kind,))
    if purpose not in ("Authentication", "Offline"):
        raise CertificateError("Unknown purpose %r; use 'Authentication' or 'Offline'." % (purpose,))
    if pesel is not None and not _PESEL_FORMAT.match(str(pesel)):
        raise CertificateError("A PESEL has 11 digits; got %r." % (pesel,))
    if kind == "seal" or pesel is None:
        if nip is None or not _NIP_FORMAT.match(str(nip)):
            raise CertificateError("A NIP has 10 digits without dashes; got %r." % (nip,))
    if valid_days <= 0:
        raise CertificateError("valid_days must be positive.")
    private_key = generate_private_key(key_type)
    if kind == "personal":
        serial = "PNOPL-%s" % pesel if pesel else "TINPL-%s" % nip
        cn = common_name or "%s %s" % (given_name, surname)
        attributes = [
            x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    else:
        org = organization or "Firma testowa %s" % nip
        attributes = [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(OID_ORGANIZATION_IDENTIFIER, "VATPL-%s" % nip),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or org),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    name = x509.Name(attributes)
    start = (now or _utcnow()) - datetime.timedelta(minutes=5)  # tolerate small clock skew on the server
    key_usage = x509.KeyUsage(
        digital_signature=purpose == "Authentication", content_commitment=purpose == "Offline",
        key_encipherment=False, data_encipherment=False, key_agreement=False, key_cert_sign=False,
        crl_sign=False, encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(_random_serial())
        .not_valid_before(start.replace(tzinfo=None))
        .not_valid_after((start + datetime.timedelta(days=valid_days)).replace(tzinfo=None))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
    )
    certificate = builder.sign(private_key, hashes.SHA256())
    return certificate, private_key


# Order of the DN in the CSR: the order of the table in certyfikaty-KSeF.md.
_ENROLLMENT_FIELDS = (
    ("commonName", NameOID.COMMON_NAME),
    ("surname", NameOID.SURNAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("countryName", NameOID.COUNTRY_NAME),
    ("organizationName", NameOID.ORGANIZATION_NAME),
    ("givenName", NameOID.GIVEN_NAME),
    ("uniqueIdentifier", OID_UNIQUE_IDENTIFIER),
    ("organizationIdentifier", OID_ORGANIZATION_IDENTIFIER),
)


def enrollment_subject(enrollment_data):
    """The X.509 name built verbatim from a ``GET /certificates/enrollments/data`` response."""
    if not isinstance(enrollment_data, dict) or not enrollment_data.get("commonName") \
            or not enrollment_data.get("countryName"):
        raise CertificateError(
            "The enrollment data must be the response of GET /certificates/enrollments/data "
            "(it needs at least commonName and countryName).")
    known = {key for key, _oid in _ENROLLMENT_FIELDS}
    unknown = sorted(k for k, v in enrollment_data.items() if k not in known and v not in (None, "", []))
    if unknown:
        # KSeF may add attributes; a CSR without them would be rejected (25003), so say so.
        _logger.warning("Enrollment data contains attributes this client does not map: %s", ", ".join(unknown))
    attributes = []
    for key, oid in _ENROLLMENT_FIELDS:
        value = enrollment_data.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]  # givenName may be a list
        for item in values:
            if item not in (None, ""):
                attributes.append(x509.NameAttribute(oid, str(item)))
    return x509.Name(attributes)


def build_csr(enrollment_data, key_type="EC", *, private_key=None):
    """Build a PKCS#10 CSR for ``POST /certificates/enrollments``; returns ``(csr_der, private_key)``.

    The subject copies ``enrollment_data`` (from ``get_enrollment_data()``)
    verbatim, as KSeF rejects any change (error 25003).  A new key of
    ``key_type`` (``"EC"`` P-256, recommended, or ``"RSA"`` 2048) is generated
    unless ``private_key`` is given.  Base64-encode ``csr_der`` for the API
    (``enroll_certificate`` does it).
    """
    subject = enrollment_subject(enrollment_data)
    if private_key is None:
        private_key = generate_private_key(key_type)
    else:
        check_supported_key(private_key)
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(private_key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER), private_key
