"""KSeF certificates: limits, enrollment data, CSR enrollment and status, retrieve, revoke, query.

Certificates belong to the authenticated subject (NIP / PESEL / fingerprint), not to a context.
They are issued by the emulator's CA (:mod:`ksef_emulator.certificate_authority`) and published
to the auth area as ``app.services["ksef_certificate_status"]``, so an issued Authentication
certificate logs in with XAdES (method ``InternalCertificate``) and a revoked one gets 460.
"""
import base64
import datetime
import json

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.x509.oid import NameOID, ObjectIdentifier

from ..certificate_authority import CertificateAuthority, CsrError, load_csr
from ..clock import iso, parse_iso
from ..errors import ApiError, gone
from ..ids import reference_number
from ..web import empty_response, json_response

ENROLLMENT_RETENTION_SECONDS = 30 * 24 * 3600
LIMITS = {"Nip": (300, 100)}          # (enrollments, active certificates); PESEL / fingerprint: 12 / 6
DEFAULT_LIMITS = (12, 6)
DN_FIELDS = (("commonName", NameOID.COMMON_NAME), ("countryName", NameOID.COUNTRY_NAME),
             ("givenName", NameOID.GIVEN_NAME), ("surname", NameOID.SURNAME),
             ("serialNumber", NameOID.SERIAL_NUMBER), ("uniqueIdentifier", ObjectIdentifier("2.5.4.45")),
             ("organizationName", NameOID.ORGANIZATION_NAME), ("organizationIdentifier", ObjectIdentifier("2.5.4.97")))
SCHEMA = """
CREATE TABLE IF NOT EXISTS ksef_certificates (
    serial_number TEXT PRIMARY KEY, name TEXT NOT NULL, certificate_type TEXT NOT NULL,
    status TEXT NOT NULL,                      -- Active | Revoked | Blocked
    subject_type TEXT NOT NULL, subject_value TEXT NOT NULL, common_name TEXT NOT NULL,
    der BLOB NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, request_date TEXT NOT NULL,
    revocation_reason TEXT, last_use_date TEXT);
CREATE TABLE IF NOT EXISTS certificate_enrollments (
    reference_number TEXT PRIMARY KEY, subject_type TEXT NOT NULL, subject_value TEXT NOT NULL,
    request_ts REAL NOT NULL, ready_ts REAL NOT NULL, serial_number TEXT);
"""


def _authority(app):
    authority = app.services.get("ksef_certificate_authority")
    if authority is None:
        authority = app.services["ksef_certificate_authority"] = CertificateAuthority(app.store)
    return authority


def _require_xades(request, code, what):
    if request.auth.auth_category != "XadesSignature":
        raise ApiError(code, description="Operacja niedostępna dla uwierzytelnienia tokenem KSeF.",
                       details=["%s wymaga uwierzytelnienia podpisem XAdES (nie tokenem KSeF)." % what])


def _subject(request):
    return request.auth.subject_type, request.auth.subject_value


def _limits(app, subject):
    """(enrollments, active certificates) allowed: the defaults or a /testdata/limits/subject override."""
    effective = app.services["subject_limits"](subject) if "subject_limits" in app.services else None
    if effective is None:
        return LIMITS.get(subject[0], DEFAULT_LIMITS)
    return effective["enrollment"]["maxEnrollments"], effective["certificate"]["maxCertificates"]


def _counts(app, subject):
    enrollments = app.store.one("SELECT COUNT(*) FROM certificate_enrollments WHERE subject_type=? AND subject_value=?",
                                subject)[0]
    active = app.store.one("SELECT COUNT(*) FROM ksef_certificates WHERE subject_type=? AND subject_value=?"
                           " AND status='Active' AND valid_to>?", subject + (app.now_iso(),))[0]
    return enrollments, active


def limits(request):
    app = request.app
    subject = _subject(request)
    enrollment_limit, certificate_limit = _limits(app, subject)
    enrollments, active = _counts(app, subject)
    body = {"enrollment": {"limit": enrollment_limit, "remaining": max(0, enrollment_limit - enrollments)},
            "certificate": {"limit": certificate_limit, "remaining": max(0, certificate_limit - active)}}
    body["canRequest"] = body["enrollment"]["remaining"] > 0 and body["certificate"]["remaining"] > 0
    return json_response(200, body)


def _enrollment_data(request):
    """DN attributes of the certificate the caller authenticated with (XAdES only)."""
    _require_xades(request, 25001, "Pobranie danych do wniosku certyfikacyjnego")
    row = request.app.store.one("SELECT certificate_der FROM auth_operations WHERE reference_number=?",
                                (request.auth.reference_number,))
    certificate = x509.load_der_x509_certificate(bytes(row["certificate_der"]), default_backend())
    data = {}
    for field, oid in DN_FIELDS:
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            data[field] = values[0].value
    data.setdefault("commonName", data.get("organizationName") or data.get("serialNumber") or "KSeF")
    data.setdefault("countryName", "PL")
    return data


