"""Authentication: challenge, KSeF-token or XAdES init, status polling, redeem, refresh (digest §3).

The flow is asynchronous: after the init call KSeF answers 202 with an
``authenticationToken`` and the status must be polled until ``200``.  Polling
backs off and never sleeps longer than ``wait`` seconds in total; if the status
is still ``100`` the caller gets :class:`KsefAuthPending` and can resume later
(OCSP/CRL checks on DEMO/PROD can take a while).  Status ``550`` ("cancelled by
system") restarts the whole flow a bounded number of times.
"""
import base64
import json
import logging
import re
from dataclasses import dataclass
from typing import Optional

from ._dates import parse_datetime, utc_from_timestamp
from .crypto import rsa_oaep_encrypt
from .errors import KsefAuthFailed, KsefAuthPending, KsefProtocolError
from .public_keys import USAGE_TOKEN

_logger = logging.getLogger("ksef_protocol")

#: Successive poll intervals in seconds; the last one repeats.
AUTH_POLL_INTERVALS = (0.5, 1.0, 2.0, 3.0, 5.0)

CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
SUBJECT_IDENTIFIER_TYPES = ("certificateSubject", "certificateFingerprint")


@dataclass
class AuthTokens:
    """Tokens obtained from KSeF.  Secrets: never logged (``repr`` hides them)."""

    access_token: str
    access_token_valid_until: object
    refresh_token: Optional[str]
    refresh_token_valid_until: object
    reference_number: Optional[str]

    def __repr__(self):
        return "AuthTokens(reference_number=%r, access_token_valid_until=%r, refresh_token_valid_until=%r)" % (
            self.reference_number, self.access_token_valid_until, self.refresh_token_valid_until)


class _AuthCancelledBySystem(Exception):
    """Status 550: KSeF cancelled the operation; the whole flow may be restarted."""


