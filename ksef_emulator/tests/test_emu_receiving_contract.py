"""Client-side OpenAPI check of every receiving, KSeF-certificate and KSeF-token endpoint
(success and error answers), and a check that each such route the emulator serves was exercised."""
import io
import tempfile

import requests

from ksef_emulator.app import EmulatorApp

from conftest import random_nip
from test_emu_certificates import make_csr, new_key
from test_emu_contract import Recorder
from test_emu_receiving import buyer_filters, export_encryption, seed
from test_emu_tokens import xades_login

OWNED = ("/invoices", "/certificates", "/tokens")


def test_receiving_certificate_and_token_endpoints_match_the_spec(api):
    r = Recorder(api)
    api.emu.admin("/config", {"permanentStorageHwmLagSeconds": 0})
    nip = random_nip()
    access = xades_login(api, nip)
    token_access = api.access_token(nip, ["InvoiceRead"])
    number = seed(api, nip)[0]["ksefNumber"]

    r.check("POST", "/invoices/query/metadata", api.post("/invoices/query/metadata", access, json=buyer_filters()), 200)
    r.check("POST", "/invoices/query/metadata", api.post("/invoices/query/metadata", access, json={"subjectType": "X"}), 400)
    r.check("GET", "/invoices/ksef/{ksefNumber}", api.get("/invoices/ksef/%s" % number, access), 200)
    r.check("GET", "/invoices/ksef/{ksefNumber}", api.get("/invoices/ksef/%s" % number, access,
                                                          headers={"X-Error-Format": "problem-details"}), 200)
    missing = "%s-20250101-0123456789AB-00" % nip
    r.check("GET", "/invoices/ksef/{ksefNumber}", api.get("/invoices/ksef/%s" % missing, access), 400)
    _, _, encryption = export_encryption(api)
    reference = r.check("POST", "/invoices/exports", api.post("/invoices/exports", access, json={
        "encryption": encryption, "filters": buyer_filters()}), 201).json()["referenceNumber"]
    status = r.check("GET", "/invoices/exports/{referenceNumber}", api.get("/invoices/exports/%s" % reference, access), 200)
    assert requests.get(status.json()["package"]["parts"][0]["url"], timeout=30).status_code == 200

    r.check("GET", "/certificates/limits", api.get("/certificates/limits", access), 200)
    data = r.check("GET", "/certificates/enrollments/data", api.get("/certificates/enrollments/data", access), 200).json()
    r.check("GET", "/certificates/enrollments/data", api.get("/certificates/enrollments/data", token_access), 400)
    enrollment = r.check("POST", "/certificates/enrollments", api.post("/certificates/enrollments", access, json={
        "certificateName": "Kontrakt", "certificateType": "Authentication", "csr": make_csr(data, new_key("ec"))}),
        202).json()
    serial = r.check("GET", "/certificates/enrollments/{referenceNumber}", api.get(
        "/certificates/enrollments/%s" % enrollment["referenceNumber"], access), 200).json()["certificateSerialNumber"]
    r.check("POST", "/certificates/retrieve", api.post("/certificates/retrieve", access,
                                                       json={"certificateSerialNumbers": [serial]}), 200)
    r.check("POST", "/certificates/query", api.post("/certificates/query", access, json={}), 200)
    r.check("POST", "/certificates/{certificateSerialNumber}/revoke",
            api.post("/certificates/%s/revoke" % serial, access, json={"revocationReason": "Superseded"}), 204)

    created = r.check("POST", "/tokens", api.post("/tokens", access, json={
        "permissions": ["InvoiceRead"], "description": "Kontrakt API"}), 202).json()
    r.check("POST", "/tokens", api.post("/tokens", token_access, json={
        "permissions": ["InvoiceRead"], "description": "Kontrakt API"}), 403)
    r.check("GET", "/tokens", api.get("/tokens", access), 200)
    r.check("GET", "/tokens/{referenceNumber}", api.get("/tokens/%s" % created["referenceNumber"], access), 200)
    r.check("DELETE", "/tokens/{referenceNumber}", api.http.delete(
        api.url("/tokens/%s" % created["referenceNumber"]), headers={"Authorization": "Bearer " + access}, timeout=30), 204)

    app = EmulatorApp(tempfile.mkdtemp(prefix="ksef-emu-routes-"), log_stream=io.StringIO())
    served = {route.operation.key for route in app.router.routes if route.operation is not None}
    owned = {key for key in served if key.split(" ", 1)[1].startswith(OWNED)}
    assert len(owned) == 15
    assert owned - r.seen == set()
