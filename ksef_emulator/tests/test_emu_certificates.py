"""KSeF certificates: enrollment of RSA and EC CSRs, status, retrieve, query, revoke, and login
with an issued certificate (then 460 once revoked). CSRs are built here with ``cryptography``."""
import base64

import pytest
from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from emu_xades_signer import auth_request, sign

from conftest import b64, random_nip
from test_emu_tokens import error_code, xades_login

FIELDS = {"commonName": NameOID.COMMON_NAME, "countryName": NameOID.COUNTRY_NAME, "givenName": NameOID.GIVEN_NAME,
          "surname": NameOID.SURNAME, "serialNumber": NameOID.SERIAL_NUMBER,
          "organizationName": NameOID.ORGANIZATION_NAME}


def make_csr(data, key):
    name = x509.Name([x509.NameAttribute(FIELDS[field], value) for field, value in data.items() if field in FIELDS])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256(), default_backend())
    return b64(csr.public_bytes(serialization.Encoding.DER))


def new_key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048, backend=default_backend())
    return ec.generate_private_key(ec.SECP256R1(), default_backend())


@pytest.fixture
def person(api):
    nip = random_nip()
    api.emu.admin("/config", {"accessTokenTtlSeconds": 24 * 3600})
    return nip, xades_login(api, nip)


def enroll(api, access, key, certificate_type="Authentication", name="Certyfikat testowy"):
    data = api.get("/certificates/enrollments/data", access).json()
    response = api.post("/certificates/enrollments", access, json={
        "certificateName": name, "certificateType": certificate_type, "csr": make_csr(data, key)})
    assert response.status_code == 202, response.text
    status = api.get("/certificates/enrollments/%s" % response.json()["referenceNumber"], access).json()
    assert status["status"]["code"] == 200, status
    return status["certificateSerialNumber"]


def retrieve(api, access, serial):
    response = api.post("/certificates/retrieve", access, json={"certificateSerialNumbers": [serial]})
    assert response.status_code == 200, response.text
    item = response.json()["certificates"][0]
    return item, x509.load_der_x509_certificate(base64.b64decode(item["certificate"]), default_backend())


def test_enrollment_data_comes_from_the_login_certificate(api, person):
    nip, access = person
    data = api.get("/certificates/enrollments/data", access).json()
    assert data["serialNumber"] == "TINPL-%s" % nip
    assert (data["givenName"], data["surname"], data["countryName"]) == ("Jan", "Testowy", "PL")
    token_access = api.access_token(nip, ["InvoiceRead"])
    refused = api.get("/certificates/enrollments/data", token_access)
    assert refused.status_code == 400 and error_code(refused) == 25001


@pytest.mark.parametrize("kind,usage", [("rsa", "Authentication"), ("ec", "Offline")])
def test_enroll_retrieve_and_query(api, person, kind, usage):
    nip, access = person
    key = new_key(kind)
    before = api.get("/certificates/limits", access).json()
    assert before["canRequest"] is True and before["certificate"]["limit"] == 100
    serial = enroll(api, access, key, usage)
    assert len(serial) == 16 and serial == serial.upper()
    item, certificate = retrieve(api, access, serial)
    assert item["certificateType"] == usage and item["certificateName"] == "Certyfikat testowy"
    assert "%016X" % certificate.serial_number == serial
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "TINPL-%s" % nip
    usage_ext = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage_ext.digital_signature is (usage == "Authentication")
    assert usage_ext.content_commitment is (usage == "Offline")
    after = api.get("/certificates/limits", access).json()
    assert after["enrollment"]["remaining"] == before["enrollment"]["remaining"] - 1
    listed = api.post("/certificates/query", access, json={"type": usage}).json()
    assert [c["certificateSerialNumber"] for c in listed["certificates"]] == [serial]
    assert listed["certificates"][0]["status"] == "Active"
    assert listed["certificates"][0]["subjectIdentifier"] == {"type": "Nip", "value": nip}
    assert api.post("/certificates/query", access, json={"name": "inna"}).json()["certificates"] == []


