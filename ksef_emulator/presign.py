"""Pre-signed URLs (like Azure SAS links): no bearer token, an HMAC over path and expiry.

``app.signer.sign(request, "/storage/upo/...", ttl)`` -> ``(absolute_url, expires_ts)``;
a handler serving such a path calls ``app.signer.check(request)`` (403 when invalid/expired).
"""
import hashlib
import hmac

from .errors import forbidden


class UrlSigner:
    def __init__(self, store, clock):
        self._clock = clock
        self._secret = store.secret_bytes("urls")

    def _mac(self, path, expires):
        return hmac.new(self._secret, ("%s|%d" % (path, expires)).encode("utf-8"), hashlib.sha256).hexdigest()

    def sign(self, request, path, ttl_seconds):
        expires = int(self._clock.time() + ttl_seconds)
        return "%s%s?se=%d&sig=%s" % (request.host_url, path, expires, self._mac(path, expires)), expires

    def check(self, request):
        try:
            expires = int(request.query_value("se", "0"))
        except ValueError:
            expires = 0
        signature = request.query_value("sig", "")
        if not hmac.compare_digest(self._mac(request.path, expires), signature):
            raise forbidden("insufficient-resource-access", "Nieprawidłowy podpis adresu.")
        if expires < self._clock.time():
            raise forbidden("insufficient-resource-access", "Adres wygasł.")
