"""Permission grants made through ``/permissions/*`` (uprawnienia.md) and what they give.

One row per granted permission scope (KSeF lists and revokes them one by one, by ``id``).
``grantor`` is the context the grant was made in; ``context`` the context it works in:

=============  ===========================  ==========================================
kind           grantor                      context (where the subject may log in)
=============  ===========================  ==========================================
person         the current context          the same
entity         the current context          the same (subject: an entity's NIP)
indirect       the intermediary (office)    the client NIP, or ``*`` (AllPartners)
subunit        the parent context           the subunit (InternalId or subordinate NIP)
authorization  the current context          none: self-billing and the like are checked
                                            on invoices, they give no login
=============  ===========================  ==========================================

A grant works from ``active_from`` (operation processed) until ``revoked_from``. An indirect
grant works only while the client's grant to the intermediary with ``canDelegate`` stands.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS permission_grants (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                    -- person | entity | indirect | subunit | authorization
    grantor_type TEXT NOT NULL, grantor_value TEXT NOT NULL,
    context_type TEXT, context_value TEXT, -- '*' = AllPartners (indirect)
    subject_type TEXT NOT NULL, subject_value TEXT NOT NULL,
    scope TEXT NOT NULL, can_delegate INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL, subject_details TEXT, subunit_name TEXT,
    author_type TEXT NOT NULL, author_value TEXT NOT NULL,
    start_date TEXT NOT NULL, active_from REAL NOT NULL, revoked_from REAL,
    operation_reference TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS permission_grants_subject ON permission_grants(subject_type, subject_value);
CREATE INDEX IF NOT EXISTS permission_grants_grantor ON permission_grants(grantor_type, grantor_value);
CREATE TABLE IF NOT EXISTS permission_operations (
    reference_number TEXT PRIMARY KEY,
    context_type TEXT NOT NULL, context_value TEXT NOT NULL,
    status_code INTEGER NOT NULL, status_details TEXT,
    created_ts REAL NOT NULL, ready_at REAL NOT NULL);
"""

LOGIN_KINDS = ("person", "entity", "subunit")


def normalize_subject(subject_type, subject_value):
    """Fingerprints are hex: compare them in upper case."""
    value = (subject_value or "").strip()
    return subject_type, value.upper() if subject_type == "Fingerprint" else value


def is_active(row, now):
    return row["active_from"] <= now and (row["revoked_from"] is None or row["revoked_from"] > now)


def delegating_grant_exists(store, now, client_nip, intermediary_nip, scope=None):
    """Whether the client granted the intermediary (an entity grant) ``scope`` (any when None) with canDelegate."""
    sql = ("SELECT * FROM permission_grants WHERE kind='entity' AND context_type='Nip' AND context_value=?"
           " AND subject_type='Nip' AND subject_value=? AND can_delegate=1")
    params = [client_nip, intermediary_nip]
    if scope:
        sql += " AND scope=?"
        params.append(scope)
    return any(is_active(row, now) for row in store.query(sql, params))


def granted_permissions(store, now, context_type, context_value, subject_type, subject_value):
    """Scopes a subject holds in a context through grants: direct, entity, subunit and indirect ones."""
    subject_type, subject_value = normalize_subject(subject_type, subject_value)
    rows = store.query(
        "SELECT * FROM permission_grants WHERE subject_type=? AND subject_value=? AND revoked_from IS NULL"
        " OR subject_type=? AND subject_value=? AND revoked_from>?",
        (subject_type, subject_value, subject_type, subject_value, now))
    scopes = set()
    for row in rows:
        if not is_active(row, now):
            continue
        if row["kind"] in LOGIN_KINDS and (row["context_type"], row["context_value"]) == (context_type, context_value):
            scopes.add(row["scope"])
        elif row["kind"] == "indirect" and context_type == "Nip" and row["context_value"] in (context_value, "*"):
            # Valid only while the client lets the intermediary pass this scope on.
            if delegating_grant_exists(store, now, context_value, row["grantor_value"], row["scope"]):
                scopes.add(row["scope"])
    return scopes
