"""The Ministry of Finance public-key certificates used to encrypt tokens and session keys.

``GET /security/public-key-certificates`` lists certificates with a ``usage``
(``KsefTokenEncryption`` or ``SymmetricKeyEncryption``).  The client picks one
valid now, preferring the latest ``validFrom`` (digest §2), and sends its
``publicKeyId`` so KSeF can reject a retired key with 21470 instead of failing
to decrypt.
"""
import base64
import datetime
import hashlib
from dataclasses import dataclass, field
from typing import List, Optional

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import serialization

from ._dates import format_datetime, parse_datetime
from .errors import KsefBadRequest, KsefProtocolError

_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
USAGE_TOKEN = "KsefTokenEncryption"
USAGE_SYMMETRIC_KEY = "SymmetricKeyEncryption"


@dataclass
class PublicKeyCertificate:
    """One KSeF public-key certificate (``certificate_der`` is the X.509 DER)."""

    certificate_der: bytes
    public_key_id: Optional[str]
    usage: List[str] = field(default_factory=list)
    valid_from: Optional[object] = None
    valid_to: Optional[object] = None
    certificate_id: Optional[str] = None

    @classmethod
    def from_api(cls, item):
        """Build from one element of the ``/security/public-key-certificates`` array."""
        try:
            der = base64.b64decode(item["certificate"])
        except (KeyError, TypeError, ValueError):
            raise KsefProtocolError("KSeF public-key list entry has no readable 'certificate'.") from None
        cert = cls(certificate_der=der, public_key_id=item.get("publicKeyId"), usage=list(item.get("usage") or []),
                   valid_from=parse_datetime(item.get("validFrom")), valid_to=parse_datetime(item.get("validTo")),
                   certificate_id=item.get("certificateId"))
        if not cert.public_key_id:
            cert.public_key_id = cert.compute_public_key_id()
        return cert

    def certificate(self):
        """The parsed :class:`cryptography.x509.Certificate`."""
        return x509.load_der_x509_certificate(self.certificate_der, default_backend())

    def public_key(self):
        """The RSA public key inside the certificate."""
        return self.certificate().public_key()

    def compute_public_key_id(self):
        """Base64(SHA-256(DER SubjectPublicKeyInfo)), the documented ``publicKeyId``."""
        spki = self.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")

    def is_valid_at(self, moment):
        """True if ``moment`` (aware datetime) lies within the validity period."""
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment <= self.valid_to)

    def to_dict(self):
        """JSON-serializable form, for callers who persist the key list."""
        return {"certificate": base64.b64encode(self.certificate_der).decode("ascii"),
                "publicKeyId": self.public_key_id, "usage": list(self.usage),
                "validFrom": self.valid_from and format_datetime(self.valid_from),
                "validTo": self.valid_to and format_datetime(self.valid_to),
                "certificateId": self.certificate_id}

    @classmethod
    def from_dict(cls, payload):
        """Inverse of :meth:`to_dict` (the same shape as the API's)."""
        return cls.from_api(payload)


def select_certificate(certificates, usage, now):
    """The certificate for ``usage`` valid at ``now`` with the latest ``valid_from``.

    Raises :class:`KsefProtocolError` when none fits (the list may be stale: re-fetch it).
    """
    candidates = [c for c in certificates if usage in c.usage and c.is_valid_at(now)]
    if not candidates:
        raise KsefProtocolError("KSeF published no valid public key for %s; re-fetch the public keys." % usage)
    return max(candidates, key=lambda c: c.valid_from or _EARLIEST)


#: How long a fetched key list is trusted before being re-fetched (rotation is announced well ahead).
PUBLIC_KEYS_CACHE_SECONDS = 3600.0


class PublicKeysApiMixin:
    """``get_public_keys`` with an in-memory cache, and the 21470 retry helper used by other mixins."""

    _public_keys = None
    _public_keys_fetched_at = None

    def get_public_keys(self, force=False):
        """Return the KSeF public-key certificates, re-fetching when ``force`` or the cache expired."""
        now = self._clock()
        fresh = (self._public_keys is not None and self._public_keys_fetched_at is not None
                 and now - self._public_keys_fetched_at < PUBLIC_KEYS_CACHE_SECONDS)
        if force or not fresh:
            payload = self._request("GET", "/security/public-key-certificates", auth="none", rate_group="public")
            if not isinstance(payload, list):
                raise KsefProtocolError("KSeF public-key list is not a JSON array.")
            self.load_public_keys([PublicKeyCertificate.from_api(item) for item in payload], fetched_at=now)
        return list(self._public_keys)

    def load_public_keys(self, certificates, fetched_at=None):
        """Seed the cache with a persisted list (``PublicKeyCertificate`` objects or their ``to_dict()``)."""
        self._public_keys = [c if isinstance(c, PublicKeyCertificate) else PublicKeyCertificate.from_dict(c)
                             for c in certificates]
        self._public_keys_fetched_at = self._clock() if fetched_at is None else fetched_at

    def _select_public_key(self, usage, force=False):
        now = datetime.datetime.fromtimestamp(self._clock(), tz=datetime.timezone.utc)
        try:
            return select_certificate(self.get_public_keys(force=force), usage, now)
        except KsefProtocolError:
            if force:
                raise
            return select_certificate(self.get_public_keys(force=True), usage, now)

    def _with_public_key(self, usage, call):
        """Run ``call(certificate)``; on 400/21470 (unknown or retired key) re-fetch the keys and retry once."""
        certificate = self._select_public_key(usage)
        try:
            return call(certificate)
        except KsefBadRequest as exc:
            if 21470 not in exc.codes:
                raise
        return call(self._select_public_key(usage, force=True))
