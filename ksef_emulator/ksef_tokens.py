"""KSeF tokens: creation and lookup (shared by the admin API, the CLI, ``/auth/ksef-token``
and the ``/tokens`` endpoints). Only a SHA-256 of each secret is stored."""
import hashlib
import json
import os

from .clock import iso
from .ids import is_valid_nip, reference_number

TOKEN_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage", "SubunitManage",
                     "EnforcementOperations", "Introspection", "CollectiveIdentifierManage")
#: GenerateTokenRequest.description / TokenInfo.description: minLength 5, maxLength 256.
DESCRIPTION_LENGTH = (5, 256)
CONTEXT_TYPES = ("Nip", "InternalId")
STATUSES = ("Pending", "Active", "Revoking", "Revoked", "Failed")


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store, clock, context_nip, permissions, description, *, context_type="Nip",
                 author_type="Nip", author_value=None, status="Active"):
    """Create a token; return ``{"token", "referenceNumber"}`` (the secret is shown only here)."""
    if not isinstance(description, str) or not DESCRIPTION_LENGTH[0] <= len(description) <= DESCRIPTION_LENGTH[1]:
        raise ValueError("description must be a string of %d to %d characters (open-api.json, GenerateTokenRequest)"
                         % DESCRIPTION_LENGTH)
    if context_type not in CONTEXT_TYPES:
        raise ValueError("contextType must be one of %s" % ", ".join(CONTEXT_TYPES))
    if status not in STATUSES:
        raise ValueError("status must be one of %s" % ", ".join(STATUSES))
    if not isinstance(permissions, (list, tuple)) or not all(isinstance(p, str) for p in permissions):
        raise ValueError("permissions must be a list of strings")
    if not isinstance(context_nip, str):
        raise ValueError("nip must be a string")
    nip = context_nip.split("-", 1)[0]
    if not is_valid_nip(nip):
        raise ValueError("NIP %r is not a valid 10-digit NIP (checksum)." % context_nip)
    unknown = sorted(set(permissions) - set(TOKEN_PERMISSIONS))
    if not permissions or unknown:
        raise ValueError("permissions must be a non-empty subset of %s (unknown: %s)" % (", ".join(TOKEN_PERMISSIONS), unknown))
    now = clock.now()
    reference = reference_number("EC", now)
    token = "%s|%s-%s|%s" % (reference, "nip" if context_type == "Nip" else "internalId", context_nip, os.urandom(32).hex())
    store.execute(
        "INSERT INTO ksef_tokens(reference_number, token_sha256, context_type, context_value, author_type, author_value,"
        " permissions, description, status, date_created) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (reference, token_hash(token), context_type, context_nip, author_type, author_value or nip,
         json.dumps(list(permissions)), description, status, iso(now)))
    return {"token": token, "referenceNumber": reference}


def find_token(store, token):
    """The ``ksef_tokens`` row for a secret, or None."""
    return store.one("SELECT * FROM ksef_tokens WHERE token_sha256=?", (token_hash(token),))
