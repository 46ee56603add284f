"""Permissions API (``ksef_protocol.api_permissions``): input checks, and end-to-end flows against the
project's KSeF emulator over HTTP (an accounting office serving a client, revocation, indirect grants)."""
import os

import pytest

from ksef_protocol import Environment, KsefClient, person_details
from ksef_protocol import certificates as certs
from ksef_protocol.api_permissions import identifier, missing_permissions
from ksef_protocol.errors import KsefAuthFailed, KsefBadRequest, KsefForbidden, KsefOperationFailed, KsefOperationPending
from ksef_protocol.validators import is_valid_nip

PESEL = "44051401359"


def _random_nip():
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    while True:
        digits = "%d%08d" % (int.from_bytes(os.urandom(1), "big") % 9 + 1, int.from_bytes(os.urandom(4), "big") % 10 ** 8)
        check = sum(int(d) * w for d, w in zip(digits, weights)) % 11
        # The auth XSD's NIP pattern refuses a second and third digit that are both 0.
        if check != 10 and is_valid_nip(digits + str(check)) and digits[1:3] != "00":
            return digits + str(check)


def _client(emulator, recorded_sleep=None):
    kwargs = {"sleep": recorded_sleep} if recorded_sleep is not None else {}
    return KsefClient(Environment.custom(emulator.base_url), timeout=10.0, jitter=lambda: 0.0, **kwargs)


def _owner(emulator, nip, permissions=("CredentialsManage", "CredentialsRead")):
    client = _client(emulator)
    client.authenticate_with_ksef_token(nip, emulator.create_token(nip, list(permissions))["token"])
    return client


# -- input checks (no network) ---------------------------------------------------------------------
def test_identifiers_and_person_details_are_checked_before_sending():
    assert identifier("Fingerprint", "ab" * 32) == {"type": "Fingerprint", "value": "AB" * 32}
    assert identifier("Pesel", PESEL)["value"] == PESEL
    with pytest.raises(ValueError, match="PESEL"):
        identifier("Pesel", "44051401358")
    with pytest.raises(ValueError, match="NIP"):
        identifier("Nip", "1234567890")
    with pytest.raises(ValueError, match="not allowed"):
        identifier("AllPartners", "x", ("Nip",))
    assert person_details("Anna", "Nowak") == {"subjectDetailsType": "PersonByIdentifier",
                                               "personById": {"firstName": "Anna", "lastName": "Nowak"}}
    with_id = person_details("Anna", "Nowak", identifier_type="Pesel", identifier_value=PESEL)
    assert with_id["personByFpWithId"]["identifier"] == {"type": "Pesel", "value": PESEL}
    with pytest.raises(ValueError, match="birth date"):
        person_details("Anna", "Nowak", birth_date="1990-01-01")
    with pytest.raises(ValueError, match="first name"):
        person_details("A", "Nowak")


def test_grants_refuse_permissions_of_the_wrong_kind(fake_client, fake_server):
    with pytest.raises(ValueError, match="CredentialsManage"):
        fake_client.grant_entity_permissions(_random_nip(), ["CredentialsManage"], "Biuro rachunkowe", "Biuro ABC sp.")
    with pytest.raises(ValueError, match="at least one"):
        fake_client.grant_person_permissions("Pesel", PESEL, [], "Księgowa", person_details("Anna", "Nowak"))
    with pytest.raises(ValueError, match="permission id"):
        fake_client.revoke_permission("../../tokens")
    assert fake_server.requests == []  # nothing reached the server


def test_operation_status_polling_until_done_or_failed(fake_client, fake_server, recorded_sleep):
    path = "/permissions/operations/20251010-PO-0000000001-0000000001-01"
    fake_server.script("GET", path, [
        (200, {}, {"status": {"code": 100, "description": "Operacja przyjęta do realizacji"}}),
        (200, {}, {"status": {"code": 200, "description": "Operacja zakończona sukcesem"}}),
    ])
    status = fake_client.wait_permission_operation("20251010-PO-0000000001-0000000001-01")
    assert status.done and recorded_sleep.calls == [0.2]
    failing = "/permissions/operations/20251010-PO-0000000002-0000000002-02"
    fake_server.script("GET", failing, [(200, {}, {"status": {
        "code": 440, "description": "Operacja niedozwolona dla wskazanych powiązań identyfikatorów",
        "details": ["Klient nie nadał uprawnień z prawem do dalszego przekazywania"]}})])
    with pytest.raises(KsefOperationFailed) as failure:
        fake_client.wait_permission_operation("20251010-PO-0000000002-0000000002-02")
    assert failure.value.status_code == 440 and "canDelegate" not in str(failure.value)
    assert "dalszego przekazywania" in str(failure.value)
    pending = "/permissions/operations/20251010-PO-0000000003-0000000003-03"
    fake_server.script("GET", pending, [(200, {}, {"status": {"code": 100, "description": "w toku"}})])
    with pytest.raises(KsefOperationPending):
        fake_client.wait_permission_operation("20251010-PO-0000000003-0000000003-03", wait=1.0)


