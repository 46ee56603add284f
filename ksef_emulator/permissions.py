"""Who holds which permissions in a context.

The owner of a NIP context (certificate NIP equal to the context NIP) holds every
owner permission. Anyone else needs a grant: one made through ``/permissions/*``
(:mod:`ksef_emulator.grants`), or one created through the admin API
(``POST /admin/permissions``) and kept in the ``kv`` table.
"""
from .clock import Clock
from .grants import granted_permissions

# OwnerPermissionScope (open-api.json 2.9.0) lists CollectiveIdentifierManage among owner permissions.
OWNER_PERMISSIONS = ["InvoiceRead", "InvoiceWrite", "Introspection", "CredentialsRead", "CredentialsManage",
                     "SubunitManage", "CollectiveIdentifierManage"]


def _grant_key(context_type, context_value, subject_type, subject_value):
    return "%s:%s|%s:%s" % (context_type, context_value, subject_type, subject_value.upper())


def grant(store, context_type, context_value, subject_type, subject_value, permissions):
    store.put_json("grants", _grant_key(context_type, context_value, subject_type, subject_value), list(permissions))


def permissions_for(store, context_type, context_value, subject_type, subject_value):
    """Effective permissions of a certificate subject (``Nip``/``Pesel``/``Fingerprint``) in a context."""
    if subject_type == "Nip" and context_type in ("Nip", "InternalId", "NipVatUe") \
            and context_value.split("-", 1)[0] == subject_value:
        return list(OWNER_PERMISSIONS)
    admin_granted = store.get_json("grants", _grant_key(context_type, context_value, subject_type, subject_value), [])
    granted = granted_permissions(store, Clock(store).time(), context_type, context_value, subject_type, subject_value)
    return sorted(set(admin_granted) | granted)
