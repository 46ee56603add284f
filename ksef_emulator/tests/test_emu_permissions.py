"""Permissions management (uprawnienia.md): grants, queries, revocation, operation status, and
what a subject gets when it logs into someone else's context (raw HTTP, no ksef_protocol)."""
import hashlib

from cryptography.hazmat.primitives.serialization import Encoding
from emu_xades_signer import auth_request, make_certificate, sign

from conftest import random_nip

PESEL = "44051401359"  # valid checksum


def _xades_login(api, context_nip, certificate, key, subject_type="certificateSubject"):
    """XAdES login; returns (status body, redeem body or None)."""
    xml = sign(auth_request(api.challenge()["challenge"], context_nip, subject_type), certificate, key)
    init = api.post("/auth/xades-signature", data=xml, headers={"Content-Type": "application/xml"}).json()
    status = api.wait_auth(init)
    if status["status"]["code"] != 200:
        return status, None
    redeemed = api.post("/auth/token/redeem", init["authenticationToken"]["token"])
    assert redeemed.status_code == 200, redeemed.text
    return status, redeemed.json()


def _claims(access):
    import base64
    import json
    payload = access.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _operation(api, access, response):
    assert response.status_code == 202, response.text
    reference = response.json()["referenceNumber"]
    status = api.get("/permissions/operations/%s" % reference, access)
    assert status.status_code == 200, status.text
    return status.json()["status"]


