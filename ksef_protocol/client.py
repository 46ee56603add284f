"""``KsefClient``: the transport plus every API mixin (one mixin per area of the API)."""
from .api_auth import AuthApiMixin
from .api_batch import BatchApiMixin
from .api_certificates import CertificatesApiMixin
from .api_collective import CollectiveApiMixin
from .api_limits import LimitsApiMixin
from .api_permissions import PermissionsApiMixin
from .api_receiving import ReceivingApiMixin
from .api_sessions import SessionsApiMixin
from .api_tokens import TokensApiMixin
from .public_keys import PublicKeysApiMixin
from .transport import KsefTransport


class KsefClient(PermissionsApiMixin, CertificatesApiMixin, TokensApiMixin, AuthApiMixin, SessionsApiMixin,
                 BatchApiMixin, ReceivingApiMixin, LimitsApiMixin, CollectiveApiMixin, PublicKeysApiMixin,
                 KsefTransport):
    """Client of the KSeF 2.0 API for one environment and (once authenticated) one context.

    ``KsefClient(env, timeout=30.0, http=None, limiter=None, clock=time.time, sleep=time.sleep,
    max_retries=3, user_agent=None)``.  Set ``access_token`` from storage or call one of the
    ``authenticate_*`` methods.  The client keeps no state beyond tokens and a public-key
    cache; it is not meant to be shared between contexts.
    """
