"""Encryption at rest of KSeF secrets (private keys, passwords, KSeF/access/refresh tokens, session keys).

The key is deliberately NOT in the database, so a stolen or duplicated dump
holds only ciphertext.  It comes from, in this order:

* the environment variable ``ODOO_KSEF_ENCRYPTION_KEY``;
* the Odoo server option ``ksef_encryption_key`` (``odoo.conf``).

Its value is a Fernet key (32 random bytes, URL-safe Base64), e.g. made with
``python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``.
Several comma-separated keys enable rotation: the first one encrypts, all of
them decrypt.  Values are stored as ``fernet:<token>`` text in ``fields.Char``
columns restricted to the KSeF manager group.
"""
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from odoo.exceptions import UserError
from odoo.tools import config

ENV_VARIABLE = 'ODOO_KSEF_ENCRYPTION_KEY'
CONFIG_OPTION = 'ksef_encryption_key'
PREFIX = 'fernet:'


def _configured_keys():
    raw = os.environ.get(ENV_VARIABLE) or config.get(CONFIG_OPTION) or ''
    return [part.strip() for part in str(raw).split(',') if part.strip()]


def _fernet(env):
    keys = _configured_keys()
    if not keys:
        raise UserError(env._(
            "KSeF secrets cannot be stored or read: no encryption key is configured. "
            "Ask your administrator to set the environment variable %(variable)s, or the option "
            "%(option)s in the Odoo configuration file, to a Fernet key (32 random bytes in URL-safe "
            "Base64) and restart Odoo.",
            variable=ENV_VARIABLE, option=CONFIG_OPTION))
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        # Never echo the configured value: it is the key.
        raise UserError(env._(
            "The KSeF encryption key configured in %(variable)s / %(option)s is not a valid Fernet key "
            "(it must be 32 random bytes in URL-safe Base64). Ask your administrator to fix it.",
            variable=ENV_VARIABLE, option=CONFIG_OPTION)) from None


def is_encryption_configured():
    """True when an encryption key is available (settings show a warning otherwise)."""
    return bool(_configured_keys())


def encrypt_secret(env, value):
    """Encrypt ``value`` (text or bytes) for storage; returns text safe to put in a Char column.

    Empty values stay empty (``False``) so "no secret" remains distinguishable.
    """
    if value in (None, False, '', b''):
        return False
    data = value.encode('utf-8') if isinstance(value, str) else bytes(value)
    return PREFIX + _fernet(env).encrypt(data).decode('ascii')


def decrypt_secret(env, stored):
    """Decrypt a value produced by :func:`encrypt_secret`; returns bytes (``b''`` when nothing is stored).

    Raises a translated UserError when the stored value was encrypted with
    another key (e.g. a database copied to a server with a different key).
    """
    if not stored:
        return b''
    if not stored.startswith(PREFIX):
        raise UserError(env._(
            "A stored KSeF secret is not in the encrypted format. Enter the credential again."))
    try:
        return _fernet(env).decrypt(stored[len(PREFIX):].encode('ascii'))
    except InvalidToken:
        raise UserError(env._(
            "A stored KSeF secret cannot be decrypted with the configured encryption key (%(variable)s). "
            "The database was probably encrypted with another key: restore that key, or enter the "
            "certificates and tokens again.", variable=ENV_VARIABLE)) from None