# -- end to end against the emulator ---------------------------------------------------------------
def test_office_is_granted_serves_the_client_and_is_stopped_by_revocation(emulator):
    client_nip, office_nip = _random_nip(), _random_nip()
    office_cert, office_key = certs.generate_test_certificate(office_nip, kind="seal", key_type="EC",
                                                              organization="Biuro Rachunkowe")
    with pytest.raises(KsefAuthFailed) as refused:
        _client(emulator).authenticate_with_certificate(client_nip, office_cert, office_key)
    assert refused.value.status_code == 415

    owner = _owner(emulator, client_nip)
    reference = owner.grant_entity_permissions(office_nip, ["InvoiceRead", "InvoiceWrite"], "Biuro rachunkowe",
                                               "Biuro Rachunkowe sp. z o.o.")
    assert owner.wait_permission_operation(reference).done
    granted = [p for p in owner.iter_person_permissions(authorized=("Nip", office_nip))]
    assert sorted(p["permissionScope"] for p in granted) == ["InvoiceRead", "InvoiceWrite"]

    office = _client(emulator)
    tokens = office.authenticate_with_certificate(client_nip, office_cert, office_key)
    with pytest.raises(KsefForbidden) as forbidden:
        list(office.iter_person_permissions())
    assert missing_permissions(forbidden.value) == {
        "required": ["CredentialsManage", "CredentialsRead", "SubunitManage"],
        "present": ["InvoiceRead", "InvoiceWrite"]}
    own = _client(emulator)
    own.authenticate_with_certificate(office_nip, office_cert, office_key)
    assert {p["contextIdentifier"]["value"] for p in own.iter_entity_permissions()} == {client_nip}

    for permission in granted:
        owner.wait_permission_operation(owner.revoke_permission(permission["id"]))
    assert list(owner.iter_person_permissions(authorized=("Nip", office_nip))) == []
    with pytest.raises(KsefAuthFailed):
        _client(emulator).authenticate_with_certificate(client_nip, office_cert, office_key)
    with pytest.raises(KsefBadRequest) as refresh_refused:
        office.refresh_access_token(tokens.refresh_token)
    assert 21301 in refresh_refused.value.codes


def test_person_indirect_and_authorization_grants(emulator):
    client_nip, office_nip, partner_nip = _random_nip(), _random_nip(), _random_nip()
    client = _owner(emulator, client_nip)
    details = person_details("Ewa", "Biurowa")
    client.wait_permission_operation(client.grant_person_permissions("Pesel", PESEL, ["InvoiceRead"], "Księgowa",
                                                                     details))
    assert [p["authorizedIdentifier"]["value"] for p in client.iter_person_permissions()] == [PESEL]

    office = _owner(emulator, office_nip)
    refused = office.grant_indirect_permissions("Pesel", PESEL, ["InvoiceWrite"], "Pracownik biura", details,
                                                target_nip=client_nip)
    with pytest.raises(KsefOperationFailed) as failure:
        office.wait_permission_operation(refused)
    assert failure.value.status_code == 440
    client.wait_permission_operation(client.grant_entity_permissions(
        office_nip, [("InvoiceWrite", True)], "Biuro z delegacją", "Biuro Rachunkowe sp. z o.o."))
    office.wait_permission_operation(office.grant_indirect_permissions(
        "Pesel", PESEL, ["InvoiceWrite"], "Pracownik biura", details, target_nip=client_nip))
    employee_cert, employee_key = certs.generate_test_certificate(pesel=PESEL, key_type="EC")
    employee = _client(emulator)
    employee.authenticate_with_certificate(client_nip, employee_cert, employee_key)
    scopes = sorted(p["permissionScope"] for p in employee.iter_personal_permissions())
    assert scopes == ["InvoiceRead", "InvoiceWrite"]  # direct from the client + indirect through the office

    client.wait_permission_operation(client.grant_authorization(partner_nip, "SelfInvoicing", "Samofakturowanie",
                                                                "Kontrahent S.A."))
    grants = list(client.iter_authorizations("Granted"))
    assert [(g["authorizedEntityIdentifier"]["value"], g["authorizationScope"]) for g in grants] == \
        [(partner_nip, "SelfInvoicing")]
    client.wait_permission_operation(client.revoke_authorization(grants[0]["id"]))
    assert list(client.iter_authorizations("Granted")) == []
    assert list(client.iter_entity_roles()) == []


def test_subunit_administrator_grant_and_query(emulator):
    parent_nip = _random_nip()
    owner = _owner(emulator, parent_nip, ("CredentialsManage", "SubunitManage"))
    internal_id = parent_nip + "-00001"
    reference = owner.grant_subunit_administrator("Pesel", PESEL, "InternalId", internal_id, "Administrator oddziału",
                                                  person_details("Olga", "Admin"), subunit_name="Oddział Gdańsk")
    assert owner.wait_permission_operation(reference).done
    granted = list(owner.iter_subunit_permissions(("InternalId", internal_id)))
    assert [(p["authorizedIdentifier"]["value"], p["permissionScope"], p["subunitName"]) for p in granted] == \
        [(PESEL, "CredentialsManage", "Oddział Gdańsk")]
    with pytest.raises(ValueError, match="internal identifier"):
        owner.grant_subunit_administrator("Pesel", PESEL, "InternalId", parent_nip + "-1", "Administrator",
                                          person_details("Olga", "Admin"))
    # Another NIP's subunit is refused by KSeF (440).
    with pytest.raises(KsefOperationFailed) as failure:
        owner.wait_permission_operation(owner.grant_subunit_administrator(
            "Pesel", PESEL, "InternalId", _random_nip() + "-00002", "Administrator", person_details("Olga", "Admin")))
    assert failure.value.status_code == 440
