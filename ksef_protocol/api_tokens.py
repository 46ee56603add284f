"""KSeF token endpoints (``/tokens``, tokeny-ksef.md, digest §12).

Generating a token needs an XAdES-authenticated session in a ``Nip`` or
``InternalId`` context.  The token text is returned once only: the caller
must store it securely straight away; it is never logged here.
"""
import re

from .errors import KsefProtocolError

TOKEN_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage", "SubunitManage",
                     "EnforcementOperations", "Introspection", "CollectiveIdentifierManage")  # +2.7.0
TOKEN_STATUSES = ("Pending", "Active", "Revoking", "Revoked", "Failed")
AUTHOR_IDENTIFIER_TYPES = ("Nip", "Pesel", "Fingerprint")
_REFERENCE = re.compile(r"^[0-9A-Za-z-]{1,64}$")


def _check_reference(reference):
    # Reference numbers are letters, digits and dashes; anything else would change the URL path.
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise ValueError("Not a KSeF token reference number: %r." % (reference,))
    return reference


def _group(path):
    # Endpoints without a named limit each get their own 10/30/120 counter (limity-api.md).
    return "other:" + path


class TokensApiMixin:
    """``/tokens`` calls; mixed into :class:`KsefClient` (needs ``self._request``)."""

    def generate_ksef_token(self, permissions, description):
        """``POST /tokens`` (202); returns ``(reference_number, token)``.

        ``permissions`` is a subset of :data:`TOKEN_PERMISSIONS`; ``description``
        5-256 characters.  The token becomes usable once :meth:`get_ksef_token`
        reports status ``Active``.
        """
        permissions = list(permissions or [])
        if not permissions:
            raise ValueError("Choose at least one permission for the KSeF token.")
        unknown = [p for p in permissions if p not in TOKEN_PERMISSIONS]
        if unknown:
            raise ValueError("Unknown token permissions %s; allowed: %s."
                             % (", ".join(map(str, unknown)), ", ".join(TOKEN_PERMISSIONS)))
        if not isinstance(description, str) or not 5 <= len(description) <= 256:
            raise ValueError("The token description must have 5 to 256 characters.")
        payload = self._request("POST", "/tokens", json={"permissions": permissions, "description": description},
                                expected=(202,), rate_group=_group("/tokens"))
        payload = payload or {}
        if not payload.get("referenceNumber") or not payload.get("token"):
            raise KsefProtocolError("KSeF accepted the token request but did not return the reference number "
                                    "and token.")
        return payload["referenceNumber"], payload["token"]

    def get_ksef_token(self, reference):
        """``GET /tokens/{ref}``: metadata incl. ``status`` (Pending, Active, Revoking, Revoked, Failed)."""
        return self._request("GET", "/tokens/%s" % _check_reference(reference), rate_group=_group("/tokens/{referenceNumber}"))

    def iter_ksef_tokens(self, *, status=None, description=None, author_identifier=None,
                         author_identifier_type=None, page_size=None):
        """``GET /tokens`` page by page (``x-continuation-token`` header); yields token metadata dicts.

        ``status`` is one status or a list of them; ``description`` and
        ``author_identifier`` need at least 3 characters; ``page_size`` 10-100.
        """
        params = []
        statuses = [status] if isinstance(status, str) else list(status or [])
        for value in statuses:
            if value not in TOKEN_STATUSES:
                raise ValueError("Unknown token status %r; use %s." % (value, ", ".join(TOKEN_STATUSES)))
            params.append(("status", value))
        for name, value in (("description", description), ("authorIdentifier", author_identifier)):
            if value is not None:
                if len(value) < 3:
                    raise ValueError("The %s filter needs at least 3 characters." % name)
                params.append((name, value))
        if author_identifier_type is not None:
            if author_identifier_type not in AUTHOR_IDENTIFIER_TYPES:
                raise ValueError("author_identifier_type must be one of %s." % ", ".join(AUTHOR_IDENTIFIER_TYPES))
            params.append(("authorIdentifierType", author_identifier_type))
        if page_size is not None:
            if not 10 <= int(page_size) <= 100:
                raise ValueError("page_size must be between 10 and 100.")
            params.append(("pageSize", int(page_size)))
        continuation = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            payload = self._request("GET", "/tokens", params=params or None, headers=headers,
                                    rate_group=_group("/tokens")) or {}
            for item in payload.get("tokens") or []:
                yield item
            next_token = payload.get("continuationToken")
            if not next_token or next_token == continuation:
                return
            continuation = next_token

    def revoke_ksef_token(self, reference):
        """``DELETE /tokens/{ref}`` (204).  Later logins with that token fail (450 / 21301)."""
        self._request("DELETE", "/tokens/%s" % _check_reference(reference), expected=(204,),
                      rate_group=_group("/tokens/{referenceNumber}"))