def jwt_expiry(token):
    """The ``exp`` claim of a JWT as aware UTC datetime, or ``None`` if unreadable (no signature check)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))["exp"]
        return utc_from_timestamp(float(exp))
    except (IndexError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _token_info(payload, name):
    info = (payload or {}).get(name)
    if not isinstance(info, dict) or not info.get("token"):
        raise KsefProtocolError("KSeF token response has no %s." % name)
    token = info["token"]
    return token, parse_datetime(info.get("validUntil")) or jwt_expiry(token)


def _check_context(context_identifier, context_type):
    if context_type not in CONTEXT_TYPES:
        raise ValueError("KSeF context type must be one of %s, got %r." % (", ".join(CONTEXT_TYPES), context_type))
    value = (context_identifier or "").strip()
    if context_type == "Nip" and not re.fullmatch(r"\d{10}", value):
        raise ValueError("KSeF context NIP must be exactly 10 digits without prefix or hyphens, got %r."
                         % (context_identifier,))
    if not value:
        raise ValueError("KSeF context identifier is empty.")
    return value


def _load_certificate(certificate):
    if not isinstance(certificate, bytes):
        return certificate
    from cryptography import x509
    from cryptography.hazmat.backends import default_backend
    if b"-----BEGIN" in certificate:
        return x509.load_pem_x509_certificate(certificate, default_backend())
    return x509.load_der_x509_certificate(certificate, default_backend())


def _load_private_key(private_key):
    if not isinstance(private_key, bytes):
        return private_key
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import serialization
    try:
        if b"-----BEGIN" in private_key:
            return serialization.load_pem_private_key(private_key, None, default_backend())
        return serialization.load_der_private_key(private_key, None, default_backend())
    except (TypeError, ValueError):
        raise ValueError("Cannot read the private key: pass an unencrypted PEM/DER key or a loaded key object "
                         "(use ksef_protocol.certificates.load_certificate_and_key for password-protected keys)."
                         ) from None


class AuthApiMixin:
    """Authentication endpoints; successful flows also set ``client.access_token``."""

    def get_challenge(self):
        """``POST /auth/challenge``: ``{challenge, timestamp, timestampMs, clientIp}`` (valid 10 minutes)."""
        return self._request("POST", "/auth/challenge", auth="none", rate_group="public", idempotent=True)

    def authenticate_with_ksef_token(self, context_nip, ksef_token, *, wait=30.0, context_type="Nip",
                                     authorization_policy=None):
        """Authenticate with a KSeF token in the context of ``context_nip`` and return :class:`AuthTokens`.

        The plaintext ``{token}|{timestampMs}`` is encrypted with the ``KsefTokenEncryption`` key
        (RSA-OAEP SHA-256).  Raises :class:`KsefAuthFailed` (e.g. 450 bad/revoked token) or
        :class:`KsefAuthPending` if still in progress after ``wait`` seconds.
        """
        context_value = _check_context(context_nip, context_type)
        if not ksef_token or not isinstance(ksef_token, str):
            raise ValueError("The KSeF token is empty: generate one in the KSeF portal or via generate_ksef_token().")

        def start():
            # A challenge is spent by the attempt that names it (KSeF answers 21111 to a second one):
            # after 21470 (keys rotated) the keys are re-fetched and a new challenge is taken.
            def send(certificate):
                challenge = self.get_challenge()
                plaintext = ("%s|%s" % (ksef_token, challenge["timestampMs"])).encode("utf-8")
                body = {
                    "challenge": challenge["challenge"],
                    "contextIdentifier": {"type": context_type, "value": context_value},
                    "encryptedToken": base64.b64encode(
                        rsa_oaep_encrypt(certificate.public_key(), plaintext)).decode("ascii"),
                    "publicKeyId": certificate.public_key_id,
                }
                if authorization_policy:
                    body["authorizationPolicy"] = authorization_policy
                return self._request("POST", "/auth/ksef-token", json=body, auth="none", rate_group="public",
                                     expected=(202,), idempotent=True)
            return self._with_public_key(USAGE_TOKEN, send)

        return self._run_auth_flow(start, wait)

    def authenticate_with_certificate(self, context_nip, certificate, private_key, *,
                                      subject_identifier_type="certificateSubject", wait=30.0,
                                      verify_certificate_chain=None):
        """Authenticate with a signed XAdES ``AuthTokenRequest`` and return :class:`AuthTokens`.

        ``certificate`` / ``private_key`` are cryptography objects or PEM/DER bytes.  The
        signature is built by :func:`ksef_protocol.xades.sign_auth_token_request`.
        """
        context_value = _check_context(context_nip, "Nip")
        if subject_identifier_type not in SUBJECT_IDENTIFIER_TYPES:
            raise ValueError("subject_identifier_type must be one of %s." % ", ".join(SUBJECT_IDENTIFIER_TYPES))
        certificate = _load_certificate(certificate)
        private_key = _load_private_key(private_key)
        from . import xades  # written separately; imported lazily so the package loads without it

        def start():
            challenge = self.get_challenge()
            signed = xades.sign_auth_token_request(challenge["challenge"], context_value, certificate, private_key,
                                                   subject_identifier_type)
            params = None
            if verify_certificate_chain is not None:
                params = {"verifyCertificateChain": "true" if verify_certificate_chain else "false"}
            return self._request("POST", "/auth/xades-signature", data=signed, params=params, auth="none",
                                 rate_group="public", expected=(202,), idempotent=True,
                                 headers={"Content-Type": "application/xml"})

        return self._run_auth_flow(start, wait)

    def resume_authentication(self, reference_number, authentication_token, *, wait=30.0):
        """Continue a flow that raised :class:`KsefAuthPending`: poll again, then redeem."""
        try:
            return self._finish_authentication(reference_number, authentication_token, wait)
        except _AuthCancelledBySystem:
            raise KsefAuthFailed("KSeF cancelled authentication %s (550); start a new authentication."
                                 % reference_number, status_code=550, reference_number=reference_number)

    def get_authentication_status(self, reference_number, authentication_token):
        """``GET /auth/{referenceNumber}`` with the authentication token (raw JSON)."""
        return self._request("GET", "/auth/%s" % reference_number, auth=authentication_token,
                             rate_group="public")

    def refresh_access_token(self, refresh_token):
        """New access token from a refresh token; the returned refresh fields are ``None`` (none is issued)."""
        if not refresh_token:
            raise ValueError("No KSeF refresh token: authenticate again.")
        payload = self._request("POST", "/auth/token/refresh", auth=refresh_token, rate_group="public",
                                idempotent=True)
        access, access_until = _token_info(payload, "accessToken")
        self.access_token, self.access_token_valid_until = access, access_until
        return AuthTokens(access, access_until, None, None, None)

    def revoke_current_authentication(self):
        """``DELETE /auth/sessions/current``: kills the refresh token (issued access tokens live until expiry)."""
        self._request("DELETE", "/auth/sessions/current", expected=(204,))

    # -- internals ---------------------------------------------------------------------
    def _run_auth_flow(self, start, wait):
        for attempt in range(self.max_retries + 1):
            init = start()
            try:
                reference = init["referenceNumber"]
                auth_token = init["authenticationToken"]["token"]
            except (TypeError, KeyError):
                raise KsefProtocolError("KSeF authentication init response lacks referenceNumber/authenticationToken.")
            try:
                return self._finish_authentication(reference, auth_token, wait)
            except _AuthCancelledBySystem:
                _logger.info("KSeF authentication %s cancelled by system (550), restarting", reference)
                if attempt >= self.max_retries:
                    raise KsefAuthFailed("KSeF repeatedly cancelled the authentication (550); try again later.",
                                         status_code=550, reference_number=reference)
                self._sleep(self._backoff(attempt))

    def _finish_authentication(self, reference, auth_token, wait):
        slept = 0.0
        poll = 0
        while True:
            payload = self.get_authentication_status(reference, auth_token)
            status = (payload or {}).get("status") or {}
            code = status.get("code")
            if code == 200:
                return self._redeem(reference, auth_token)
            if code == 550:
                raise _AuthCancelledBySystem()
            if code != 100:
                raise KsefAuthFailed(
                    "KSeF authentication failed with status %s: %s%s" % (
                        code, status.get("description") or "no description",
                        (" (%s)" % "; ".join(map(str, status.get("details") or []))) if status.get("details") else ""),
                    status_code=code, details=status.get("details"), reference_number=reference)
            remaining = wait - slept
            if remaining <= 0:
                raise KsefAuthPending(reference, auth_token)
            interval = min(AUTH_POLL_INTERVALS[min(poll, len(AUTH_POLL_INTERVALS) - 1)], remaining)
            self._sleep(interval)
            slept += interval
            poll += 1

    def _redeem(self, reference, auth_token):
        # Redeem works once only: never retried blindly (idempotent=False).
        payload = self._request("POST", "/auth/token/redeem", auth=auth_token, rate_group="public")
        access, access_until = _token_info(payload, "accessToken")
        refresh, refresh_until = _token_info(payload, "refreshToken")
        self.access_token, self.access_token_valid_until = access, access_until
        return AuthTokens(access, access_until, refresh, refresh_until, reference)
