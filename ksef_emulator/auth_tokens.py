"""JWT-style bearer tokens (HS256 with the emulator's secret) and their resolution.

Three token kinds, as in KSeF: ``authentication`` (status polling and redeem),
``access`` (every protected call, default 15 min) and ``refresh`` (7 days, only
for ``/auth/token/refresh``). Claims: ``typ``, ``ref`` (authentication operation
reference), ``ctx`` ``{type, value}``, ``sub`` ``{type, value}``, ``perms``,
``cat`` (method category), ``mth`` (method), ``ips`` (authorization policy),
``iat``, ``exp``, ``jti``.
"""
import base64
import hashlib
import hmac
import ipaddress
import json
import uuid

from .errors import forbidden, unauthorized


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthContext:
    """Who is calling: the resolved bearer token."""

    def __init__(self, claims):
        self.claims = claims
        self.token_type = claims["typ"]
        self.reference_number = claims["ref"]
        self.context_type = claims["ctx"]["type"]
        self.context_value = claims["ctx"]["value"]
        self.subject_type = (claims.get("sub") or {}).get("type")
        self.subject_value = (claims.get("sub") or {}).get("value")
        self.permissions = list(claims.get("perms") or [])
        self.auth_category = claims.get("cat")  # Token | XadesSignature
        self.auth_method = claims.get("mth")
        self.ksef_token_reference = claims.get("ktr")
        self.expires_at = claims["exp"]

    @property
    def context_nip(self):
        """The 10-digit NIP behind the context (Nip, InternalId ``NIP-xxxxx``, NipVatUe ``NIP-EU``)."""
        return self.context_value.split("-", 1)[0] if self.context_type != "PeppolId" else None

    def __repr__(self):
        return "<AuthContext %s %s:%s %s>" % (self.token_type, self.context_type, self.context_value, self.permissions)


class TokenService:
    def __init__(self, store, clock):
        self._clock = clock
        self._secret = store.secret_bytes("jwt")

    def issue(self, token_type, lifetime_seconds, **claims):
        """Return ``(token, exp_unix)``."""
        now = self._clock.time()
        payload = dict(claims, typ=token_type, iat=int(now), exp=int(now + lifetime_seconds), jti=uuid.uuid4().hex)
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        signature = _b64url(hmac.new(self._secret, ("%s.%s" % (header, body)).encode("ascii"), hashlib.sha256).digest())
        return "%s.%s.%s" % (header, body, signature), payload["exp"]

    def decode(self, token):
        """Claims of a token we issued, or None if malformed/forged (expiry is not checked here)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64url(hmac.new(self._secret, ("%s.%s" % (parts[0], parts[1])).encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            return json.loads(_b64url_decode(parts[1]))
        except ValueError:
            return None

    def resolve(self, request, accepted_types):
        """Resolve ``Authorization: Bearer`` to an :class:`AuthContext` or raise 401/403."""
        header = request.headers.get("Authorization") or ""
        if not header.lower().startswith("bearer "):
            raise unauthorized("Brak tokena dostępu (nagłówek Authorization: Bearer).")
        claims = self.decode(header[7:].strip())
        if claims is None:
            raise unauthorized("Nieprawidłowy token.")
        if claims.get("typ") not in accepted_types:
            raise unauthorized("Token typu %s nie jest akceptowany przez tę operację (oczekiwano: %s)."
                               % (claims.get("typ"), ", ".join(accepted_types)))
        if claims["exp"] <= self._clock.time():
            raise unauthorized("Token wygasł.")
        policy = claims.get("ips")
        if policy and not ip_allowed(request.client_ip, policy):
            raise forbidden("ip-not-allowed", "Żądanie pochodzi z adresu IP innego niż wskazany podczas uwierzytelnienia.",
                            {"clientIp": request.client_ip})
        return AuthContext(claims)


def ip_allowed(client_ip, policy):
    """Check ``authorizationPolicy.allowedIps`` (addresses, ``a-b`` ranges, CIDR masks)."""
    allowed = policy.get("allowedIps") or policy
    addresses = allowed.get("ip4Addresses") or []
    ranges = allowed.get("ip4Ranges") or []
    masks = allowed.get("ip4Masks") or []
    if not (addresses or ranges or masks):
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if client_ip in addresses:
        return True
    for item in ranges:
        low, _, high = item.partition("-")
        try:
            if ipaddress.ip_address(low.strip()) <= ip <= ipaddress.ip_address(high.strip()):
                return True
        except ValueError:
            continue
    for item in masks:
        try:
            if ip in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False
