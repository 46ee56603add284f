"""KSeF token management: generate after XAdES, Pending -> Active, list with filters and
continuation, details, revoke (then authentication fails with 450 and redeem with 21301)."""
import pytest

from emu_xades_signer import auth_request, make_certificate, sign

from conftest import random_nip


def xades_login(api, nip, certificate=None, key=None):
    """XAdES login as the owner of ``nip`` (self-signed personal certificate); returns the access token."""
    if certificate is None:
        certificate, key = make_certificate(nip=nip)
    response = api.post("/auth/xades-signature", data=sign(auth_request(api.challenge()["challenge"], nip), certificate, key),
                        headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    status = api.wait_auth(response.json())
    assert status["status"]["code"] == 200, status
    tokens = api.post("/auth/token/redeem", response.json()["authenticationToken"]["token"])
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["accessToken"]["token"]


def error_code(response):
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def token_auth_status(api, nip, token):
    return api.wait_auth(api.start_token_auth(nip, token))["status"]["code"]


@pytest.fixture
def owner(api):
    nip = random_nip()
    api.emu.admin("/config", {"accessTokenTtlSeconds": 24 * 3600})
    return nip, xades_login(api, nip)


def test_generate_pending_then_active_then_usable(api, owner):
    nip, access = owner
    api.emu.admin("/config", {"tokenActivationDelaySeconds": 300})
    response = api.post("/tokens", access, json={"permissions": ["InvoiceRead", "InvoiceWrite"], "description": "Odoo ERP"})
    assert response.status_code == 202, response.text
    created = response.json()
    assert len(created["token"]) <= 160
    details = api.get("/tokens/%s" % created["referenceNumber"], access).json()
    assert details["status"] == "Pending"
    assert details["requestedPermissions"] == ["InvoiceRead", "InvoiceWrite"]
    assert details["contextIdentifier"] == {"type": "Nip", "value": nip}
    assert details["authorIdentifier"] == {"type": "Nip", "value": nip}
    assert token_auth_status(api, nip, created["token"]) == 450  # not active yet
    api.emu.admin("/clock", {"advanceSeconds": 301})
    assert token_auth_status(api, nip, created["token"]) == 200  # active on the emulated clock
    assert api.get("/tokens/%s" % created["referenceNumber"], access).json()["status"] == "Active"


def test_generate_rules(api, owner):
    nip, access = owner
    lacking = api.post("/tokens", access, json={"permissions": ["EnforcementOperations"], "description": "Komornik"})
    assert lacking.status_code == 400 and error_code(lacking) == 26001
    assert "EnforcementOperations" in lacking.text
    # a KSeF-token session cannot generate tokens
    token_access = api.access_token(nip, ["InvoiceRead", "CredentialsManage"])
    refused = api.post("/tokens", token_access, json={"permissions": ["InvoiceRead"], "description": "Drugi token"})
    assert refused.status_code == 403
    invalid = api.post("/tokens", access, json={"permissions": ["Everything"], "description": "Zły token"})
    assert invalid.status_code == 400 and error_code(invalid) == 21405


def test_list_filters_and_continuation(api, owner):
    nip, access = owner
    references = []
    for index in range(12):
        permissions = ["InvoiceRead"] if index % 2 else ["InvoiceWrite"]
        created = api.post("/tokens", access, json={"permissions": permissions, "description": "Integracja %02d" % index})
        references.append(created.json()["referenceNumber"])
    first = api.get("/tokens", access, params={"pageSize": 10})
    assert first.status_code == 200, first.text
    assert len(first.json()["tokens"]) == 10
    continuation = first.json()["continuationToken"]
    assert first.headers["x-continuation-token"] == continuation
    second = api.get("/tokens", access, params={"pageSize": 10}, headers={"x-continuation-token": continuation}).json()
    assert second.get("continuationToken") is None
    listed = [t["referenceNumber"] for t in first.json()["tokens"] + second["tokens"]]
    assert sorted(listed) == sorted(references)
    only = api.get("/tokens", access, params={"description": "acja 07"}).json()["tokens"]
    assert [t["referenceNumber"] for t in only] == [references[7]]
    api.delete = lambda path, token: api.http.delete(api.url(path), headers={"Authorization": "Bearer " + token})
    assert api.delete("/tokens/%s" % references[0], access).status_code == 204
    revoked = api.get("/tokens", access, params=[("status", "Revoked")]).json()["tokens"]
    assert [t["referenceNumber"] for t in revoked] == [references[0]]
    by_author = api.get("/tokens", access, params={"authorIdentifier": nip, "authorIdentifierType": "Nip"}).json()
    assert len(by_author["tokens"]) == 10
    assert api.get("/tokens", access, params={"authorIdentifierType": "Pesel"}).json()["tokens"] == []
    bad = api.get("/tokens", access, headers={"x-continuation-token": "%%%"})
    assert bad.status_code == 400 and error_code(bad) == 21418


def test_revoked_token_fails_authentication_and_refresh(api, owner):
    nip, access = owner
    created = api.post("/tokens", access, json={"permissions": ["InvoiceRead"], "description": "Do odwołania"}).json()
    init = api.start_token_auth(nip, created["token"])
    assert api.wait_auth(init)["status"]["code"] == 200
    tokens = api.post("/auth/token/redeem", init["authenticationToken"]["token"]).json()
    response = api.http.delete(api.url("/tokens/%s" % created["referenceNumber"]), headers={"Authorization": "Bearer " + access})
    assert response.status_code == 204
    assert api.get("/tokens/%s" % created["referenceNumber"], access).json()["status"] == "Revoked"
    assert token_auth_status(api, nip, created["token"]) == 450
    refreshed = api.post("/auth/token/refresh", tokens["refreshToken"]["token"])
    assert refreshed.status_code == 400 and error_code(refreshed) == 21301


def test_other_contexts_do_not_see_tokens(api, owner):
    nip, access = owner
    created = api.post("/tokens", access, json={"permissions": ["InvoiceRead"], "description": "Prywatny"}).json()
    stranger = xades_login(api, random_nip())
    assert api.get("/tokens/%s" % created["referenceNumber"], stranger).status_code == 400
    assert api.get("/tokens", stranger).json()["tokens"] == []
    response = api.http.delete(api.url("/tokens/%s" % created["referenceNumber"]), headers={"Authorization": "Bearer " + stranger})
    assert response.status_code == 400
    # a token session without CredentialsRead sees only its own token
    own = api.post("/tokens", access, json={"permissions": ["InvoiceRead"], "description": "Sesja tokenowa"}).json()
    init = api.start_token_auth(nip, own["token"])
    api.wait_auth(init)
    token_access = api.post("/auth/token/redeem", init["authenticationToken"]["token"]).json()["accessToken"]["token"]
    assert [t["referenceNumber"] for t in api.get("/tokens", token_access).json()["tokens"]] == [own["referenceNumber"]]
