"""Verification links printed as QR codes on invoice visualisations (``kody-qr.md``, digest §9).

* KOD I (every invoice sent to KSeF, online or offline):
  ``https://{qr-host}/invoice/{sellerNip}/{DD-MM-YYYY}/{sha256 Base64URL}``.
* KOD II (offline invoices only, signed with the private key of a KSeF
  certificate of type ``Offline``):
  ``https://{qr-host}/certificate/{ctxType}/{ctxValue}/{sellerNip}/{certSerial}/{hash}/{signature}``;
  the signature covers the link without ``https://`` up to and including the hash.

This module builds and checks the link text only; drawing the QR image
(ISO/IEC 18004) is left to the presentation layer.
"""
import base64
import binascii
import datetime
import re
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .certificates import coerce_certificate, coerce_private_key, serial_number_hex

#: QR hosts by environment name (kody-qr.md); used when a name is passed instead of a host.
QR_HOSTS = {
    "test": "https://qr-test.ksef.mf.gov.pl",
    "demo": "https://qr-demo.ksef.mf.gov.pl",
    "prod": "https://qr.ksef.mf.gov.pl",
}
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
#: Text printed under the codes (kody-qr.md).
LABEL_OFFLINE = "OFFLINE"
LABEL_CERTIFICATE = "CERTYFIKAT"

_NIP = re.compile(r"^\d{10}$")
_SERIAL = re.compile(r"^[0-9A-F]+$")
_HASH_B64URL = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, unpadded
_RSA_PSS_SALT_LENGTH = 32


class QrCodeError(ValueError):
    """Link data is invalid or a KOD II signature does not verify."""


def b64url(data: bytes) -> str:
    """Unpadded Base64URL, as used in the QR links."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode Base64URL with or without padding."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise QrCodeError("%r is not valid Base64URL." % (text,)) from None


def invoice_hash_b64url(invoice_sha256) -> str:
    """Normalise a SHA-256 digest (32 raw bytes, Base64 or Base64URL text) to unpadded Base64URL.

    Pass the digest of the exact invoice bytes sent to KSeF (``invoiceHash``),
    not the invoice itself.
    """
    if isinstance(invoice_sha256, (bytes, bytearray)):
        digest = bytes(invoice_sha256)
        if len(digest) != 32:
            raise QrCodeError("The invoice hash must be the 32-byte SHA-256 digest of the invoice file "
                              "(got %d bytes); hash the invoice first." % len(digest))
        return b64url(digest)
    if isinstance(invoice_sha256, str):
        text = invoice_sha256.strip().replace("+", "-").replace("/", "_").rstrip("=")
        if not _HASH_B64URL.match(text) or len(b64url_decode(text)) != 32:
            raise QrCodeError("The invoice hash must be a Base64 SHA-256 digest (32 bytes).")
        return text
    raise QrCodeError("The invoice hash must be bytes or Base64 text, not %s." % type(invoice_sha256).__name__)


def _qr_base_url(environment_or_qr_host):
    """``https://host`` from an Environment (``.qr_url``), an environment name, a host or a URL."""
    value = getattr(environment_or_qr_host, "qr_url", environment_or_qr_host)
    if not value or not isinstance(value, str):
        raise QrCodeError("No QR host configured for this environment; pass the QR host explicitly.")
    value = value.strip()
    if value.lower() in QR_HOSTS:
        return QR_HOSTS[value.lower()]
    if "://" not in value:
        value = "https://" + value
    return value.rstrip("/")


def _check_nip(nip, what):
    nip = str(nip or "").strip()
    if not _NIP.match(nip):
        raise QrCodeError("The %s must be a 10-digit NIP without dashes; got %r." % (what, nip))
    return nip


