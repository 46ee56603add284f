"""KSeF certificate endpoints (``/certificates/*``, certyfikaty-KSeF.md, digest §11).

Most of them need an access token obtained with XAdES (certificate)
authentication; with a KSeF-token session KSeF answers 25001/25002.  The
operations act on the authenticated subject (its PESEL, NIP or fingerprint),
whatever the login context.
"""
import base64
import datetime
import re

from .errors import KsefProtocolError

CERTIFICATE_TYPES = ("Authentication", "Offline")
REVOCATION_REASONS = ("Unspecified", "Superseded", "KeyCompromise")
QUERY_FILTERS = ("certificateSerialNumber", "name", "type", "status", "expiresAfter")
_FILTER_ALIASES = {"certificate_serial_number": "certificateSerialNumber", "serial": "certificateSerialNumber",
                   "certificate_type": "type", "expires_after": "expiresAfter"}
_CERTIFICATE_NAME = re.compile("^[a-zA-Z0-9_\\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]{5,100}$")
_SERIAL = re.compile(r"^[0-9A-F]{16}$")
_REFERENCE = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_QUERY_PAGE_SIZE = 50  # the maximum the API allows; fewer round trips against a 10/30/120 limit


def _group(path):
    # Endpoints without a named limit each get their own 10/30/120 counter (limity-api.md).
    return "other:" + path


def _iso(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("Pass a timezone-aware datetime (KSeF would read a naive one as Warsaw time).")
        return value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return value


def _check_reference(reference):
    # Reference numbers are letters, digits and dashes; anything else would change the URL path.
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise ValueError("Not a KSeF reference number: %r." % (reference,))
    return reference


def _check_serial(serial):
    serial = str(serial or "").strip().upper()
    if not _SERIAL.match(serial):
        raise ValueError("A KSeF certificate serial number has 16 hexadecimal digits; got %r." % (serial,))
    return serial


class CertificatesApiMixin:
    """``/certificates`` calls; mixed into :class:`KsefClient` (needs ``self._request``)."""

    def get_certificate_limits(self):
        """``GET /certificates/limits``.

        Returns ``{canRequest, enrollment{limit, remaining}, certificate{limit, remaining}}``.
        """
        return self._request("GET", "/certificates/limits", rate_group=_group("/certificates/limits"))

    def get_enrollment_data(self):
        """``GET /certificates/enrollments/data``: the DN attributes to copy into the CSR.

        Pass the result to :func:`ksef_protocol.certificates.build_csr`.  Only
        available after XAdES authentication (25001 otherwise).
        """
        return self._request("GET", "/certificates/enrollments/data",
                             rate_group=_group("/certificates/enrollments/data"))

    def enroll_certificate(self, name, certificate_type, csr_der, valid_from=None):
        """``POST /certificates/enrollments``; returns the enrollment ``referenceNumber``.

        ``name`` is 5-100 letters, digits, spaces, ``_`` or ``-``;
        ``certificate_type`` is ``"Authentication"`` or ``"Offline"``;
        ``csr_der`` the DER CSR from ``build_csr``; ``valid_from`` an optional
        aware datetime.  Poll :meth:`get_enrollment_status` for the result.
        """
        if not isinstance(name, str) or not _CERTIFICATE_NAME.match(name):
            raise ValueError("The certificate name must be 5-100 characters: letters, digits, spaces, '_' or '-'.")
        if certificate_type not in CERTIFICATE_TYPES:
            raise ValueError("certificate_type must be 'Authentication' or 'Offline', not %r." % (certificate_type,))
        if not isinstance(csr_der, (bytes, bytearray)) or not csr_der:
            raise ValueError("csr_der must be the DER bytes of a PKCS#10 request (see certificates.build_csr).")
        body = {
            "certificateName": name,
            "certificateType": certificate_type,
            "csr": base64.b64encode(bytes(csr_der)).decode("ascii"),
        }
        if valid_from is not None:
            body["validFrom"] = _iso(valid_from)
        payload = self._request("POST", "/certificates/enrollments", json=body, expected=(202,),
                                rate_group=_group("/certificates/enrollments"))
        reference = (payload or {}).get("referenceNumber")
        if not reference:
            raise KsefProtocolError("KSeF accepted the certificate enrollment but returned no referenceNumber.")
        return reference

    def get_enrollment_status(self, reference):
        """``GET /certificates/enrollments/{ref}``.

        Returns ``{requestDate, status{code, description, details}, certificateSerialNumber}``.

        Status codes: 100 in progress, 200 issued (``certificateSerialNumber``
        set), 400 rejected, 500/550 failed.  Raises ``KsefGone`` after 30 days.
        """
        return self._request("GET", "/certificates/enrollments/%s" % _check_reference(reference),
                             rate_group=_group("/certificates/enrollments/{referenceNumber}"))

    def retrieve_certificates(self, serials):
        """``POST /certificates/retrieve`` for 1-10 serial numbers; returns the ``certificates`` list.

        Each item has ``certificate`` (Base64 DER; load it with
        ``certificates.load_certificate``), ``certificateName``,
        ``certificateSerialNumber`` and ``certificateType``.
        """
        if isinstance(serials, str):
            serials = [serials]
        serials = [_check_serial(s) for s in serials]
        if not 1 <= len(serials) <= 10:
            raise ValueError("Retrieve between 1 and 10 certificates at a time.")
        payload = self._request("POST", "/certificates/retrieve", json={"certificateSerialNumbers": serials},
                                rate_group=_group("/certificates/retrieve"), idempotent=True)
        return list((payload or {}).get("certificates") or [])

    def revoke_certificate(self, serial, reason="Unspecified"):
        """``POST /certificates/{serial}/revoke`` (204); ``reason``: Unspecified, Superseded or KeyCompromise."""
        if reason not in REVOCATION_REASONS:
            raise ValueError("reason must be one of %s." % ", ".join(REVOCATION_REASONS))
        serial = _check_serial(serial)
        self._request("POST", "/certificates/%s/revoke" % serial, json={"revocationReason": reason},
                      expected=(204,), rate_group=_group("/certificates/{certificateSerialNumber}/revoke"),
                      idempotent=True)

    def query_certificates(self, **filters):
        """``POST /certificates/query`` following ``pageOffset`` until ``hasMore`` is false; returns all items.

        Filters: ``certificateSerialNumber``, ``name`` (contains), ``type``
        (Authentication/Offline), ``status`` (Active/Blocked/Revoked/Expired),
        ``expiresAfter`` (aware datetime or ISO text); snake_case spellings
        (``certificate_serial_number``, ``expires_after``...) also work.
        Optional ``page_size`` (10-50).
        """
        filters = {_FILTER_ALIASES.get(key, key): value for key, value in filters.items()}
        page_size = int(filters.pop("page_size", _QUERY_PAGE_SIZE))
        if not 10 <= page_size <= 50:
            raise ValueError("page_size must be between 10 and 50.")
        unknown = set(filters) - set(QUERY_FILTERS)
        if unknown:
            raise ValueError("Unknown certificate filters: %s (allowed: %s)."
                             % (", ".join(sorted(unknown)), ", ".join(QUERY_FILTERS)))
        body = {key: _iso(value) for key, value in filters.items() if value is not None}
        results = []
        offset = 0
        while True:
            payload = self._request("POST", "/certificates/query", json=body,
                                    params={"pageSize": page_size, "pageOffset": offset},
                                    rate_group=_group("/certificates/query"), idempotent=True) or {}
            page = list(payload.get("certificates") or [])
            results.extend(page)
            if not payload.get("hasMore") or not page:
                return results
            offset += 1
