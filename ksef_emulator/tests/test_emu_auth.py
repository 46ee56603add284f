"""Authentication: challenge, KSeF token, XAdES, status codes, redeem, refresh, expiry, permissions."""
import re
import time

from emu_xades_signer import auth_request, make_certificate, sign

from conftest import OAEP, SELLER_NIP, b64, random_nip


def _xades(api, xml, query=""):
    return api.post("/auth/xades-signature" + query, data=xml, headers={"Content-Type": "application/xml"})


def test_challenge_has_documented_format(api):
    body = api.challenge()
    assert re.fullmatch(r"\d{8}-CR-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}", body["challenge"])
    assert abs(body["timestampMs"] / 1000.0 - time.time()) < 5
    assert body["clientIp"] == "127.0.0.1"


def test_public_key_ids_are_sha256_of_spki(api):
    import base64
    import hashlib
    from cryptography import x509
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import serialization
    items = api.get("/security/public-key-certificates").json()
    assert sorted(u for item in items for u in item["usage"]) == ["KsefTokenEncryption", "SymmetricKeyEncryption"]
    for item in items:
        der = base64.b64decode(item["certificate"])
        spki = x509.load_der_x509_certificate(der, default_backend()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert item["publicKeyId"] == b64(hashlib.sha256(spki).digest())
        assert item["certificateId"] == b64(hashlib.sha256(der).digest())


def test_ksef_token_flow_redeem_once_and_refresh(api):
    tokens = api.login()
    access, refresh = tokens["accessToken"]["token"], tokens["refreshToken"]["token"]
    assert api.get("/limits/context", access).status_code == 200
    refreshed = api.post("/auth/token/refresh", refresh)
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"accessToken"}  # no new refresh token
    assert api.get("/limits/context", refreshed.json()["accessToken"]["token"]).status_code == 200
    # the refresh token is not an access token
    assert api.get("/limits/context", refresh).status_code == 401


def test_redeem_twice_is_21301(api):
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    init = api.start_token_auth(SELLER_NIP, token)
    assert api.wait_auth(init)["status"]["code"] == 200
    bearer = init["authenticationToken"]["token"]
    assert api.post("/auth/token/redeem", bearer).status_code == 200
    second = api.post("/auth/token/redeem", bearer)
    assert second.status_code == 400
    assert second.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    status = api.get("/auth/%s" % init["referenceNumber"], bearer).json()
    assert status["isTokenRedeemed"] is True and "refreshTokenValidUntil" in status


def test_wrong_timestamp_and_revoked_token_give_450(api):
    created = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])
    init = api.start_token_auth(SELLER_NIP, created["token"], timestamp_ms=1234)
    status = api.wait_auth(init)
    assert status["status"]["code"] == 450 and status["status"]["details"] == ["Nieprawidłowy czas tokena"]
    redeem = api.post("/auth/token/redeem", init["authenticationToken"]["token"])
    assert redeem.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    api.emu.admin("/tokens/%s/status" % created["referenceNumber"], {"status": "Revoked"})
    status = api.wait_auth(api.start_token_auth(SELLER_NIP, created["token"]))
    assert status["status"]["code"] == 450 and status["status"]["details"] == ["Token unieważniony"]
    status = api.wait_auth(api.start_token_auth(SELLER_NIP, "not-a-token"))
    assert status["status"]["details"] == ["Nieprawidłowy token"]


def test_token_for_other_context_gets_450_with_the_documented_detail(api):
    """open-api.json 2.9.0 status table: 450 | ... | Token nie może być użyty w kontekście {contextIdentifier}."""
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    other = random_nip()
    status = api.wait_auth(api.start_token_auth(SELLER_NIP, token, context_nip=other))
    assert status["status"]["code"] == 450
    assert status["status"]["details"] == ["Token nie może być użyty w kontekście %s" % other]


