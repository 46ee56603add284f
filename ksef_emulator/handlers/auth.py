"""Authentication: challenge, KSeF token, XAdES signature, status, redeem, refresh.

An authentication operation's final status is decided when it is submitted and
becomes visible after ``authProcessingDelaySeconds`` (status 100 until then).
"""
import base64
import hashlib
import json
import os
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, ObjectIdentifier
from lxml import etree

from .. import xmlsig
from ..clock import iso, parse_iso
from ..errors import ApiError, gone
from ..ids import reference_number
from ..ksef_tokens import find_token
from ..permissions import grant, permissions_for
from ..web import empty_response, json_response
from .session_status import decode_continuation, encode_continuation

AUTH_NS = ("http://ksef.mf.gov.pl/auth/token/2.0", "http://ksef.mf.gov.pl/auth/token/2.1")
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "ksef_protocol", "schemas", "auth")
RETENTION_SECONDS = 7 * 24 * 3600
ORGANIZATION_IDENTIFIER = ObjectIdentifier("2.5.4.97")
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False)

STATUS = {
    100: "Uwierzytelnianie w toku",
    200: "Uwierzytelnianie zakończone sukcesem",
    415: "Uwierzytelnianie zakończone niepowodzeniem",
    425: "Uwierzytelnienie unieważnione",
    450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
    460: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
}
METHOD_NAMES = {
    "Token": ("Token", "Token", "Token KSeF"),
    "QualifiedSignature": ("XadesSignature", "QualifiedSignature", "Podpis kwalifikowany"),
    "QualifiedSeal": ("XadesSignature", "QualifiedSeal", "Pieczęć kwalifikowana"),
    "InternalCertificate": ("XadesSignature", "InternalCertificate", "Certyfikat KSeF"),
    "PersonalSignature": ("XadesSignature", "PersonalSignature", "Podpis osobisty"),
}
_schemas = {}


# -- challenge -----------------------------------------------------------------------------------
def challenge(request):
    app = request.app
    now = app.clock.now()
    value = "%s-CR-%s-%s-%s" % (now.strftime("%Y%m%d"), os.urandom(5).hex().upper(), os.urandom(5).hex().upper(),
                                os.urandom(1).hex().upper())
    timestamp_ms = int(app.clock.time() * 1000)
    app.store.execute("INSERT INTO challenges(challenge, timestamp_ms, client_ip) VALUES (?,?,?)",
                      (value, timestamp_ms, request.client_ip))
    return json_response(200, {"challenge": value, "timestamp": iso(timestamp_ms / 1000.0),
                               "timestampMs": timestamp_ms, "clientIp": request.client_ip})


def _take_challenge(app, value):
    """The challenge row (consumed: one authentication per challenge), or ApiError 21111."""
    row = app.store.one("SELECT * FROM challenges WHERE challenge=?", (value,))
    if row is None:
        raise ApiError(21111, details=["Wyzwanie %s nie zostało wydane lub zostało już wykorzystane." % value])
    app.store.execute("DELETE FROM challenges WHERE challenge=?", (value,))
    if app.clock.time() * 1000 - row["timestamp_ms"] > app.config["challengeTtlSeconds"] * 1000:
        raise ApiError(21111, details=["Wyzwanie %s wygasło (ważne 10 minut)." % value])
    return row