def enrollment_data(request):
    return json_response(200, _enrollment_data(request))


def enroll(request):
    app = request.app
    body = request.json()
    expected = _enrollment_data(request)
    subject = _subject(request)
    try:
        csr = load_csr(base64.b64decode(body["csr"]))
    except (CsrError, ValueError) as error:
        code, detail = (error.code, error.detail) if isinstance(error, CsrError) else (25004, "csr nie jest Base64.")
        raise ApiError(code, description="Nieprawidłowy wniosek certyfikacyjny.", details=[detail])
    actual = {field: values[0].value for field, oid in DN_FIELDS
              for values in [csr.subject.get_attributes_for_oid(oid)] if values}
    if actual != expected:
        raise ApiError(25003, description="Dane w CSR nie są zgodne z danymi uwierzytelnienia.",
                       details=["Atrybuty DN w CSR muszą być dokładnie takie jak z GET /certificates/enrollments/data: "
                                "oczekiwano %s, otrzymano %s." % (json.dumps(expected, ensure_ascii=False),
                                                                  json.dumps(actual, ensure_ascii=False))])
    enrollment_limit, certificate_limit = _limits(app, subject)
    enrollments, active = _counts(app, subject)
    if enrollments >= enrollment_limit:
        raise ApiError(25006, description="Osiągnięto limit wniosków certyfikacyjnych.",
                       details=["Limit %d wniosków został wykorzystany." % enrollment_limit])
    if active >= certificate_limit:
        raise ApiError(25007, description="Osiągnięto limit aktywnych certyfikatów.",
                       details=["Limit %d aktywnych certyfikatów; unieważnij nieużywane." % certificate_limit])
    authority = _authority(app)
    now = app.clock.now()
    valid_from = parse_iso(body["validFrom"]) if body.get("validFrom") else now
    serial = authority.new_serial()
    der = authority.issue(csr, body["certificateType"], serial, valid_from)
    reference = reference_number("CE", now)
    app.store.execute(
        "INSERT INTO ksef_certificates(serial_number, name, certificate_type, status, subject_type, subject_value,"
        " common_name, der, valid_from, valid_to, request_date) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (serial, body["certificateName"], body["certificateType"], "Active", subject[0], subject[1],
         expected["commonName"], der, iso(valid_from), iso(valid_from + datetime.timedelta(days=2 * 365)), iso(now)))
    app.store.execute("INSERT INTO certificate_enrollments(reference_number, subject_type, subject_value, request_ts,"
                      " ready_ts, serial_number) VALUES (?,?,?,?,?,?)",
                      (reference, subject[0], subject[1], now.timestamp(),
                       now.timestamp() + float(app.config["certificateEnrollmentDelaySeconds"]), serial))
    return json_response(202, {"referenceNumber": reference, "timestamp": iso(now)})


def enrollment_status(request):
    app = request.app
    reference = request.path_params["referenceNumber"]
    row = app.store.one("SELECT * FROM certificate_enrollments WHERE reference_number=? AND subject_type=?"
                        " AND subject_value=?", (reference,) + _subject(request))
    if row is None:
        raise ApiError(25005, description="Wniosek certyfikacyjny nie istnieje.",
                       details=["Brak wniosku %s złożonego przez uwierzytelniony podmiot." % reference])
    now = app.clock.time()
    if now > row["request_ts"] + ENROLLMENT_RETENTION_SECONDS:
        raise gone()
    body = {"requestDate": iso(row["request_ts"])}
    if now < row["ready_ts"]:
        body["status"] = {"code": 100, "description": "Wniosek przyjęty do realizacji"}
    else:
        body["status"] = {"code": 200, "description": "Wniosek obsłużony (certyfikat wygenerowany)"}
        body["certificateSerialNumber"] = row["serial_number"]
    return json_response(200, body)


def _own_certificates(app, subject):
    """Issued certificates of ``subject`` whose enrollment has completed."""
    return app.store.query(
        "SELECT c.* FROM ksef_certificates c JOIN certificate_enrollments e ON e.serial_number=c.serial_number"
        " WHERE c.subject_type=? AND c.subject_value=? AND e.ready_ts<=? ORDER BY c.request_date, c.serial_number",
        subject + (app.clock.time(),))


def retrieve(request):
    app = request.app
    wanted = request.json()["certificateSerialNumbers"]
    rows = {row["serial_number"]: row for row in _own_certificates(app, _subject(request))}
    items = [{"certificate": base64.b64encode(bytes(rows[s]["der"])).decode("ascii"), "certificateName": rows[s]["name"],
              "certificateSerialNumber": s, "certificateType": rows[s]["certificate_type"]} for s in wanted if s in rows]
    return json_response(200, {"certificates": items})


