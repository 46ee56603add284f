"""Pure-Python client of the Polish National e-Invoice System (KSeF 2.0 API).

Never imports Odoo.  See ``ARCHITECTURE.md`` for the layering rules and the
contract of the public names re-exported here.
"""
from .api_auth import AuthTokens
from .api_batch import BatchSessionInfo
from .api_permissions import PermissionOperationStatus, person_details
from .api_receiving import ExportPackage, IncrementalSyncResult, next_checkpoint
from .api_sessions import InvoiceStatus, OnlineSessionInfo, SentInvoice, SessionStatus, UpoPage
from .batch import BatchArchive
from .client import KsefClient
from .crypto import SessionKey, sha256_b64
from .environments import Environment
from .errors import (KsefAuthFailed, KsefAuthPending, KsefBadRequest, KsefError, KsefErrorDetail, KsefForbidden,
                     KsefGone, KsefHttpError, KsefOperationFailed, KsefOperationPending, KsefProtocolError,
                     KsefRateLimited, KsefRateLimitHandOver, KsefServerError, KsefTransportError, KsefUnauthorized)
from .forms import FA2_FORM_CODE, FA3_FORM_CODE, FA_RR_FORM_CODE
from .public_keys import PublicKeyCertificate
from .ratelimit import RateLimiter
from .upo import Upo, UpoDocument, UpoDocumentEntry, parse_upo
from .validators import is_valid_ksef_number, is_valid_nip, ksef_crc8

__all__ = [
    "AuthTokens", "BatchArchive", "BatchSessionInfo", "Environment", "ExportPackage", "FA2_FORM_CODE",
    "FA3_FORM_CODE", "FA_RR_FORM_CODE", "IncrementalSyncResult", "InvoiceStatus", "KsefAuthFailed",
    "KsefAuthPending", "KsefBadRequest", "KsefClient", "KsefError", "KsefErrorDetail", "KsefForbidden", "KsefGone",
    "KsefHttpError", "KsefOperationFailed", "KsefOperationPending", "KsefProtocolError", "KsefRateLimited", "KsefRateLimitHandOver",
    "KsefServerError", "KsefTransportError", "KsefUnauthorized", "OnlineSessionInfo", "PermissionOperationStatus",
    "PublicKeyCertificate",
    "RateLimiter", "SentInvoice", "SessionKey", "SessionStatus", "Upo", "UpoDocument", "UpoDocumentEntry",
    "UpoPage", "is_valid_ksef_number", "is_valid_nip", "ksef_crc8", "next_checkpoint", "parse_upo", "person_details",
    "sha256_b64",
]
