"""KSeF environments: API, QR-verification and taxpayer-portal hosts (digest §1).

Only the TEST API base is stated in ``open-api.json``; DEMO and PROD follow the
same naming (``api-demo``, ``api``) as the documentation links do.  The portal
(Aplikacja Podatnika KSeF) hosts are not in the integrator docs and follow the
Ministry's public naming (``ap-test``, ``ap-demo``, ``ap``).
"""
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Environment:
    """One KSeF environment; use :meth:`get` for the official ones or :meth:`custom`."""

    name: str
    api_url: str
    qr_url: str
    portal_url: str = ""

    @classmethod
    def get(cls, name):
        """Official environment by name: ``"test"``, ``"demo"`` or ``"prod"`` (case-insensitive)."""
        key = (name or "").strip().lower()
        key = _ALIASES.get(key, key)
        try:
            return _OFFICIAL[key]
        except KeyError:
            raise ValueError("Unknown KSeF environment %r: use one of test, demo, prod or Environment.custom()."
                             % (name,)) from None

    @classmethod
    def custom(cls, api_url, qr_url=None, name="custom", portal_url=""):
        """An environment at an arbitrary API base (e.g. the local emulator ``http://127.0.0.1:PORT/v2``).

        ``qr_url`` defaults to the API URL's scheme and host (the emulator serves both).
        """
        parts = urlsplit(api_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("KSeF API URL must be an absolute http(s) URL such as "
                             "https://api-test.ksef.mf.gov.pl/v2, got %r" % (api_url,))
        if qr_url is None:
            qr_url = "%s://%s" % (parts.scheme, parts.netloc)
        return cls(name=name, api_url=api_url.rstrip("/"), qr_url=qr_url.rstrip("/"), portal_url=portal_url)

    @property
    def is_production(self):
        """True for the production environment (real invoices, real legal effect)."""
        return self.name == "prod"


_OFFICIAL = {
    "test": Environment("test", "https://api-test.ksef.mf.gov.pl/v2", "https://qr-test.ksef.mf.gov.pl",
                        "https://ap-test.ksef.mf.gov.pl"),
    "demo": Environment("demo", "https://api-demo.ksef.mf.gov.pl/v2", "https://qr-demo.ksef.mf.gov.pl",
                        "https://ap-demo.ksef.mf.gov.pl"),
    "prod": Environment("prod", "https://api.ksef.mf.gov.pl/v2", "https://qr.ksef.mf.gov.pl",
                        "https://ap.ksef.mf.gov.pl"),
}
_ALIASES = {"te": "test", "tr": "demo", "production": "prod", "prd": "prod"}
