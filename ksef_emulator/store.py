"""SQLite state of the emulator (``<state dir>/ksef-emulator.sqlite3``).

One connection per thread, WAL journal, autocommit unless a ``transaction()`` is
open. Handler modules add their own tables with :meth:`Store.add_schema`
(``CREATE TABLE IF NOT EXISTS ...``), so a restart on the same state directory
loses nothing.
"""
import base64
import contextlib
import json
import os
import sqlite3
import threading

CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (kind, key));

-- KSeF tokens (admin-created or via POST /tokens). The secret is stored only as a SHA-256 hash.
CREATE TABLE IF NOT EXISTS ksef_tokens (
    reference_number TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    author_type TEXT NOT NULL, author_value TEXT NOT NULL,
    permissions TEXT NOT NULL,          -- JSON list
    description TEXT NOT NULL,
    status TEXT NOT NULL,               -- Pending | Active | Revoking | Revoked | Failed
    date_created TEXT NOT NULL, last_use_date TEXT);

CREATE TABLE IF NOT EXISTS challenges (
    challenge TEXT PRIMARY KEY, timestamp_ms INTEGER NOT NULL, client_ip TEXT NOT NULL);

-- One authentication operation (POST /auth/ksef-token or /auth/xades-signature).
CREATE TABLE IF NOT EXISTS auth_operations (
    reference_number TEXT PRIMARY KEY,
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    method TEXT NOT NULL,                -- Token | QualifiedSignature | QualifiedSeal | InternalCertificate ...
    category TEXT NOT NULL,              -- Token | XadesSignature
    subject_type TEXT, subject_value TEXT,   -- Nip | Pesel | Fingerprint | Token
    permissions TEXT NOT NULL DEFAULT '[]',
    ksef_token_reference TEXT, auth_document_sha256 TEXT,
    certificate_der BLOB,                -- XAdES: the signing certificate (for enrollment data)
    allowed_ips TEXT,                    -- JSON authorizationPolicy or NULL
    status_code INTEGER NOT NULL, status_description TEXT NOT NULL, status_details TEXT,
    start_date TEXT NOT NULL, ready_at REAL NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0,
    refresh_valid_until TEXT, last_refresh_date TEXT);

-- Online and batch sessions.
CREATE TABLE IF NOT EXISTS sessions (
    reference_number TEXT PRIMARY KEY,
    session_type TEXT NOT NULL,          -- Online | Batch
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    auth_reference TEXT NOT NULL,        -- authentication operation that opened it
    form_code TEXT NOT NULL,             -- JSON FormCode
    symmetric_key BLOB, iv BLOB,         -- NULL key: RSA decryption failed (status 415)
    status_code INTEGER NOT NULL, status_description TEXT NOT NULL, status_details TEXT,
    created_ts REAL NOT NULL, updated_ts REAL NOT NULL, valid_until_ts REAL NOT NULL, closed_ts REAL,
    offline_mode INTEGER NOT NULL DEFAULT 0,
    batch TEXT,                          -- JSON batchFile declaration (batch only)
    invoice_count INTEGER NOT NULL DEFAULT 0);

-- Every invoice KSeF knows: sent online, sent in a batch, or seeded as a purchase invoice.
CREATE TABLE IF NOT EXISTS invoices (
    reference_number TEXT PRIMARY KEY,
    source TEXT NOT NULL,                -- online | batch | seeded
    session_reference TEXT, ordinal_number INTEGER, file_name TEXT,
    context_type TEXT, context_value TEXT,
    status_code INTEGER NOT NULL, status_description TEXT NOT NULL,
    status_details TEXT, status_extensions TEXT,  -- JSON
    invoice_hash TEXT NOT NULL, invoice_size INTEGER NOT NULL,
    encrypted BLOB,                      -- ciphertext until processed (online)
    content BLOB,                        -- plaintext XML once decrypted
    offline_mode INTEGER NOT NULL DEFAULT 0, hash_of_corrected_invoice TEXT,
    form_code TEXT,                      -- JSON FormCode
    invoicing_ts REAL NOT NULL,          -- accepted for processing (batch: session open time)
    ready_ts REAL NOT NULL DEFAULT 0,    -- processing may finish at/after this time
    ksef_number TEXT UNIQUE, acquisition_ts REAL, permanent_storage_ts REAL,
    invoicing_mode TEXT,                 -- Online | Offline
    invoice_number TEXT, issue_date TEXT, seller_nip TEXT, buyer_nip TEXT, invoice_type TEXT,
    metadata TEXT);                      -- JSON InvoiceMetadata (open-api.json) once accepted
CREATE INDEX IF NOT EXISTS invoices_session ON invoices(session_reference, ordinal_number);
CREATE INDEX IF NOT EXISTS invoices_duplicate ON invoices(seller_nip, invoice_type, invoice_number, status_code);
CREATE INDEX IF NOT EXISTS invoices_storage ON invoices(permanent_storage_ts);
CREATE INDEX IF NOT EXISTS invoices_buyer ON invoices(buyer_nip);
"""


class Store:
    """Thread-safe access to the state database (one sqlite3 connection per thread)."""

    def __init__(self, state_dir):
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "ksef-emulator.sqlite3")
        self._local = threading.local()
        # One in-process writer at a time: SQLite's own busy handler sleeps for milliseconds.
        self.write_lock = threading.RLock()
        self._schemas = []
        self.add_schema(CORE_SCHEMA)

    def conn(self):
        connection = getattr(self._local, "conn", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.conn = connection
        return connection

    def add_schema(self, ddl):
        """Create tables/indexes (idempotent DDL). Call from a handler module's ``register``."""
        self._schemas.append(ddl)
        with self.write_lock:
            self.conn().executescript(ddl)

    def execute(self, sql, params=()):
        """Run one statement (writes are serialized by ``write_lock``)."""
        if sql.lstrip()[:6].upper() == "SELECT":
            return self.conn().execute(sql, params)
        with self.write_lock:
            return self.conn().execute(sql, params)

    def query(self, sql, params=()):
        return self.conn().execute(sql, params).fetchall()

    def one(self, sql, params=()):
        return self.conn().execute(sql, params).fetchone()

    @contextlib.contextmanager
    def transaction(self):
        """``with store.transaction() as conn:`` — BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        connection = self.conn()
        with self.write_lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # -- small JSON key/value area (config, keys, clock, faults, secrets) ---------------------
    def get_json(self, kind, key, default=None):
        row = self.one("SELECT value FROM kv WHERE kind=? AND key=?", (kind, key))
        return json.loads(row["value"]) if row else default

    def put_json(self, kind, key, value):
        self.execute("INSERT OR REPLACE INTO kv(kind, key, value) VALUES (?,?,?)", (kind, key, json.dumps(value)))

    def secret_bytes(self, name, size=32):
        """A random secret created on first use and kept with the state, so a restart keeps it valid."""
        stored = self.get_json("secrets", name)
        if stored is None:
            stored = base64.b64encode(os.urandom(size)).decode("ascii")
            self.put_json("secrets", name, stored)
        return base64.b64decode(stored)

    def delete_json(self, kind, key):
        self.execute("DELETE FROM kv WHERE kind=? AND key=?", (kind, key))

    def list_json(self, kind):
        return {row["key"]: json.loads(row["value"]) for row in self.query("SELECT key, value FROM kv WHERE kind=?", (kind,))}

    def close(self):
        connection = getattr(self._local, "conn", None)
        if connection is not None:
            connection.close()
            self._local.conn = None