def test_auth_processing_delay_shows_100(api):
    api.emu.admin("/config", {"authProcessingDelaySeconds": 30})
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    init = api.start_token_auth(SELLER_NIP, token)
    bearer = init["authenticationToken"]["token"]
    assert api.get("/auth/%s" % init["referenceNumber"], bearer).json()["status"]["code"] == 100
    assert api.post("/auth/token/redeem", bearer).status_code == 400
    api.emu.admin("/clock", {"advanceSeconds": 31})
    assert api.get("/auth/%s" % init["referenceNumber"], bearer).json()["status"]["code"] == 200


def test_expired_or_reused_challenge_is_21111(api):
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    challenge = api.challenge()
    key, _ = api.public_key("KsefTokenEncryption")
    body = {"challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
            "encryptedToken": b64(key.encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), OAEP))}
    api.emu.admin("/clock", {"advanceSeconds": 601})
    expired = api.post("/auth/ksef-token", json=body)
    assert expired.status_code == 400
    assert expired.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111
    reused = api.post("/auth/ksef-token", json=body)
    assert reused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111


def test_key_rotation_rejects_old_public_key_id(api):
    _, old_id = api.public_key("KsefTokenEncryption")
    rotated = api.emu.admin("/keys/rotate", {"usages": ["KsefTokenEncryption"]})
    assert rotated["KsefTokenEncryption"]["oldPublicKeyId"] == old_id
    challenge = api.challenge()
    response = api.post("/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
        "encryptedToken": b64(b"x" * 256), "publicKeyId": old_id})
    assert response.status_code == 400
    assert response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470
    _, new_id = api.public_key("KsefTokenEncryption")
    assert new_id != old_id
    assert api.access_token()  # the new key works


def test_access_token_expiry_gives_401_problem_details(api):
    api.emu.admin("/config", {"accessTokenTtlSeconds": 60})
    access = api.access_token()
    assert api.get("/limits/context", access).status_code == 200
    api.emu.admin("/clock", {"advanceSeconds": 61})
    expired = api.get("/limits/context", access)
    assert expired.status_code == 401
    assert expired.headers["Content-Type"].startswith("application/problem+json")
    assert expired.json()["status"] == 401
    assert api.get("/limits/context", "garbage.token.value").status_code == 401
    assert api.get("/limits/context").status_code == 401


def test_missing_permission_is_403(api):
    access = api.access_token(permissions=("InvoiceRead",))
    response = api.post("/sessions/online", access, json={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": b64(b"k"), "initializationVector": b64(b"i" * 16)}})
    assert response.status_code == 403
    body = response.json()
    assert body["reasonCode"] == "missing-permissions"
    assert body["security"]["presentPermissions"] == ["InvoiceRead"]
    assert "InvoiceWrite" in body["security"]["requiredAnyOfPermissions"]


def test_xades_rsa_and_ecdsa_owner_login(api):
    for key_type, kwargs in (("rsa", {"nip": SELLER_NIP}), ("ec", {"seal_nip": SELLER_NIP})):
        certificate, key = make_certificate(key_type=key_type, **kwargs)
        response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key))
        assert response.status_code == 202, response.text
        status = api.wait_auth(response.json())
        assert status["status"]["code"] == 200
        assert status["authenticationMethodInfo"]["category"] == "XadesSignature"
        assert status["authenticationMethod"] == ("QualifiedSignature" if key_type == "rsa" else "QualifiedSeal")
        tokens = api.post("/auth/token/redeem", response.json()["authenticationToken"]["token"]).json()
        assert api.get("/limits/context", tokens["accessToken"]["token"]).status_code == 200


def test_xades_tampered_document_is_rejected(api):
    certificate, key = make_certificate(nip=SELLER_NIP)
    xml = sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key)
    tampered = xml.replace(SELLER_NIP.encode(), random_nip().encode(), 1)
    response = _xades(api, tampered)
    assert response.status_code == 400
    detail = response.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 9105 and "Skrót" in detail["details"][0]


def test_xades_der_ecdsa_signature_is_rejected(api):
    certificate, key = make_certificate(nip=SELLER_NIP, key_type="ec")
    response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key, ecdsa_der=True))
    assert response.status_code == 400
    assert "R||S" in response.json()["exception"]["exceptionDetailList"][0]["details"][0]


