"""Encryption at rest of KSeF secrets (private keys, passwords, KSeF/access/refresh tokens, session keys).

The key is deliberately NOT in the database, so a stolen or duplicated dump
holds only ciphertext.  It comes from, in this order:

* the environment variable ``ODOO_KSEF_ENCRYPTION_KEY``;
* the Odoo server option ``ksef_encryption_key`` (``odoo.conf``).

Its value is a Fernet key (32 random bytes, URL-safe Base64), e.g. made with
``python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``.
Several comma-separated keys enable rotation: the first one encrypts, all of
them decrypt; :func:`reencrypt_all` then moves every stored value to the first
key so the old ones can be removed (README, "Rotating the encryption key").
A key check value (:data:`KEY_CHECK_PARAMETER`) makes the server refuse to
store secrets under a key that cannot read the existing ones.  Values are stored as ``fernet:<token>`` text in ``fields.Char``
columns restricted to the KSeF manager group.
"""
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from odoo.exceptions import UserError
from odoo.tools import SQL, config

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
    return PREFIX + check_key(env).encrypt(data).decode('ascii')


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


# ---------------------------------------------------------------------- key check value and rotation

#: ir.config_parameter holding a known text encrypted with the key in use: proves which key the
#: database's secrets are under, without storing the key itself.
KEY_CHECK_PARAMETER = 'l10n_pl_ksef.encryption_key_check'
_KEY_CHECK_PLAINTEXT = b'l10n_pl_ksef encryption key check'


def _key_mismatch_error(env):
    return UserError(env._(
        "The configured KSeF encryption key (%(variable)s / %(option)s) cannot read the KSeF secrets already "
        "stored in this database. Nothing was stored, so the database does not end up with secrets under two "
        "keys. Put the key this database was encrypted with back in the configuration (to rotate, list the new "
        "key first and the old one after it: new,old), restart Odoo, and run 'Re-encrypt KSeF secrets'.",
        variable=ENV_VARIABLE, option=CONFIG_OPTION))


def secret_columns(env):
    """``(table, column)`` of every stored text column the addon defines: where its ciphertexts can be.

    Found from the registry (not a hand list) so a secret column added later is rotated too.
    """
    columns = []
    for model in env.registry.values():
        if model._abstract or not model._auto or model._table_query:
            continue
        for field in model._fields.values():
            if field.store and field.column_type and field.type in ('char', 'text') \
                    and not field.translate and field._module == 'l10n_pl_ksef':
                columns.append((model._table, field.name))
    return sorted(set(columns))


def _sample_stored_secret(env):
    for table, column in secret_columns(env):
        env.cr.execute(SQL("SELECT %s FROM %s WHERE %s LIKE %s LIMIT 1",
                           SQL.identifier(column), SQL.identifier(table), SQL.identifier(column), PREFIX + '%'))
        row = env.cr.fetchone()
        if row:
            return row[0]
    return None


def _read_key_check(env):
    # SQL, not get_param: its cache may predate a value another worker just committed.
    env['ir.config_parameter'].flush_model()
    env.cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", [KEY_CHECK_PARAMETER])
    row = env.cr.fetchone()
    return row and row[0]


def _write_key_check(env, fernet, replace):
    """Store a fresh check value; ``replace=False`` keeps one another worker stored first."""
    env.cr.execute(SQL(
        """INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)
           VALUES (%(key)s, %(value)s, %(uid)s, %(uid)s, now() at time zone 'UTC', now() at time zone 'UTC')
           ON CONFLICT (key) DO """ + ("UPDATE SET value = EXCLUDED.value, write_date = EXCLUDED.write_date"
                                       if replace else "NOTHING"),
        key=KEY_CHECK_PARAMETER, value=PREFIX + fernet.encrypt(_KEY_CHECK_PLAINTEXT).decode('ascii'), uid=env.uid))
    env['ir.config_parameter'].invalidate_model()
    env.registry.clear_cache('stable')  # get_param's cache


def check_key(env):
    """Refuse (UserError) when the configured keys cannot read what the database already holds.

    The first time, the key check value is created (after checking an existing secret, if any).
    """
    fernet = _fernet(env)
    check = _read_key_check(env)
    sample = check or _sample_stored_secret(env)
    if sample:
        try:
            fernet.decrypt(sample[len(PREFIX):].encode('ascii'))
        except (InvalidToken, ValueError):
            raise _key_mismatch_error(env) from None
    if not check:
        _write_key_check(env, fernet, replace=False)
    return fernet


def reencrypt_all(env):
    """Re-encrypt every KSeF ciphertext (all tables, wizards included) with the first configured key.

    Afterwards the older keys can be removed from the configuration. Values no configured key can read
    stop the run (nothing is changed: the caller's transaction rolls back). Returns the count.
    """
    fernet = _fernet(env)
    count = 0
    for table, column in secret_columns(env):
        env.cr.execute(SQL("SELECT id, %s FROM %s WHERE %s LIKE %s",
                           SQL.identifier(column), SQL.identifier(table), SQL.identifier(column), PREFIX + '%'))
        for row_id, stored in env.cr.fetchall():
            try:
                rotated = fernet.rotate(stored[len(PREFIX):].encode('ascii'))
            except (InvalidToken, ValueError):
                raise _key_mismatch_error(env) from None
            env.cr.execute(SQL("UPDATE %s SET %s = %s WHERE id = %s", SQL.identifier(table),
                               SQL.identifier(column), PREFIX + rotated.decode('ascii'), row_id))
            count += 1
    _write_key_check(env, fernet, replace=True)
    env.invalidate_all()
    return count