# -- operations ------------------------------------------------------------------------------------
def _create_operation(request, *, context_type, context_value, method, subject_type, subject_value, permissions,
                      status_code, status_details=None, ksef_token_reference=None, auth_document_sha256=None,
                      allowed_ips=None, certificate_der=None):
    app = request.app
    now = app.clock.now()
    reference = reference_number("AU", now)
    category = METHOD_NAMES[method][0]
    app.store.execute(
        "INSERT INTO auth_operations(reference_number, context_type, context_value, method, category, subject_type,"
        " subject_value, permissions, ksef_token_reference, auth_document_sha256, allowed_ips, status_code,"
        " status_description, status_details, start_date, ready_at, certificate_der)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (reference, context_type, context_value, method, category, subject_type, subject_value, json.dumps(permissions),
         ksef_token_reference, auth_document_sha256, json.dumps(allowed_ips) if allowed_ips else None, status_code,
         STATUS[status_code], json.dumps(status_details or []), iso(now),
         app.clock.time() + float(app.config["authProcessingDelaySeconds"]), certificate_der))
    token, exp = app.tokens.issue("authentication", app.config["authenticationTokenTtlSeconds"], ref=reference,
                                  ctx={"type": context_type, "value": context_value})
    request.log_note = "auth=%s status=%s" % (method, status_code)
    return json_response(202, {"referenceNumber": reference,
                               "authenticationToken": {"token": token, "validUntil": iso(exp)}})


def _operation(request):
    """The operation named by the path (must match the bearer authentication token)."""
    reference = request.path_params.get("referenceNumber") or request.auth.reference_number
    row = request.app.store.one("SELECT * FROM auth_operations WHERE reference_number=?", (reference,))
    if row is None or reference != request.auth.reference_number:
        raise ApiError(21304, details=["Operacja uwierzytelniania o numerze referencyjnym %s nie została znaleziona."
                                       % reference])
    return row


def _visible_status(app, row):
    if row["revoked"]:
        return 425, STATUS[425], ["Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika"]
    if app.clock.time() < row["ready_at"]:
        return 100, STATUS[100], []
    return row["status_code"], row["status_description"], json.loads(row["status_details"] or "[]")


# -- KSeF token ------------------------------------------------------------------------------------
def ksef_token(request):
    app = request.app
    body = request.json()
    context = body["contextIdentifier"]
    challenge_row = _take_challenge(app, body["challenge"])
    public_key_id = body.get("publicKeyId")
    app.keys.pair_for("KsefTokenEncryption", public_key_id)  # 21470 for unknown/retired ids
    common = dict(context_type=context["type"], context_value=context["value"], method="Token",
                  subject_type="Token", allowed_ips=body.get("authorizationPolicy"))
    # 450 details as the spec's status table lists them (always Polish since 2.6.1).
    try:
        plaintext = app.keys.decrypt("KsefTokenEncryption", base64.b64decode(body["encryptedToken"]), public_key_id)
    except ValueError:
        return _create_operation(request, subject_value=None, permissions=[], status_code=450,
                                 status_details=["Nieprawidłowe szyfrowanie tokena"], **common)
    try:
        token, separator, stamp = plaintext.decode("utf-8").rpartition("|")
    except UnicodeDecodeError:
        separator = ""
    if not separator:
        return _create_operation(request, subject_value=None, permissions=[], status_code=450,
                                 status_details=["Nieprawidłowe kodowanie tokena"], **common)
    app.services.get("activate_due_tokens", lambda: None)()  # Pending -> Active on time (handlers/tokens.py)
    row = find_token(app.store, token) if token else None
    if row is None:
        return _create_operation(request, subject_value=None, permissions=[], status_code=450,
                                 status_details=["Nieprawidłowy token"], **common)
    common["ksef_token_reference"] = row["reference_number"]
    if stamp != str(challenge_row["timestamp_ms"]):
        return _create_operation(request, subject_value=row["reference_number"], permissions=[], status_code=450,
                                 status_details=["Nieprawidłowy czas tokena"], **common)
    if row["status"] in ("Revoked", "Revoking"):
        return _create_operation(request, subject_value=row["reference_number"], permissions=[], status_code=450,
                                 status_details=["Token unieważniony"], **common)
    if row["status"] != "Active":
        return _create_operation(request, subject_value=row["reference_number"], permissions=[], status_code=450,
                                 status_details=["Token nieaktywny"], **common)
    if (row["context_type"], row["context_value"]) != (context["type"], context["value"]):
        return _create_operation(request, subject_value=row["reference_number"], permissions=[], status_code=450,
                                 status_details=["Token nie może być użyty w kontekście %s" % context["value"]],
                                 **common)
    app.store.execute("UPDATE ksef_tokens SET last_use_date=? WHERE reference_number=?",
                      (app.now_iso(), row["reference_number"]))
    return _create_operation(request, subject_value=row["reference_number"], permissions=json.loads(row["permissions"]),
                             status_code=200, **common)