def test_xades_unsigned_and_garbage(api):
    from lxml import etree
    unsigned = etree.tostring(auth_request(api.challenge()["challenge"], SELLER_NIP))
    assert _xades(api, unsigned).json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 9102
    assert _xades(api, b"<not xml").json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21001


def test_xades_other_nip_without_grant_is_415_and_fingerprint_grant_works(api):
    other_context = random_nip()
    certificate, key = make_certificate(nip=SELLER_NIP)
    response = _xades(api, sign(auth_request(api.challenge()["challenge"], other_context), certificate, key))
    assert api.wait_auth(response.json())["status"]["code"] == 415
    from cryptography.hazmat.primitives import hashes
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex().upper()
    api.emu.admin("/permissions", {"contextValue": other_context, "subjectType": "Fingerprint",
                                   "subjectValue": fingerprint, "permissions": ["InvoiceRead"]})
    response = _xades(api, sign(auth_request(api.challenge()["challenge"], other_context, "certificateFingerprint"),
                                certificate, key))
    status = api.wait_auth(response.json())
    assert status["status"]["code"] == 200
    tokens = api.post("/auth/token/redeem", response.json()["authenticationToken"]["token"]).json()
    opened = api.post("/sessions/online", tokens["accessToken"]["token"], json={})
    assert opened.status_code == 403  # InvoiceRead only


def test_xades_certificate_problems_give_460(api):
    expired_cert, expired_key = make_certificate(nip=SELLER_NIP, days=(-30, -1))
    response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), expired_cert, expired_key))
    status = api.wait_auth(response.json())
    assert status["status"]["code"] == 460 and status["status"]["details"] == ["Nieważny certyfikat"]
    certificate, key = make_certificate(nip=SELLER_NIP)
    response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key),
                      "?verifyCertificateChain=true")
    status = api.wait_auth(response.json())
    assert status["status"]["code"] == 460 and status["status"]["details"] == ["Niezaufany łańcuch certyfikatów"]


def test_auth_sessions_list_and_revoke(api):
    nip = random_nip()
    first = api.login(nip=nip)
    second = api.login(nip=nip)
    access = second["accessToken"]["token"]
    listed = api.get("/auth/sessions?pageSize=10", access).json()["items"]
    assert len(listed) == 2
    assert [item["isCurrent"] for item in listed] == [True, False]
    other_reference = listed[1]["referenceNumber"]
    assert api.http.delete(api.url("/auth/sessions/%s" % other_reference),
                           headers={"Authorization": "Bearer " + access}, timeout=10).status_code == 204
    refused = api.post("/auth/token/refresh", first["refreshToken"]["token"])
    assert refused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    # revoking the current session with its refresh token: the access token still lives until exp
    assert api.http.delete(api.url("/auth/sessions/current"),
                           headers={"Authorization": "Bearer " + second["refreshToken"]["token"]}, timeout=10).status_code == 204
    assert api.post("/auth/token/refresh", second["refreshToken"]["token"]).status_code == 400
    assert api.get("/limits/context", access).status_code == 200
    assert api.get("/auth/sessions", access).json()["items"] == []


def test_authorization_policy_restricts_client_ip(api):
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    challenge = api.challenge()
    key, _ = api.public_key("KsefTokenEncryption")
    init = api.post("/auth/ksef-token", json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": SELLER_NIP},
        "encryptedToken": b64(key.encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), OAEP)),
        "authorizationPolicy": {"allowedIps": {"ip4Addresses": ["10.1.2.3"]}}}).json()
    api.wait_auth(init)
    access = api.post("/auth/token/redeem", init["authenticationToken"]["token"]).json()["accessToken"]["token"]
    refused = api.get("/limits/context", access)
    assert refused.status_code == 403
    assert refused.json()["reasonCode"] == "ip-not-allowed" and refused.json()["security"]["clientIp"] == "127.0.0.1"


