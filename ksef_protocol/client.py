"""``KsefClient``: the transport plus every API mixin.

The certificate and token endpoint mixins live in ``api_certificates.py`` and
``api_tokens.py`` (maintained separately); they join the class when importable.
"""
from .api_auth import AuthApiMixin
from .api_batch import BatchApiMixin
from .api_limits import LimitsApiMixin
from .api_receiving import ReceivingApiMixin
from .api_sessions import SessionsApiMixin
from .public_keys import PublicKeysApiMixin
from .transport import KsefTransport

_optional_mixins = []
try:
    from .api_certificates import CertificatesApiMixin
    _optional_mixins.append(CertificatesApiMixin)
except ImportError:  # pragma: no cover - only while that module is unfinished
    pass
try:
    from .api_tokens import TokensApiMixin
    _optional_mixins.append(TokensApiMixin)
except ImportError:  # pragma: no cover
    pass


class KsefClient(*_optional_mixins, AuthApiMixin, SessionsApiMixin, BatchApiMixin, ReceivingApiMixin,
                 LimitsApiMixin, PublicKeysApiMixin, KsefTransport):
    """Client of the KSeF 2.0 API for one environment and (once authenticated) one context.

    ``KsefClient(env, timeout=30.0, http=None, limiter=None, clock=time.time, sleep=time.sleep,
    max_retries=3, user_agent=None)``.  Set ``access_token`` from storage or call one of the
    ``authenticate_*`` methods.  The client keeps no state beyond tokens and a public-key
    cache; it is not meant to be shared between contexts.
    """
