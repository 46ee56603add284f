"""KSeF permissions endpoints (``/permissions/*``, uprawnienia.md): grants, queries, revocation.

Every grant and revocation is asynchronous: the call returns an operation reference number and
:meth:`PermissionsApiMixin.wait_permission_operation` follows it to its end (status 200, or a
failure code with KSeF's explanation).  Grants need ``CredentialsManage`` (or the owner) in the
current context, subunit administrators ``SubunitManage``.

Identifiers are ``(type, value)`` pairs: ``("Nip", "5265877635")``, ``("Pesel", "...")``,
``("Fingerprint", "<SHA-256 hex of the certificate>")``.
"""
import re
from typing import List, NamedTuple, Optional

from .errors import KsefErrorDetail, KsefOperationFailed, KsefOperationPending
from .validators import is_valid_nip

PERSON_PERMISSIONS = ("CredentialsManage", "CredentialsRead", "InvoiceWrite", "InvoiceRead", "Introspection",
                      "SubunitManage", "EnforcementOperations", "CollectiveIdentifierManage")
ENTITY_PERMISSIONS = ("InvoiceWrite", "InvoiceRead", "CollectiveIdentifierManage")
INDIRECT_PERMISSIONS = ("InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage")
AUTHORIZATION_PERMISSIONS = ("SelfInvoicing", "RRInvoicing", "TaxRepresentative", "PefInvoicing")
PERSON_QUERY_TYPES = ("PermissionsInCurrentContext", "PermissionsGrantedInCurrentContext")
AUTHORIZATION_QUERY_TYPES = ("Granted", "Received")
OPERATION_STATUS = {
    100: "accepted, being processed",
    200: "done",
    400: "failed",
    410: "the identifiers do not match or are in a wrong relation",
    420: "the credentials used lack the permission for this operation",
    430: "the identifier's context lacks the required role or permission",
    440: "not allowed for these related identifiers",
    450: "not allowed for this identifier or its type",
    500: "unknown error",
    550: "cancelled by the system; try again later",
}
OPERATION_POLL_INTERVALS = (0.2, 0.5, 1.0, 2.0)
_PAGE_SIZE = 100
_REFERENCE = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_PERMISSION_ID = re.compile(r"^[0-9A-Za-z-]{36}$")
_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{64}$")


class PermissionOperationStatus(NamedTuple):
    """Result of ``GET /permissions/operations/{ref}``."""

    reference_number: str
    code: int
    description: str
    details: List[str]

    @property
    def done(self):
        return self.code == 200

    @property
    def pending(self):
        return self.code == 100


def _group(path):
    # Every permissions endpoint has its own 10/30/120 window (x-rate-limits in open-api.json).
    return "other:" + path


def _check_reference(reference, pattern=_REFERENCE, what="KSeF reference number"):
    # Identifiers become URL path segments: anything but letters, digits and dashes would change the path.
    if not isinstance(reference, str) or not pattern.match(reference):
        raise ValueError("Not a %s: %r." % (what, reference))
    return reference


def _valid_pesel(pesel):
    if not (isinstance(pesel, str) and len(pesel) == 11 and pesel.isdigit()):
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    return (10 - sum(int(d) * w for d, w in zip(pesel, weights)) % 10) % 10 == int(pesel[10])


def identifier(identifier_type, value, allowed=("Nip", "Pesel", "Fingerprint")):
    """``{"type", "value"}`` after checking the value (NIP and PESEL checksums, fingerprint = 64 hex)."""
    if identifier_type not in allowed:
        raise ValueError("Identifier type %r is not allowed here; use %s." % (identifier_type, ", ".join(allowed)))
    value = (value or "").strip()
    if identifier_type == "Nip" and not is_valid_nip(value):
        raise ValueError("%r is not a valid NIP (10 digits with a correct check digit)." % value)
    if identifier_type == "Pesel" and not _valid_pesel(value):
        raise ValueError("%r is not a valid PESEL (11 digits with a correct check digit)." % value)
    if identifier_type == "Fingerprint":
        if not _FINGERPRINT.match(value):
            raise ValueError("A certificate fingerprint is the SHA-256 of the certificate: 64 hexadecimal digits.")
        value = value.upper()
    if identifier_type == "InternalId" and not (len(value) == 16 and value[10] == "-" and is_valid_nip(value[:10])
                                                and value[11:].isdigit()):
        raise ValueError("An internal identifier is the NIP, a dash and 5 digits: %r." % value)
    return {"type": identifier_type, "value": value}