def _grant_entity(api, access, office_nip, can_delegate=False):
    return api.post("/permissions/entities/grants", access, json={
        "subjectIdentifier": {"type": "Nip", "value": office_nip},
        "permissions": [{"type": "InvoiceRead", "canDelegate": can_delegate},
                        {"type": "InvoiceWrite", "canDelegate": can_delegate}],
        "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}})


def _query_persons(api, access, **filters):
    body = dict({"queryType": "PermissionsInCurrentContext"}, **filters)
    response = api.post("/permissions/query/persons/grants?pageSize=100", access, json=body)
    assert response.status_code == 200, response.text
    return response.json()["permissions"]


def test_office_gets_exactly_the_granted_permissions_in_the_client_context(api):
    client_nip, office_nip = random_nip(), random_nip()
    office_cert, office_key = make_certificate(seal_nip=office_nip, key_type="ec")
    # Nothing granted yet: the office cannot log into the client's context at all.
    status, _ = _xades_login(api, client_nip, office_cert, office_key)
    assert status["status"]["code"] == 415 and status["status"]["details"] == ["Brak przypisanych uprawnień"]

    owner = api.access_token(client_nip, ["CredentialsManage"])
    assert _operation(api, owner, _grant_entity(api, owner, office_nip))["code"] == 200
    granted = _query_persons(api, owner, authorizedIdentifier={"type": "Nip", "value": office_nip})
    assert sorted(item["permissionScope"] for item in granted) == ["InvoiceRead", "InvoiceWrite"]
    assert all(item["permissionState"] == "Active" and item["authorIdentifier"] == {"type": "Nip", "value": client_nip}
               and item["subjectEntityDetails"]["fullName"] == "Biuro Rachunkowe Sp. z o.o." for item in granted)

    status, tokens = _xades_login(api, client_nip, office_cert, office_key)
    access = tokens["accessToken"]["token"]
    assert sorted(_claims(access)["perms"]) == ["InvoiceRead", "InvoiceWrite"]
    # Managing the client's permissions is not among them: 403 with the documented shape.
    refused = api.post("/permissions/query/persons/grants", access, json={"queryType": "PermissionsInCurrentContext"})
    assert refused.status_code == 403
    body = refused.json()
    assert body["reasonCode"] == "missing-permissions"
    assert set(body["security"]["requiredAnyOfPermissions"]) == {"CredentialsManage", "CredentialsRead", "SubunitManage"}
    assert sorted(body["security"]["presentPermissions"]) == ["InvoiceRead", "InvoiceWrite"]
    # The office sees what the client granted it, from its own context.
    _, own = _xades_login(api, office_nip, office_cert, office_key)
    received = api.post("/permissions/query/entities/grants", own["accessToken"]["token"],
                        json={"contextIdentifier": {"type": "Nip", "value": client_nip}}).json()["permissions"]
    assert sorted(item["permissionScope"] for item in received) == ["InvoiceRead", "InvoiceWrite"]

    # Revocation: the next login is refused, and so is a refresh of the earlier login.
    for item in granted:
        assert _operation(api, owner, api.http.delete(api.url("/permissions/common/grants/%s" % item["id"]),
                                                      headers={"Authorization": "Bearer " + owner}))["code"] == 200
    assert _query_persons(api, owner, authorizedIdentifier={"type": "Nip", "value": office_nip}) == []
    assert len(_query_persons(api, owner, permissionState="Inactive",
                              authorizedIdentifier={"type": "Nip", "value": office_nip})) == 2
    status, _ = _xades_login(api, client_nip, office_cert, office_key)
    assert status["status"]["code"] == 415
    refreshed = api.post("/auth/token/refresh", tokens["refreshToken"]["token"])
    assert refreshed.status_code == 400 and refreshed.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301


def test_person_grant_by_pesel_and_fingerprint_and_personal_query(api):
    client_nip = random_nip()
    owner = api.access_token(client_nip, ["CredentialsManage"])
    person_cert, person_key = make_certificate(pesel=PESEL)
    fingerprint = hashlib.sha256(person_cert.public_bytes(Encoding.DER)).hexdigest()
    response = api.post("/permissions/persons/grants", owner, json={
        "subjectIdentifier": {"type": "Pesel", "value": PESEL}, "permissions": ["InvoiceRead"],
        "description": "Księgowa", "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                                                      "personById": {"firstName": "Anna", "lastName": "Nowak"}}})
    assert _operation(api, owner, response)["code"] == 200
    _, tokens = _xades_login(api, client_nip, person_cert, person_key)
    access = tokens["accessToken"]["token"]
    assert _claims(access)["perms"] == ["InvoiceRead"]
    personal = api.post("/permissions/query/personal/grants", access, json={}).json()
    assert [(p["permissionScope"], p["contextIdentifier"]["value"]) for p in personal["permissions"]] == \
        [("InvoiceRead", client_nip)]
    assert "ownerPermissions" not in personal
    # The same certificate by fingerprint holds nothing until it is granted by fingerprint.
    status, _ = _xades_login(api, client_nip, person_cert, person_key, "certificateFingerprint")
    assert status["status"]["code"] == 415
    response = api.post("/permissions/persons/grants", owner, json={
        "subjectIdentifier": {"type": "Fingerprint", "value": fingerprint}, "permissions": ["InvoiceWrite"],
        "description": "Certyfikat bez PESEL", "subjectDetails": {
            "subjectDetailsType": "PersonByFingerprintWithIdentifier",
            "personByFpWithId": {"firstName": "Anna", "lastName": "Nowak",
                                 "identifier": {"type": "Pesel", "value": PESEL}}}})
    assert _operation(api, owner, response)["code"] == 200
    _, tokens = _xades_login(api, client_nip, person_cert, person_key, "certificateFingerprint")
    assert _claims(tokens["accessToken"]["token"])["perms"] == ["InvoiceWrite"]
    # Bad identifiers are accepted for processing and end with 450.
    response = api.post("/permissions/persons/grants", owner, json={
        "subjectIdentifier": {"type": "Pesel", "value": "44051401358"}, "permissions": ["InvoiceRead"],
        "description": "Zły PESEL", "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                                                       "personById": {"firstName": "Jan", "lastName": "Kowal"}}})
    assert _operation(api, owner, response)["code"] == 450


def test_indirect_grant_needs_can_delegate_and_works_through_the_office(api):
    client_nip, other_client, office_nip = random_nip(), random_nip(), random_nip()
    employee_cert, employee_key = make_certificate(pesel=PESEL)
    office = api.access_token(office_nip, ["CredentialsManage"])

    def grant_indirect(target):
        return api.post("/permissions/indirect/grants", office, json={
            "subjectIdentifier": {"type": "Pesel", "value": PESEL}, "targetIdentifier": target,
            "permissions": ["InvoiceRead"], "description": "Pracownik biura",
            "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                               "personById": {"firstName": "Ewa", "lastName": "Biurowa"}}})

    # Selective grant without the client's canDelegate: refused (440).
    assert _operation(api, office, grant_indirect({"type": "Nip", "value": client_nip}))["code"] == 440
    client = api.access_token(client_nip, ["CredentialsManage"])
    assert _operation(api, client, _grant_entity(api, client, office_nip, can_delegate=True))["code"] == 200
    assert _operation(api, office, grant_indirect({"type": "Nip", "value": client_nip}))["code"] == 200
    _, tokens = _xades_login(api, client_nip, employee_cert, employee_key)
    assert _claims(tokens["accessToken"]["token"])["perms"] == ["InvoiceRead"]
    # A client that delegated nothing stays closed even with a general (AllPartners) grant.
    assert _operation(api, office, grant_indirect({"type": "AllPartners"}))["code"] == 200
    status, _ = _xades_login(api, other_client, employee_cert, employee_key)
    assert status["status"]["code"] == 415
    listed = _query_persons(api, office, targetIdentifier={"type": "Nip", "value": client_nip})
    assert [(p["authorizedIdentifier"]["value"], p["permissionScope"]) for p in listed] == [(PESEL, "InvoiceRead")]


def test_authorizations_subunits_roles_and_operation_delay(api):
    client_nip, partner_nip = random_nip(), random_nip()
    owner = api.access_token(client_nip, ["CredentialsManage", "SubunitManage"])
    response = api.post("/permissions/authorizations/grants", owner, json={
        "subjectIdentifier": {"type": "Nip", "value": partner_nip}, "permission": "SelfInvoicing",
        "description": "Samofakturowanie", "subjectDetails": {"fullName": "Kontrahent S.A."}})
    assert _operation(api, owner, response)["code"] == 200
    granted = api.post("/permissions/query/authorizations/grants", owner, json={"queryType": "Granted"}).json()
    assert [(g["authorizedEntityIdentifier"]["value"], g["authorizationScope"]) for g in granted["authorizationGrants"]] \
        == [(partner_nip, "SelfInvoicing")]
    partner = api.access_token(partner_nip, ["CredentialsRead"])
    received = api.post("/permissions/query/authorizations/grants", partner, json={"queryType": "Received"}).json()
    assert [g["authorizingEntityIdentifier"]["value"] for g in received["authorizationGrants"]] == [client_nip]
    # An authorization is revoked by its own endpoint, not the common one.
    grant_id = granted["authorizationGrants"][0]["id"]
    common = api.http.delete(api.url("/permissions/common/grants/%s" % grant_id), headers={"Authorization": "Bearer " + owner})
    assert _operation(api, owner, common)["code"] == 410
    revoked = api.http.delete(api.url("/permissions/authorizations/grants/%s" % grant_id),
                              headers={"Authorization": "Bearer " + owner})
    assert _operation(api, owner, revoked)["code"] == 200
    assert api.post("/permissions/query/authorizations/grants", owner,
                    json={"queryType": "Granted"}).json()["authorizationGrants"] == []

    # A subunit administrator gets CredentialsManage in the InternalId context.
    internal_id = client_nip + "-00001"
    api.emu.admin("/config", {"permissionProcessingDelaySeconds": 60})
    response = api.post("/permissions/subunits/grants", owner, json={
        "subjectIdentifier": {"type": "Pesel", "value": PESEL}, "contextIdentifier": {"type": "InternalId", "value": internal_id},
        "description": "Administrator oddziału", "subunitName": "Oddział Gdańsk",
        "subjectDetails": {"subjectDetailsType": "PersonByIdentifier", "personById": {"firstName": "Olga", "lastName": "Admin"}}})
    assert _operation(api, owner, response)["code"] == 100  # still being processed
    api.emu.admin("/clock", {"advanceSeconds": 61})
    reference = response.json()["referenceNumber"]
    assert api.get("/permissions/operations/%s" % reference, owner).json()["status"]["code"] == 200
    subunits = api.post("/permissions/query/subunits/grants", owner, json={}).json()["permissions"]
    assert [(s["subunitIdentifier"]["value"], s["subunitName"]) for s in subunits] == [(internal_id, "Oddział Gdańsk")]
    assert api.get("/permissions/query/entities/roles", owner).json() == {"roles": [], "hasMore": False}
    # Someone else's operation is not visible.
    stranger = api.access_token(partner_nip, ["CredentialsManage"])
    assert api.get("/permissions/operations/%s" % reference, stranger).status_code == 400


def test_tokens_of_a_person_die_with_its_last_permission(api):
    client_nip = random_nip()
    owner = api.access_token(client_nip, ["CredentialsManage"])
    person_cert, person_key = make_certificate(pesel=PESEL)
    response = api.post("/permissions/persons/grants", owner, json={
        "subjectIdentifier": {"type": "Pesel", "value": PESEL}, "permissions": ["InvoiceRead", "CredentialsManage"],
        "description": "Księgowa", "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                                                      "personById": {"firstName": "Anna", "lastName": "Nowak"}}})
    assert _operation(api, owner, response)["code"] == 200
    _, tokens = _xades_login(api, client_nip, person_cert, person_key)
    person = tokens["accessToken"]["token"]
    created = api.post("/tokens", person, json={"permissions": ["InvoiceRead"], "description": "Token księgowej"})
    assert created.status_code == 202, created.text
    reference = created.json()["referenceNumber"]
    granted = _query_persons(api, owner, authorizedIdentifier={"type": "Pesel", "value": PESEL})
    first, second = granted
    assert _operation(api, owner, api.http.delete(api.url("/permissions/common/grants/%s" % first["id"]),
                                                  headers={"Authorization": "Bearer " + owner}))["code"] == 200
    assert api.get("/tokens/%s" % reference, owner).json()["status"] == "Active"  # one permission left
    assert _operation(api, owner, api.http.delete(api.url("/permissions/common/grants/%s" % second["id"]),
                                                  headers={"Authorization": "Bearer " + owner}))["code"] == 200
    assert api.get("/tokens/%s" % reference, owner).json()["status"] == "Revoked"
