"""Every /v2 endpoint the emulator serves answers with bodies valid against open-api.json.

The emulator also checks its own responses when ``validateResponses`` is on (the test
default), but here the check runs on the client side for each endpoint, and the test
fails if an endpoint registered in the router was not exercised.
"""
import io
import os
import tempfile
import zipfile

import requests

from ksef_emulator.app import EmulatorApp
from ksef_emulator.openapi import get_openapi

from conftest import FA3_FORM, OAEP, SELLER_NIP, aes_encrypt, b64, fa3_invoice, sha256_b64


class Recorder:
    def __init__(self, api):
        self.api = api
        self.openapi = get_openapi()
        self.seen = set()

    def check(self, method, spec_path, response, expected_status):
        assert response.status_code == expected_status, (method, spec_path, response.status_code, response.text[:300])
        operation = self.openapi.operation(method, spec_path)
        content_type = response.headers.get("Content-Type")
        body = response.json() if content_type and "json" in content_type else (response.content or None)
        problems = self.openapi.response_errors(operation, response.status_code, content_type, body)
        assert problems == [], (method, spec_path, problems)
        self.seen.add("%s %s" % (method, spec_path))
        return response


def test_validator_is_not_vacuous():
    openapi = get_openapi()
    operation = openapi.operation("GET", "/sessions/{referenceNumber}")
    assert openapi.response_errors(operation, 200, "application/json", {"status": {"code": "x"}})
    assert openapi.response_errors(operation, 200, "application/json",
                                   {"status": {"code": 100, "description": "ok"}, "dateCreated": "2026-01-01T00:00:00+00:00",
                                    "dateUpdated": "2026-01-01T00:00:00Z", "validUntil": None, "upo": None}) == []
    # format: date-time is checked too (a malformed date is a contract violation)
    assert openapi.response_errors(operation, 200, "application/json",
                                   {"status": {"code": 100, "description": "ok"}, "dateCreated": "d",
                                    "dateUpdated": "d", "validUntil": None, "upo": None})
    assert openapi.response_errors(operation, 418, "application/json", {})