def test_xades_chain_rules_from_config(api):
    from cryptography.hazmat.primitives import serialization
    from emu_xades_signer import make_ca_issued_certificate
    ca, leaf, key = make_ca_issued_certificate(SELLER_NIP)

    def attempt():
        response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), leaf, key))
        return api.wait_auth(response.json())["status"]

    assert attempt()["details"] == ["Niezaufany łańcuch certyfikatów"]
    api.emu.admin("/config", {"xadesTrustedCaPem": [ca.public_bytes(serialization.Encoding.PEM).decode()],
                              "xadesAllowSelfSigned": False})
    try:
        assert attempt()["code"] == 200
        self_signed, self_key = make_certificate(nip=SELLER_NIP)
        response = _xades(api, sign(auth_request(api.challenge()["challenge"], SELLER_NIP), self_signed, self_key))
        assert api.wait_auth(response.json())["status"]["code"] == 460
    finally:
        api.emu.admin("/config", {"xadesTrustedCaPem": [], "xadesAllowSelfSigned": True})


def test_auth_status_is_gone_after_7_days(api):
    api.emu.admin("/config", {"authenticationTokenTtlSeconds": 10 * 24 * 3600})
    token = api.emu.create_token(SELLER_NIP, ["InvoiceWrite"])["token"]
    init = api.start_token_auth(SELLER_NIP, token)
    bearer = init["authenticationToken"]["token"]
    assert api.get("/auth/%s" % init["referenceNumber"], bearer).status_code == 200
    api.emu.admin("/clock", {"advanceSeconds": 8 * 24 * 3600})
    gone = api.get("/auth/%s" % init["referenceNumber"], bearer)
    assert gone.status_code == 410 and gone.json()["status"] == 410


def test_xades_2_1_namespace_with_authorization_policy(api):
    from lxml import etree
    namespace = "http://ksef.mf.gov.pl/auth/token/2.1"
    root = auth_request(api.challenge()["challenge"], SELLER_NIP, namespace=namespace)
    policy = etree.SubElement(root, "{%s}AuthorizationPolicy" % namespace)
    allowed = etree.SubElement(policy, "{%s}AllowedIps" % namespace)
    etree.SubElement(allowed, "{%s}Ip4Mask" % namespace).text = "127.0.0.0/8"
    certificate, key = make_certificate(nip=SELLER_NIP, key_type="ec")
    response = _xades(api, sign(root, certificate, key))
    assert response.status_code == 202, response.text
    assert api.wait_auth(response.json())["status"]["code"] == 200
    access = api.post("/auth/token/redeem", response.json()["authenticationToken"]["token"]).json()["accessToken"]["token"]
    assert api.get("/limits/context", access).status_code == 200  # 127.0.0.1 is inside the mask
    bad = auth_request(api.challenge()["challenge"], SELLER_NIP, namespace=namespace)
    etree.SubElement(bad, "{%s}Unexpected" % namespace).text = "x"
    refused = _xades(api, sign(bad, certificate, key))
    assert refused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21401


def test_xades_enveloping_signature_is_accepted_and_checked(api):
    certificate, key = make_certificate(nip=SELLER_NIP)
    xml = sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key, enveloping=True)
    assert xml.split(b"?>", 1)[1].lstrip().startswith(b"<ds:Signature")
    response = _xades(api, xml)
    assert response.status_code == 202, response.text
    assert api.wait_auth(response.json())["status"]["code"] == 200
    tampered = sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key, enveloping=True)
    tampered = tampered.replace(b"certificateSubject", b"certificateFingerprint")
    assert _xades(api, tampered).json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 9105


def test_xades_detached_reference_is_rejected(api):
    certificate, key = make_certificate(nip=SELLER_NIP)
    xml = sign(auth_request(api.challenge()["challenge"], SELLER_NIP), certificate, key)
    detached = xml.replace(b'URI=""', b'URI="https://example.com/request.xml"', 1)
    detail = _xades(api, detached).json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 9101 and "detached" in detail["details"][0]