def revoke(request):
    app = request.app
    _require_xades(request, 25008, "Unieważnienie certyfikatu")
    serial = request.path_params["certificateSerialNumber"]
    row = app.store.one("SELECT * FROM ksef_certificates WHERE serial_number=? AND subject_type=? AND subject_value=?",
                        (serial,) + _subject(request))
    if row is None:
        raise ApiError(25009, description="Certyfikat nie istnieje lub nie należy do podmiotu.",
                       details=["Brak certyfikatu %s wydanego uwierzytelnionemu podmiotowi." % serial])
    if row["status"] == "Revoked":
        raise ApiError(25009, description="Certyfikat jest już unieważniony.", details=["Certyfikat %s został już unieważniony." % serial])
    reason = (request.json() or {}).get("revocationReason") or "Unspecified"
    app.store.execute("UPDATE ksef_certificates SET status='Revoked', revocation_reason=? WHERE serial_number=?",
                      (reason, serial))
    return empty_response(204)


def _list_status(app, row):
    if row["status"] == "Active" and row["valid_to"] <= app.now_iso():
        return "Expired"
    return row["status"]


def query(request):
    app = request.app
    filters = request.json() or {}
    size = int(request.query_value("pageSize", "10"))
    offset = int(request.query_value("pageOffset", "0"))
    items = []
    for row in _own_certificates(app, _subject(request)):
        status = _list_status(app, row)
        if filters.get("certificateSerialNumber") and row["serial_number"] != filters["certificateSerialNumber"]:
            continue
        if filters.get("name") and filters["name"].lower() not in row["name"].lower():
            continue
        if filters.get("type") and row["certificate_type"] != filters["type"]:
            continue
        if filters.get("status") and status != filters["status"]:
            continue
        if filters.get("expiresAfter") and parse_iso(row["valid_to"]) <= parse_iso(filters["expiresAfter"]):
            continue
        item = {"certificateSerialNumber": row["serial_number"], "name": row["name"], "type": row["certificate_type"],
                "commonName": row["common_name"], "status": status,
                "subjectIdentifier": {"type": row["subject_type"], "value": row["subject_value"]},
                "validFrom": row["valid_from"], "validTo": row["valid_to"], "requestDate": row["request_date"]}
        if row["last_use_date"]:
            item["lastUseDate"] = row["last_use_date"]
        items.append(item)
    return json_response(200, {"certificates": items[offset:offset + size], "hasMore": offset + size < len(items)})


def certificate_status(app):
    """``fn(certificate) -> None | "Active" | "Revoked" | "Blocked"`` for the XAdES login check.

    Only Authentication certificates log in; an Offline one is treated as unknown (untrusted)."""
    def status(certificate):
        authority = _authority(app)
        if not authority.issued(certificate):
            return None
        row = app.store.one("SELECT status, certificate_type FROM ksef_certificates WHERE serial_number=?",
                            ("%016X" % certificate.serial_number,))
        if row is None or row["certificate_type"] != "Authentication":
            return None
        if row["status"] == "Active":
            app.store.execute("UPDATE ksef_certificates SET last_use_date=? WHERE serial_number=?",
                              (app.now_iso(), "%016X" % certificate.serial_number))
        return row["status"]
    return status


def update_certificate(request):
    """``PUT /testdata/certificates/{serialNumber}`` (TEST only): shorten a certificate's validity, to test
    expiry. ``validTo`` "nie może być późniejsza niż obecna"; an unknown serial number is 25008."""
    app = request.app
    serial = request.path_params["serialNumber"]
    row = app.store.one("SELECT * FROM ksef_certificates WHERE upper(serial_number)=? AND subject_type=?"
                        " AND subject_value=?", (serial,) + _subject(request))
    if row is None:
        raise ApiError(25008, description="Certyfikat o podanym numerze seryjnym nie istnieje.",
                       details=["Brak certyfikatu %s wydanego uwierzytelnionemu podmiotowi." % serial])
    valid_to = parse_iso(request.json()["validTo"])
    if valid_to > parse_iso(row["valid_to"]):
        raise ApiError(21405, details=["validTo: nowa data ważności (%s) nie może być późniejsza niż obecna (%s)."
                                       % (request.json()["validTo"], row["valid_to"])])
    app.store.execute("UPDATE ksef_certificates SET valid_to=? WHERE serial_number=?",
                      (iso(valid_to.timestamp()), row["serial_number"]))
    return empty_response(200)


def register(app):
    app.store.add_schema(SCHEMA)
    app.services["ksef_certificate_status"] = certificate_status(app)
    add = app.router.add
    add("GET", "/v2/certificates/limits", limits)
    add("GET", "/v2/certificates/enrollments/data", enrollment_data)
    add("POST", "/v2/certificates/enrollments", enroll)
    add("GET", "/v2/certificates/enrollments/{referenceNumber}", enrollment_status)
    add("POST", "/v2/certificates/retrieve", retrieve)
    add("POST", "/v2/certificates/{certificateSerialNumber}/revoke", revoke)
    add("POST", "/v2/certificates/query", query)
    add("PUT", "/v2/testdata/certificates/{serialNumber}", update_certificate, permissions=[])