# -- XAdES ----------------------------------------------------------------------------------------
def _auth_schema():
    """The official AuthTokenRequest 2.1 schema, with the ``^``/``$`` anchors removed from its
    patterns (XSD regexes are implicitly anchored; libxml2 reads them as literal characters).
    2.0 documents are validated with it too (same structure; the 2.0 IP patterns use ``\\b``,
    which libxml2 cannot compile)."""
    if "2.1" not in _schemas:
        with open(os.path.join(SCHEMA_DIR, "schemat_auth_v2-1.xsd"), "rb") as handle:
            text = handle.read()
        text = re.sub(rb'(<xsd:pattern value=")\^', rb"\1", text)
        text = re.sub(rb'\$("/>)', rb"\1", text)
        _schemas["2.1"] = etree.XMLSchema(etree.fromstring(text))
    return _schemas["2.1"]


def certificate_subject(certificate):
    """``(subject_type, value, method)`` from a certificate: NIP/PESEL and the auth method name."""
    def attribute(oid):
        values = certificate.subject.get_attributes_for_oid(oid)
        return values[0].value if values else ""
    organization_identifier = attribute(ORGANIZATION_IDENTIFIER)
    serial = attribute(NameOID.SERIAL_NUMBER)
    found = re.search(r"VATPL.*?(\d{10})", organization_identifier)
    if found:
        return "Nip", found.group(1), "QualifiedSeal"
    found = re.search(r"(?:TINPL|NIP).*?(\d{10})", serial)
    if found:
        return "Nip", found.group(1), "QualifiedSignature"
    found = re.search(r"(?:PNOPL|PESEL).*?(\d{11})", serial)
    if found:
        return "Pesel", found.group(1), "QualifiedSignature"
    return None, None, "QualifiedSignature"


def certificate_fingerprint(certificate):
    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def _certificate_problem(app, certificate, verify_chain):
    """Detail for status 460, or None when the certificate is acceptable."""
    now = app.clock.now()
    not_before = getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before.replace(tzinfo=now.tzinfo)
    not_after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(tzinfo=now.tzinfo)
    if not (not_before <= now <= not_after):
        return "Nieważny certyfikat"
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        return "Niepoprawny certyfikat"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        return "Niepoprawny certyfikat"
    ksef_status = app.services.get("ksef_certificate_status")  # provided by the certificates area
    if ksef_status is not None:
        status = ksef_status(certificate)
        if status == "Revoked":
            return "Certyfikat odwołany"
        if status == "Blocked":
            return "Certyfikat zawieszony"
        if status == "Active":
            return None
    self_signed = certificate.issuer == certificate.subject
    if self_signed:
        if verify_chain or not app.config["xadesAllowSelfSigned"]:
            return "Niezaufany łańcuch certyfikatów"
        return None
    for pem in app.config["xadesTrustedCaPem"]:
        try:
            ca = x509.load_pem_x509_certificate(pem.encode("ascii"), default_backend())
        except ValueError:
            continue
        if ca.subject == certificate.issuer:
            try:
                _verify_issued_by(certificate, ca)
            except (InvalidSignature, ValueError, TypeError):
                return "Błąd weryfikacji łańcucha certyfikatów"
            return None
    return "Niezaufany łańcuch certyfikatów"


def _verify_issued_by(certificate, ca):
    key = ca.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(),
                   certificate.signature_hash_algorithm)
    else:
        key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(certificate.signature_hash_algorithm))