def test_bad_csrs_are_refused_with_codes(api, person):
    _, access = person
    data = api.get("/certificates/enrollments/data", access).json()

    def attempt(csr):
        return api.post("/certificates/enrollments", access, json={
            "certificateName": "Zly wniosek", "certificateType": "Authentication", "csr": csr})

    other = dict(data, serialNumber="TINPL-%s" % random_nip())
    assert error_code(attempt(make_csr(other, new_key("ec")))) == 25003
    assert error_code(attempt(b64(b"not a csr"))) == 25004
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024, backend=default_backend())
    assert error_code(attempt(make_csr(data, weak))) == 25010
    p384 = ec.generate_private_key(ec.SECP384R1(), default_backend())
    assert error_code(attempt(make_csr(data, p384))) == 25010
    tampered = bytearray(base64.b64decode(make_csr(data, new_key("ec"))))
    tampered[-5] ^= 0xFF  # inside the signature
    assert error_code(attempt(b64(bytes(tampered)))) == 25004


def test_enrollment_status_is_100_until_issued(api, person):
    _, access = person
    api.emu.admin("/config", {"certificateEnrollmentDelaySeconds": 120})
    data = api.get("/certificates/enrollments/data", access).json()
    reference = api.post("/certificates/enrollments", access, json={
        "certificateName": "Wolny wniosek", "certificateType": "Authentication",
        "csr": make_csr(data, new_key("ec"))}).json()["referenceNumber"]
    pending = api.get("/certificates/enrollments/%s" % reference, access).json()
    assert pending["status"]["code"] == 100 and "certificateSerialNumber" not in pending
    api.emu.admin("/clock", {"advanceSeconds": 121})
    assert api.get("/certificates/enrollments/%s" % reference, access).json()["status"]["code"] == 200
    unknown = api.get("/certificates/enrollments/20250101-CE-0000000000-0000000000-00", access)
    assert unknown.status_code == 400 and error_code(unknown) == 25005


def test_issued_certificate_logs_in_and_revocation_gives_460(api, person):
    nip, access = person
    key = new_key("ec")
    serial = enroll(api, access, key)
    _, certificate = retrieve(api, access, serial)
    api.emu.admin("/config", {"xadesAllowSelfSigned": False})  # only CA-issued certificates from now on
    response = api.post("/auth/xades-signature", data=sign(auth_request(api.challenge()["challenge"], nip), certificate, key),
                        headers={"Content-Type": "application/xml"})
    status = api.wait_auth(response.json())
    assert status["status"]["code"] == 200, status
    assert status["authenticationMethod"] == "InternalCertificate"
    new_access = api.post("/auth/token/redeem", response.json()["authenticationToken"]["token"]).json()["accessToken"]["token"]
    token_access = api.access_token(nip, ["InvoiceRead"])
    refused = api.post("/certificates/%s/revoke" % serial, token_access, json={})
    assert refused.status_code == 400 and error_code(refused) == 25008
    revoked = api.post("/certificates/%s/revoke" % serial, new_access, json={"revocationReason": "KeyCompromise"})
    assert revoked.status_code == 204, revoked.text
    assert api.post("/certificates/query", new_access, json={"status": "Revoked"}).json()["certificates"][0][
        "certificateSerialNumber"] == serial
    again = api.post("/auth/xades-signature", data=sign(auth_request(api.challenge()["challenge"], nip), certificate, key),
                     headers={"Content-Type": "application/xml"})
    assert api.wait_auth(again.json())["status"]["code"] == 460


def test_offline_certificate_cannot_log_in_and_others_cannot_see_it(api, person):
    nip, access = person
    key = new_key("ec")
    serial = enroll(api, access, key, "Offline")
    _, certificate = retrieve(api, access, serial)
    api.emu.admin("/config", {"xadesAllowSelfSigned": False})
    response = api.post("/auth/xades-signature", data=sign(auth_request(api.challenge()["challenge"], nip), certificate, key),
                        headers={"Content-Type": "application/xml"})
    assert api.wait_auth(response.json())["status"]["code"] == 460
    api.emu.admin("/config", {"xadesAllowSelfSigned": True})
    stranger = xades_login(api, random_nip())
    assert api.post("/certificates/retrieve", stranger, json={"certificateSerialNumbers": [serial]}).json()["certificates"] == []
    assert error_code(api.post("/certificates/%s/revoke" % serial, stranger, json={})) == 25009