def _format_issue_date(issue_date):
    if isinstance(issue_date, datetime.datetime):
        issue_date = issue_date.date()
    if isinstance(issue_date, datetime.date):
        return issue_date.strftime("%d-%m-%Y")
    text = str(issue_date or "").strip()
    for pattern, layout in ((r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d"),   # P_1 as written in the FA(3) XML
                            (r"^\d{2}-\d{2}-\d{4}$", "%d-%m-%Y")):
        if re.match(pattern, text):
            try:
                return datetime.datetime.strptime(text, layout).strftime("%d-%m-%Y")
            except ValueError:
                raise QrCodeError("The issue date (P_1) %r is not a real calendar date." % (text,)) from None
    raise QrCodeError("The issue date (P_1) must be a date or 'YYYY-MM-DD'; got %r." % (issue_date,))


def kod_i_url(environment_or_qr_host, seller_nip, issue_date, invoice_sha256) -> str:
    """KOD I link: ``https://{qr-host}/invoice/{sellerNip}/{DD-MM-YYYY}/{hash}``.

    ``environment_or_qr_host`` is an ``Environment``, ``"test"|"demo"|"prod"``
    or a QR host/URL; ``issue_date`` is the invoice's ``P_1``;
    ``invoice_sha256`` the SHA-256 of the invoice file (raw or Base64).
    """
    return "%s/invoice/%s/%s/%s" % (
        _qr_base_url(environment_or_qr_host), _check_nip(seller_nip, "seller NIP"),
        _format_issue_date(issue_date), invoice_hash_b64url(invoice_sha256))


def _kod_ii_unsigned(qr_host, context_type, context_value, seller_nip, certificate_serial_hex, invoice_hash):
    if context_type not in CONTEXT_TYPES:
        raise QrCodeError("The context type must be one of %s; got %r." % (", ".join(CONTEXT_TYPES), context_type))
    context_value = str(context_value or "").strip()
    if not context_value or "/" in context_value:
        raise QrCodeError("The context identifier value is missing or contains '/'.")
    serial = str(certificate_serial_hex or "").strip().upper()
    if not _SERIAL.match(serial):
        raise QrCodeError("The certificate serial number must be hexadecimal (e.g. 01F20A5D352AE590); got %r."
                          % (certificate_serial_hex,))
    return "%s/certificate/%s/%s/%s/%s/%s" % (
        _qr_base_url(qr_host), context_type, context_value, _check_nip(seller_nip, "seller NIP"), serial,
        invoice_hash_b64url(invoice_hash))


def kod_ii_string_to_sign(url: str) -> str:
    """The part of a KOD II link that is signed: no ``https://``, no trailing ``/``, no signature segment.

    Accepts an unsigned link (ending with the hash) or a full link (ending with the signature).
    """
    rest = re.sub(r"^https?://", "", url.strip()).rstrip("/")
    segments = rest.split("/")
    # host, "certificate", type, value, seller, serial, hash [, signature]
    if len(segments) not in (7, 8) or segments[1] != "certificate":
        raise QrCodeError("Not a KOD II link: %r." % (url,))
    return "/".join(segments[:7])


def _sign_rsa_or_ec(private_key, data, ecdsa_format):
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(
            data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=_RSA_PSS_SALT_LENGTH), hashes.SHA256())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise QrCodeError("KOD II needs an EC key on curve P-256, not %s." % private_key.curve.name)
        der = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        if ecdsa_format == "der":
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise QrCodeError("KOD II needs an RSA or EC private key.")


def kod_ii_url(qr_host, context_type, context_value, seller_nip, certificate_serial_hex, invoice_hash,
               private_key, *, ecdsa_format="p1363", key_password=None) -> str:
    """KOD II link for an offline invoice, signed with the Offline KSeF certificate's private key.

    RSA keys sign with RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt); EC
    P-256 keys with ECDSA SHA-256 encoded as ``R || S`` (``ecdsa_format="der"``
    gives the also-accepted DER form).  ``certificate_serial_hex`` is the
    KSeF certificate serial (``certificateSerialNumber``).
    """
    if ecdsa_format not in ("p1363", "der"):
        raise QrCodeError("ecdsa_format must be 'p1363' or 'der'.")
    private_key = coerce_private_key(private_key, key_password)
    unsigned = _kod_ii_unsigned(qr_host, context_type, context_value, seller_nip, certificate_serial_hex,
                                invoice_hash)
    signature = _sign_rsa_or_ec(private_key, kod_ii_string_to_sign(unsigned).encode("utf-8"), ecdsa_format)
    return "%s/%s" % (unsigned, b64url(signature))


class KodIILink(NamedTuple):
    """Parts of a verified KOD II link."""
    qr_host: str
    context_type: str
    context_value: str
    seller_nip: str
    certificate_serial: str
    invoice_hash: str
    signature: bytes


def parse_kod_ii_url(url: str) -> KodIILink:
    """Split a signed KOD II link into its parts (no signature check)."""
    rest = re.sub(r"^https?://", "", url.strip()).rstrip("/")
    segments = rest.split("/")
    if len(segments) != 8 or segments[1] != "certificate":
        raise QrCodeError("Not a signed KOD II link: %r." % (url,))
    host, _kind, context_type, context_value, seller, serial, invoice_hash, signature = segments
    return KodIILink(host, context_type, context_value, seller, serial, invoice_hash, b64url_decode(signature))


def verify_kod_ii_url(url: str, certificate) -> KodIILink:
    """Check a KOD II link's signature against ``certificate`` (object or PEM/DER); return its parts.

    Also checks that the serial number in the link is the certificate's.
    Accepts ECDSA signatures in ``R || S`` and DER form.  Raises
    :class:`QrCodeError` when anything does not match.
    """
    certificate = coerce_certificate(certificate)
    link = parse_kod_ii_url(url)
    if link.certificate_serial.upper().lstrip("0") != serial_number_hex(certificate).lstrip("0"):
        raise QrCodeError("The link names certificate %s but the given certificate is %s."
                          % (link.certificate_serial, serial_number_hex(certificate)))
    data = kod_ii_string_to_sign(url).encode("utf-8")
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        candidates = [(link.signature, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=_RSA_PSS_SALT_LENGTH), hashes.SHA256())]
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        ecdsa = ec.ECDSA(hashes.SHA256())
        candidates = [(link.signature, ecdsa)]  # DER form
        if len(link.signature) == 64:  # IEEE P1363 R||S form, the recommended one
            der = encode_dss_signature(int.from_bytes(link.signature[:32], "big"),
                                       int.from_bytes(link.signature[32:], "big"))
            candidates.insert(0, (der, ecdsa))
    else:
        raise QrCodeError("Unsupported certificate key type for KOD II.")
    for candidate in candidates:
        try:
            public_key.verify(candidate[0], data, *candidate[1:])
            return link
        except (InvalidSignature, ValueError):
            continue
    raise QrCodeError("The KOD II signature does not verify with this certificate.")