def xades_signature(request):
    app = request.app
    body = request.body
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        root = etree.fromstring(body, XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ApiError(21001, details=["XML nie jest poprawny: %s" % exc])
    signature_root = root
    if etree.QName(root).namespace == xmlsig.DS and etree.QName(root).localname == "Signature":
        # enveloping form: the request travels inside ds:Object
        inner = [element for element in root.iterfind("{%s}Object/*" % xmlsig.DS)
                 if etree.QName(element).localname == "AuthTokenRequest"]
        if not inner:
            raise ApiError(21401, details=["Podpis otaczający nie zawiera elementu AuthTokenRequest w ds:Object."])
        root = inner[0]
    namespace = etree.QName(root).namespace
    if namespace not in AUTH_NS or etree.QName(root).localname != "AuthTokenRequest":
        raise ApiError(21401, details=["Oczekiwano elementu AuthTokenRequest w przestrzeni nazw %s." % " lub ".join(AUTH_NS)])
    try:
        verified = xmlsig.verify(signature_root, root)
    except xmlsig.SignatureError as exc:
        raise ApiError(exc.code, details=[exc.detail])
    unsigned = etree.fromstring(etree.tostring(root))
    for signature in unsigned.xpath("//ds:Signature", namespaces=xmlsig.NS):
        signature.getparent().remove(signature)
    if namespace == AUTH_NS[0]:  # validate 2.0 with the (structurally identical) 2.1 schema
        for element in unsigned.iter("{%s}*" % namespace):
            element.tag = "{%s}%s" % (AUTH_NS[1], etree.QName(element).localname)
        etree.cleanup_namespaces(unsigned)
    schema = _auth_schema()
    if not schema.validate(unsigned):
        raise ApiError(21401, details=[str(error.message) for error in schema.error_log][:10])
    ns = {"a": namespace}
    challenge_value = root.findtext("a:Challenge", namespaces=ns)
    _take_challenge(app, challenge_value)
    context_element = root.find("a:ContextIdentifier", ns)[0]
    context_type = {"Nip": "Nip", "InternalId": "InternalId", "NipVatUe": "NipVatUe", "PeppolId": "PeppolId"}[
        etree.QName(context_element).localname]
    context_value = context_element.text.strip()
    subject_identifier_type = root.findtext("a:SubjectIdentifierType", namespaces=ns)
    policy = _policy(root.find("a:AuthorizationPolicy", ns), ns)
    certificate = verified.certificate
    subject_type, subject_value, method = certificate_subject(certificate)
    if app.services.get("ksef_certificate_status") and app.services["ksef_certificate_status"](certificate):
        method = "InternalCertificate"
    if subject_identifier_type == "certificateFingerprint":
        subject_type, subject_value = "Fingerprint", certificate_fingerprint(certificate)
    document_hash = base64.b64encode(hashlib.sha256(request.body).digest()).decode("ascii")
    common = dict(context_type=context_type, context_value=context_value, method=method, subject_type=subject_type,
                  subject_value=subject_value, auth_document_sha256=document_hash, allowed_ips=policy,
                  certificate_der=certificate.public_bytes(Encoding.DER))
    if subject_type is None:
        raise ApiError(21117, details=["Certyfikat nie zawiera identyfikatora NIP/PESEL (serialNumber TINPL-/PNOPL- lub"
                                       " organizationIdentifier VATPL-); użyj certificateFingerprint."])
    verify_chain = (request.query_value("verifyCertificateChain") or "").lower() == "true"
    problem = _certificate_problem(app, certificate, verify_chain)
    if problem:
        return _create_operation(request, permissions=[], status_code=460, status_details=[problem], **common)
    permissions = permissions_for(app.store, context_type, context_value, subject_type, subject_value)
    if not permissions:
        return _create_operation(request, permissions=[], status_code=415, status_details=["Brak przypisanych uprawnień"],
                                 **common)
    return _create_operation(request, permissions=permissions, status_code=200, **common)


def _policy(element, ns):
    if element is None:
        return None
    allowed = element.find("a:AllowedIps", ns)
    if allowed is None:
        return None
    return {"allowedIps": {
        "ip4Addresses": [e.text for e in allowed.findall("a:Ip4Address", ns)],
        "ip4Ranges": [e.text for e in allowed.findall("a:Ip4Range", ns)],
        "ip4Masks": [e.text for e in allowed.findall("a:Ip4Mask", ns)],
    }}


# -- status, redeem, refresh ------------------------------------------------------------------------
def operation_status(request):
    app = request.app
    row = _operation(request)
    if app.clock.time() - _timestamp(row["start_date"]) > RETENTION_SECONDS:
        raise gone()
    code, description, details = _visible_status(app, row)
    category, method_code, display = METHOD_NAMES[row["method"]]
    body = {
        "startDate": row["start_date"],
        "authenticationMethod": row["method"],
        "authenticationMethodInfo": {"category": category, "code": method_code, "displayName": display},
        "status": {"code": code, "description": description},
        "isTokenRedeemed": bool(row["redeemed"]),
        "lastTokenRefreshDate": row["last_refresh_date"],
        "refreshTokenValidUntil": row["refresh_valid_until"],
    }
    if details:
        body["status"]["details"] = details
    return json_response(200, {k: v for k, v in body.items() if v is not None})


def _timestamp(text):
    return parse_iso(text).timestamp()


def _current_permissions(app, row):
    """Permissions now (a refreshed access token carries the current ones)."""
    if row["category"] == "Token":
        token = app.store.one("SELECT * FROM ksef_tokens WHERE reference_number=?", (row["ksef_token_reference"],))
        if token is None or token["status"] in ("Revoked", "Revoking"):
            raise ApiError(21301, details=["Token KSeF został unieważniony."])
        return json.loads(token["permissions"])
    permissions = permissions_for(app.store, row["context_type"], row["context_value"], row["subject_type"],
                                  row["subject_value"])
    if not permissions:  # every grant in the context was revoked since the login
        raise ApiError(21301, details=["Brak przypisanych uprawnień w kontekście %s." % row["context_value"]])
    return permissions


def _access_token(app, row, permissions):
    return app.tokens.issue(
        "access", app.config["accessTokenTtlSeconds"], ref=row["reference_number"],
        ctx={"type": row["context_type"], "value": row["context_value"]},
        sub={"type": row["subject_type"], "value": row["subject_value"]}, perms=permissions, cat=row["category"],
        mth=row["method"], ktr=row["ksef_token_reference"], ips=json.loads(row["allowed_ips"]) if row["allowed_ips"] else None)


def redeem(request):
    app = request.app
    row = _operation(request)
    code, _, _ = _visible_status(app, row)
    if row["redeemed"]:
        raise ApiError(21301, details=["Tokeny dla operacji uwierzytelniania %s zostały już pobrane." % row["reference_number"]])
    if code != 200:
        raise ApiError(21301, details=["Status uwierzytelniania (%s) nie pozwala na pobranie tokenów." % code])
    permissions = _current_permissions(app, row)
    access, access_exp = _access_token(app, row, permissions)
    refresh, refresh_exp = app.tokens.issue(
        "refresh", app.config["refreshTokenTtlSeconds"], ref=row["reference_number"],
        ctx={"type": row["context_type"], "value": row["context_value"]})
    cursor = app.store.execute("UPDATE auth_operations SET redeemed=1, refresh_valid_until=? WHERE reference_number=? AND redeemed=0",
                               (iso(refresh_exp), row["reference_number"]))
    if not cursor.rowcount:  # lost a race with a parallel redeem
        raise ApiError(21301, details=["Tokeny dla operacji uwierzytelniania %s zostały już pobrane." % row["reference_number"]])
    return json_response(200, {"accessToken": {"token": access, "validUntil": iso(access_exp)},
                               "refreshToken": {"token": refresh, "validUntil": iso(refresh_exp)}})


def refresh(request):
    app = request.app
    row = _operation(request)
    if row["revoked"]:
        raise ApiError(21301, details=["Status uwierzytelniania (425) nie pozwala na odświeżenie tokenu dostępowego."])
    permissions = _current_permissions(app, row)
    access, access_exp = _access_token(app, row, permissions)
    app.store.execute("UPDATE auth_operations SET last_refresh_date=? WHERE reference_number=?",
                      (app.now_iso(), row["reference_number"]))
    return json_response(200, {"accessToken": {"token": access, "validUntil": iso(access_exp)}})


# -- auth sessions (auth/sesje.md) ----------------------------------------------------------------------
def list_auth_sessions(request):
    app = request.app
    page_size = int(request.query_value("pageSize", "10"))
    offset = decode_continuation(request)
    rows = app.store.query(
        "SELECT * FROM auth_operations WHERE context_type=? AND context_value=? AND redeemed=1 AND revoked=0"
        " ORDER BY start_date DESC LIMIT ? OFFSET ?",
        (request.auth.context_type, request.auth.context_value, page_size + 1, offset))
    items = []
    for row in rows[:page_size]:
        code, description, _ = _visible_status(app, row)
        category, method_code, display = METHOD_NAMES[row["method"]]
        item = {"referenceNumber": row["reference_number"], "isCurrent": row["reference_number"] == request.auth.reference_number,
                "startDate": row["start_date"], "authenticationMethod": row["method"],
                "authenticationMethodInfo": {"category": category, "code": method_code, "displayName": display},
                "status": {"code": code, "description": description}, "isTokenRedeemed": True,
                "refreshTokenValidUntil": row["refresh_valid_until"]}
        if row["last_refresh_date"]:
            item["lastTokenRefreshDate"] = row["last_refresh_date"]
        items.append(item)
    body = {"items": items}
    if len(rows) > page_size:
        body["continuationToken"] = encode_continuation(offset + page_size)
    return json_response(200, body)


def _revoke(app, reference, auth):
    cursor = app.store.execute("UPDATE auth_operations SET revoked=1 WHERE reference_number=? AND context_type=?"
                               " AND context_value=?", (reference, auth.context_type, auth.context_value))
    if not cursor.rowcount:
        raise ApiError(21304, details=["Operacja uwierzytelniania o numerze referencyjnym %s nie została znaleziona."
                                       % reference])
    return empty_response(204)


def revoke_current(request):
    """Kills the refresh token of the caller's authentication; issued access tokens live until ``exp``."""
    return _revoke(request.app, request.auth.reference_number, request.auth)


def revoke_session(request):
    return _revoke(request.app, request.path_params["referenceNumber"], request.auth)


# -- admin: permission grants ---------------------------------------------------------------------------
def admin_grant(request):
    body = request.json() or {}
    try:
        grant(request.app.store, body.get("contextType", "Nip"), body["contextValue"], body["subjectType"],
              body["subjectValue"], body["permissions"])
    except (KeyError, TypeError) as exc:
        return json_response(400, {"error": "send contextValue, subjectType (Nip|Pesel|Fingerprint), subjectValue,"
                                            " permissions[]; missing %s" % exc})
    return json_response(201, body)


def register(app):
    add = app.router.add
    add("POST", "/v2/auth/challenge", challenge)
    add("POST", "/v2/auth/ksef-token", ksef_token)
    add("POST", "/v2/auth/xades-signature", xades_signature, validate_body=False)
    add("GET", "/v2/auth/{referenceNumber}", operation_status, token="authentication", permissions=[])
    add("POST", "/v2/auth/token/redeem", redeem, token="authentication", permissions=[])
    add("POST", "/v2/auth/token/refresh", refresh, token="refresh", permissions=[])
    add("GET", "/v2/auth/sessions", list_auth_sessions, permissions=[])
    add("DELETE", "/v2/auth/sessions/current", revoke_current, token="access_or_refresh", permissions=[])
    add("DELETE", "/v2/auth/sessions/{referenceNumber}", revoke_session, permissions=[])
    add("POST", "/admin/permissions", admin_grant, spec=False)