def test_every_served_endpoint_matches_the_spec(api):
    r = Recorder(api)
    access_tokens = api.login()
    access = access_tokens["accessToken"]["token"]
    r.check("GET", "/security/public-key-certificates", api.get("/security/public-key-certificates"), 200)
    challenge = r.check("POST", "/auth/challenge", api.post("/auth/challenge"), 200).json()
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite", "InvoiceRead"])["token"]
    key, key_id = api.public_key("KsefTokenEncryption")
    init = r.check("POST", "/auth/ksef-token", api.post("/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
        "encryptedToken": b64(key.encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), OAEP)),
        "publicKeyId": key_id}), 202).json()
    bearer = init["authenticationToken"]["token"]
    api.wait_auth(init)
    r.check("GET", "/auth/{referenceNumber}", api.get("/auth/%s" % init["referenceNumber"], bearer), 200)
    tokens = r.check("POST", "/auth/token/redeem", api.post("/auth/token/redeem", bearer), 200).json()
    r.check("POST", "/auth/token/redeem", api.post("/auth/token/redeem", bearer), 400)
    r.check("POST", "/auth/token/refresh", api.post("/auth/token/refresh", tokens["refreshToken"]["token"]), 200)
    r.check("GET", "/limits/context", api.get("/limits/context", access), 200)
    r.check("GET", "/limits/context", api.get("/limits/context"), 401)
    r.check("GET", "/rate-limits", api.get("/rate-limits", access), 200)

    from emu_xades_signer import auth_request, make_certificate, sign
    certificate, private_key = make_certificate(nip=SELLER_NIP, key_type="ec")
    xml = sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, private_key)
    r.check("POST", "/auth/xades-signature", api.post("/auth/xades-signature", data=xml,
                                                      headers={"Content-Type": "application/xml"}), 202)

    sym_key, iv = os.urandom(32), os.urandom(16)
    rsa_key, _ = api.public_key("SymmetricKeyEncryption")
    session = r.check("POST", "/sessions/online", api.post("/sessions/online", access, json={
        "formCode": FA3_FORM, "encryption": {"encryptedSymmetricKey": b64(rsa_key.encrypt(sym_key, OAEP)),
                                             "initializationVector": b64(iv)}}), 201).json()["referenceNumber"]
    sent = r.check("POST", "/sessions/online/{referenceNumber}/invoices",
                   api.send(access, session, sym_key, iv, fa3_invoice("C/%s" % os.urandom(3).hex())), 202).json()
    r.check("POST", "/sessions/online/{referenceNumber}/invoices",
            api.send(access, session, sym_key, iv, b"<x/>", invoiceSize=1), 400)
    bad = api.send(access, session, sym_key, iv, b"<broken")
    status = api.wait_invoice(access, session, sent["referenceNumber"])
    api.wait_invoice(access, session, bad.json()["referenceNumber"])
    r.check("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
            api.get("/sessions/%s/invoices/%s" % (session, sent["referenceNumber"]), access), 200)
    r.check("GET", "/sessions/{referenceNumber}/invoices", api.get("/sessions/%s/invoices" % session, access), 200)
    r.check("GET", "/sessions/{referenceNumber}/invoices/failed", api.get("/sessions/%s/invoices/failed" % session, access), 200)
    r.check("GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo",
            api.get("/sessions/%s/invoices/%s/upo" % (session, sent["referenceNumber"]), access), 200)
    r.check("GET", "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo",
            api.get("/sessions/%s/invoices/ksef/%s/upo" % (session, status["ksefNumber"]), access), 200)
    r.check("POST", "/sessions/online/{referenceNumber}/close", api.post("/sessions/online/%s/close" % session, access), 204)
    final = api.wait_session(access, session)
    r.check("GET", "/sessions/{referenceNumber}", api.get("/sessions/%s" % session, access), 200)
    r.check("GET", "/sessions/{referenceNumber}/upo/{upoReferenceNumber}",
            api.get("/sessions/%s/upo/%s" % (session, final["upo"]["pages"][0]["referenceNumber"]), access), 200)
    r.check("GET", "/sessions", api.get("/sessions?sessionType=Online&pageSize=10", access), 200)
    r.check("GET", "/sessions", api.get("/sessions?pageSize=5", access), 400)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", fa3_invoice("CB/%s" % os.urandom(3).hex()))
    package = buffer.getvalue()
    batch_key, batch_iv = os.urandom(32), os.urandom(16)
    encrypted = aes_encrypt(batch_key, batch_iv, package)
    rsa_key, _ = api.public_key("SymmetricKeyEncryption")
    opened = r.check("POST", "/sessions/batch", api.post("/sessions/batch", access, json={
        "formCode": FA3_FORM,
        "batchFile": {"fileSize": len(package), "fileHash": sha256_b64(package),
                      "fileParts": [{"ordinalNumber": 1, "fileSize": len(encrypted), "fileHash": sha256_b64(encrypted)}]},
        "encryption": {"encryptedSymmetricKey": b64(rsa_key.encrypt(batch_key, OAEP)), "initializationVector": b64(batch_iv)}}),
        201).json()
    upload = opened["partUploadRequests"][0]
    assert requests.put(upload["url"], data=encrypted, headers=upload["headers"], timeout=10).status_code == 201
    r.check("POST", "/sessions/batch/{referenceNumber}/close",
            api.post("/sessions/batch/%s/close" % opened["referenceNumber"], access), 204)

    other = api.login()
    r.check("GET", "/auth/sessions", api.get("/auth/sessions", access), 200)
    r.check("DELETE", "/auth/sessions/{referenceNumber}",
            api.http.delete(api.url("/auth/sessions/%s" % other_reference(api, other)),
                            headers={"Authorization": "Bearer " + access}, timeout=10), 204)
    r.check("DELETE", "/auth/sessions/current",
            api.http.delete(api.url("/auth/sessions/current"), headers={"Authorization": "Bearer " + access}, timeout=10), 204)

    app = EmulatorApp(tempfile.mkdtemp(prefix="ksef-emu-routes-"), log_stream=io.StringIO())
    served = {route.operation.key for route in app.router.routes if route.operation is not None}
    owned_here = {key for key in served if not key.split(" ", 1)[1].startswith(("/invoices", "/certificates", "/tokens",
                                                                                   "/testdata", "/collective-identifiers",
                                                                                   "/permissions", "/peppol", "/limits/subject"))}
    assert owned_here - r.seen == set()


def other_reference(api, tokens):
    """Reference number of the authentication behind ``tokens`` (from its own session list)."""
    items = api.get("/auth/sessions", tokens["accessToken"]["token"]).json()["items"]
    return [item for item in items if item["isCurrent"]][0]["referenceNumber"]