def person_details(first_name, last_name, *, identifier_type=None, identifier_value=None, birth_date=None,
                   id_document=None):
    """``subjectDetails`` of a natural person.

    By PESEL/NIP: the name.  By certificate fingerprint: the name plus the person's PESEL/NIP
    when known (``identifier_type``/``identifier_value``), otherwise ``birth_date`` (ISO date)
    and ``id_document`` ``{"type", "number", "country"}``.
    """
    for label, value, low, high in (("first name", first_name, 2, 30), ("last name", last_name, 2, 81)):
        if not isinstance(value, str) or not low <= len(value.strip()) <= high:
            raise ValueError("The person's %s must have %d to %d characters." % (label, low, high))
    name = {"firstName": first_name.strip(), "lastName": last_name.strip()}
    if identifier_type:
        return {"subjectDetailsType": "PersonByFingerprintWithIdentifier",
                "personByFpWithId": dict(name, identifier=identifier(identifier_type, identifier_value,
                                                                     ("Pesel", "Nip")))}
    if birth_date or id_document:
        if not (birth_date and id_document):
            raise ValueError("Without PESEL or NIP a person needs both the birth date and an identity document.")
        return {"subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                "personByFpNoId": dict(name, birthDate=str(birth_date), idDocument=dict(id_document))}
    return {"subjectDetailsType": "PersonByIdentifier", "personById": name}


def _permissions(values, allowed, what):
    values = list(values or [])
    if not values:
        raise ValueError("Choose at least one permission to grant.")
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValueError("%s cannot be granted %s; allowed: %s." % (what, ", ".join(map(str, unknown)),
                                                                   ", ".join(allowed)))
    return values


def _description(description):
    if not isinstance(description, str) or not 5 <= len(description) <= 256:
        raise ValueError("The permission description must have 5 to 256 characters.")
    return description


def _entity_details(full_name):
    if not isinstance(full_name, str) or not 5 <= len(full_name.strip()) <= 90:
        raise ValueError("The entity's full name must have 5 to 90 characters.")
    return {"fullName": full_name.strip()}


class PermissionsApiMixin:
    """``/permissions`` calls; mixed into :class:`KsefClient` (needs ``self._request``, ``self._sleep``)."""

    # -- grants ---------------------------------------------------------------------------------
    def _grant(self, path, payload):
        body = self._request("POST", path, json=payload, expected=(202,), rate_group=_group(path)) or {}
        return body.get("referenceNumber")

    def grant_person_permissions(self, subject_type, subject_value, permissions, description, subject_details):
        """``POST /permissions/persons/grants``: a natural person (PESEL, NIP or certificate fingerprint)
        may work in the current context.  ``subject_details`` from :func:`person_details`.
        Returns the operation reference."""
        return self._grant("/permissions/persons/grants", {
            "subjectIdentifier": identifier(subject_type, subject_value),
            "permissions": _permissions(permissions, PERSON_PERMISSIONS, "A person"),
            "description": _description(description),
            "subjectDetails": subject_details,
        })

    def grant_entity_permissions(self, nip, permissions, description, full_name, can_delegate=False):
        """``POST /permissions/entities/grants``: another entity (e.g. an accounting office) may handle the
        current context's invoices.  ``permissions`` are names or ``(name, can_delegate)`` pairs;
        ``can_delegate`` lets the entity pass them on (indirect grants).  Returns the operation reference."""
        items = []
        for permission in permissions or []:
            name, delegate = permission if isinstance(permission, (tuple, list)) else (permission, can_delegate)
            items.append({"type": name, "canDelegate": bool(delegate)})
        _permissions([item["type"] for item in items], ENTITY_PERMISSIONS, "An entity")
        return self._grant("/permissions/entities/grants", {
            "subjectIdentifier": identifier("Nip", nip, ("Nip",)),
            "permissions": items,
            "description": _description(description),
            "subjectDetails": _entity_details(full_name),
        })

    def grant_authorization(self, subject_value, permission, description, full_name, subject_type="Nip"):
        """``POST /permissions/authorizations/grants``: one entity authorization (``SelfInvoicing``,
        ``RRInvoicing``, ``TaxRepresentative``; ``PefInvoicing`` for a Peppol provider by ``PeppolId``)."""
        if permission not in AUTHORIZATION_PERMISSIONS:
            raise ValueError("Unknown authorization %r; use %s." % (permission, ", ".join(AUTHORIZATION_PERMISSIONS)))
        if subject_type == "PeppolId":
            subject = {"type": "PeppolId", "value": (subject_value or "").strip()}
        else:
            subject = identifier("Nip", subject_value, ("Nip",))
        return self._grant("/permissions/authorizations/grants", {
            "subjectIdentifier": subject,
            "permission": permission,
            "description": _description(description),
            "subjectDetails": _entity_details(full_name),
        })

    def grant_indirect_permissions(self, subject_type, subject_value, permissions, description, subject_details,
                                   target_nip=None):
        """``POST /permissions/indirect/grants`` from an intermediary's context: the person may handle the
        invoices of the client ``target_nip`` (selective; the client must have granted the
        intermediary with ``canDelegate``) or, without it, of all its clients (``AllPartners``)."""
        target = identifier("Nip", target_nip, ("Nip",)) if target_nip else {"type": "AllPartners"}
        return self._grant("/permissions/indirect/grants", {
            "subjectIdentifier": identifier(subject_type, subject_value),
            "targetIdentifier": target,
            "permissions": _permissions(permissions, INDIRECT_PERMISSIONS, "An indirect grant"),
            "description": _description(description),
            "subjectDetails": subject_details,
        })

    def grant_subunit_administrator(self, subject_type, subject_value, subunit_type, subunit_value, description,
                                    subject_details, subunit_name=None):
        """``POST /permissions/subunits/grants``: administrator (``CredentialsManage``) of a subunit
        (``InternalId`` ``NIP-xxxxx``) or of a subordinate entity (``Nip``; local government / VAT group)."""
        payload = {
            "subjectIdentifier": identifier(subject_type, subject_value),
            "contextIdentifier": identifier(subunit_type, subunit_value, ("InternalId", "Nip")),
            "description": _description(description),
            "subjectDetails": subject_details,
        }
        if subunit_name:
            payload["subunitName"] = subunit_name
        return self._grant("/permissions/subunits/grants", payload)

    # -- revocation -----------------------------------------------------------------------------
    def revoke_permission(self, permission_id):
        """``DELETE /permissions/common/grants/{id}`` (persons, entities, indirect, subunits); returns the
        operation reference."""
        path = "/permissions/common/grants/%s" % _check_reference(permission_id, _PERMISSION_ID, "permission id")
        body = self._request("DELETE", path, expected=(202,), rate_group=_group("/permissions/common/grants"))
        return (body or {}).get("referenceNumber")

    def revoke_authorization(self, permission_id):
        """``DELETE /permissions/authorizations/grants/{id}``; returns the operation reference."""
        path = "/permissions/authorizations/grants/%s" % _check_reference(permission_id, _PERMISSION_ID,
                                                                          "permission id")
        body = self._request("DELETE", path, expected=(202,),
                             rate_group=_group("/permissions/authorizations/grants/delete"))
        return (body or {}).get("referenceNumber")

    # -- operations -----------------------------------------------------------------------------
    def get_permission_operation_status(self, reference):
        """``GET /permissions/operations/{ref}`` -> :class:`PermissionOperationStatus`."""
        body = self._request("GET", "/permissions/operations/%s" % _check_reference(reference),
                             rate_group=_group("/permissions/operations")) or {}
        status = body.get("status") or {}
        return PermissionOperationStatus(reference, int(status.get("code") or 0), status.get("description") or "",
                                         list(status.get("details") or []))

    def wait_permission_operation(self, reference, *, wait=30.0):
        """Poll an operation to its end.  Returns the status on 200; raises :class:`KsefOperationFailed`
        (``status_code``, KSeF's description and details in ``errors``) on a failure and
        :class:`KsefOperationPending` when still running after ``wait`` seconds."""
        slept, poll = 0.0, 0
        while True:
            status = self.get_permission_operation_status(reference)
            if status.done:
                return status
            if not status.pending:
                raise KsefOperationFailed(
                    "KSeF permission operation %s ended with status %s (%s)%s" % (
                        reference, status.code, status.description or OPERATION_STATUS.get(status.code, ""),
                        (": " + "; ".join(status.details)) if status.details else ""),
                    status_code=status.code, reference_number=reference,
                    errors=[KsefErrorDetail(status.code, status.description, status.details)])
            if slept >= wait:
                raise KsefOperationPending("KSeF permission operation %s is still being processed." % reference,
                                           reference_number=reference)
            interval = min(OPERATION_POLL_INTERVALS[min(poll, len(OPERATION_POLL_INTERVALS) - 1)], wait - slept)
            self._sleep(interval)
            slept += interval
            poll += 1

    # -- queries --------------------------------------------------------------------------------
    def _pages(self, path, payload, key, method="POST"):
        offset = 0
        while True:
            params = {"pageOffset": offset, "pageSize": _PAGE_SIZE}
            body = self._request(method, path, json=payload if method == "POST" else None, params=params,
                                 rate_group=_group(path)) or {}
            for item in body.get(key) or []:
                yield item
            if not body.get("hasMore"):
                return
            offset += 1

    def iter_person_permissions(self, query_type="PermissionsInCurrentContext", *, authorized=None, author=None,
                                target_nip=None, permission_types=None, state=None):
        """``POST /permissions/query/persons/grants``: who may work in the current context
        (``PermissionsInCurrentContext``: persons and entities, and persons the context's entity
        authorized indirectly) or what the caller granted (``PermissionsGrantedInCurrentContext``).
        ``authorized``/``author`` are ``(type, value)``; ``state`` ``"Active"``/``"Inactive"``."""
        if query_type not in PERSON_QUERY_TYPES:
            raise ValueError("query_type must be one of %s." % ", ".join(PERSON_QUERY_TYPES))
        payload = {"queryType": query_type}
        if authorized:
            payload["authorizedIdentifier"] = {"type": authorized[0], "value": authorized[1]}
        if author:
            payload["authorIdentifier"] = {"type": author[0], "value": author[1]}
        if target_nip:
            payload["targetIdentifier"] = {"type": "Nip", "value": target_nip}
        if permission_types:
            payload["permissionTypes"] = _permissions(permission_types, PERSON_PERMISSIONS, "A person")
        if state:
            payload["permissionState"] = state
        return self._pages("/permissions/query/persons/grants", payload, "permissions")

    def iter_personal_permissions(self, *, context_nip=None, permission_types=None, state=None):
        """``POST /permissions/query/personal/grants``: the caller's own permissions in the current context."""
        payload = {}
        if context_nip:
            payload["contextIdentifier"] = {"type": "Nip", "value": context_nip}
        if permission_types:
            payload["permissionTypes"] = list(permission_types)
        if state:
            payload["permissionState"] = state
        return self._pages("/permissions/query/personal/grants", payload, "permissions")

    def iter_entity_permissions(self, *, granted_by_nip=None):
        """``POST /permissions/query/entities/grants``: invoice permissions other entities granted to the
        current context's entity (``granted_by_nip`` narrows to one of them)."""
        payload = {"contextIdentifier": {"type": "Nip", "value": granted_by_nip}} if granted_by_nip else {}
        return self._pages("/permissions/query/entities/grants", payload, "permissions")

    def iter_authorizations(self, query_type="Granted", *, authorized_nip=None, authorizing_nip=None,
                            permission_types=None):
        """``POST /permissions/query/authorizations/grants``: entity authorizations granted by
        (``Granted``) or to (``Received``) the current context."""
        if query_type not in AUTHORIZATION_QUERY_TYPES:
            raise ValueError("query_type must be one of %s." % ", ".join(AUTHORIZATION_QUERY_TYPES))
        payload = {"queryType": query_type}
        if authorized_nip:
            payload["authorizedIdentifier"] = {"type": "Nip", "value": authorized_nip}
        if authorizing_nip:
            payload["authorizingIdentifier"] = {"type": "Nip", "value": authorizing_nip}
        if permission_types:
            payload["permissionTypes"] = list(permission_types)
        return self._pages("/permissions/query/authorizations/grants", payload, "authorizationGrants")

    def iter_subunit_permissions(self, subunit=None):
        """``POST /permissions/query/subunits/grants``: administrators of subunits (``subunit`` = ``(type, value)``)."""
        payload = {"subunitIdentifier": {"type": subunit[0], "value": subunit[1]}} if subunit else {}
        return self._pages("/permissions/query/subunits/grants", payload, "permissions")

    def iter_entity_roles(self):
        """``GET /permissions/query/entities/roles``: roles of the current context's entity (local government,
        VAT group, enforcement...)."""
        return self._pages("/permissions/query/entities/roles", None, "roles", method="GET")


def missing_permissions(error) -> Optional[dict]:
    """For a 403 ``missing-permissions`` error: ``{"required": [...], "present": [...]}``, else None."""
    if getattr(error, "reason_code", None) != "missing-permissions":
        return None
    security = getattr(error, "security", None) or {}
    return {"required": list(security.get("requiredAnyOfPermissions") or []),
            "present": list(security.get("presentPermissions") or [])}
