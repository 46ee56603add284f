"""Online sessions: send, asynchronous verification, duplicates, KSeF numbers, lists, UPO, ageing."""
import base64
import datetime
import hashlib
import os
import re

import requests
from lxml import etree

from conftest import FA3_NS, SELLER_NIP, fa3_invoice, random_nip, sha256_b64

UPO_XSD = os.path.join(os.path.dirname(__file__), "..", "..", "ksef_protocol", "schemas", "upo", "upo-v4-3.xsd")
DS = "http://www.w3.org/2000/09/xmldsig#"


def _crc8(text):
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _number():
    return "FV/%s" % os.urandom(4).hex()


def _code(response):
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def test_accepted_invoice_gets_valid_ksef_number(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    xml = fa3_invoice(_number())
    sent = api.send(access, session, key, iv, xml)
    assert sent.status_code == 202
    status = api.wait_invoice(access, session, sent.json()["referenceNumber"])
    assert status["status"]["code"] == 200, status
    number = status["ksefNumber"]
    assert re.fullmatch(r"%s-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}" % SELLER_NIP, number)
    assert "%02X" % _crc8(number[:32]) == number[33:]
    assert status["invoiceHash"] == sha256_b64(xml)
    assert status["invoicingMode"] == "Online"
    assert status["upoDownloadUrl"].startswith(api.emu.root_url)


def test_declared_size_and_hash_mismatches(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    xml = fa3_invoice(_number())
    assert _code(api.send(access, session, key, iv, xml, invoiceSize=len(xml) + 1)) == 21402
    assert _code(api.send(access, session, key, iv, xml, invoiceHash=sha256_b64(b"other"))) == 21403
    assert _code(api.send(access, session, key, iv, xml, encryptedInvoiceSize=5)) == 21402
    assert _code(api.send(access, session, key, iv, xml, encryptedInvoiceHash=sha256_b64(b"x"))) == 21403


def test_wrong_shape_is_21405_with_details_in_both_formats(api):
    access = api.access_token()
    session, _, _ = api.open_session(access)
    response = api.post("/sessions/online/%s/invoices" % session, access, json={"invoiceHash": "short"})
    assert response.status_code == 400
    detail = response.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionCode"] == 21405
    assert any("invoiceSize" in text for text in detail["details"])
    problem = api.post("/sessions/online/%s/invoices" % session, access, json={"invoiceHash": "short"},
                       headers={"X-Error-Format": "problem-details"})
    assert problem.headers["Content-Type"].startswith("application/problem+json")
    assert problem.json()["errors"][0]["code"] == 21405


def test_schema_and_semantic_errors(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    cases = {
        "xsd": (fa3_invoice(_number()).replace(b"<P_15>", b"<P_99>1</P_99><P_15>"), 430, "P_99"),
        "bom": (b"\xef\xbb\xbf" + fa3_invoice(_number()), 450, "BOM"),
        "pi": (fa3_invoice(_number(), extra_header='<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet href="a.xsl"?>\n'),
               450, "instrukcje"),
        "encoding": (fa3_invoice(_number(), extra_header='<?xml version="1.0" encoding="ISO-8859-2"?>\n').replace(
            "ą".encode("utf-8"), b"a").replace("ł".encode("utf-8"), b"l").replace("ó".encode(), b"o"), 450, "ISO-8859-2"),
        "nip": (fa3_invoice(_number(), buyer_nip="1234567890"), 450, "1234567890"),
        "future": (fa3_invoice(_number(), issue_date=tomorrow), 450, "P_1"),
        "control character": (fa3_invoice(_number()).replace("Usługa".encode(), "Usł\u0086uga".encode()), 450, "U+0086"),
        "wrong form": (fa3_invoice(_number()).replace(FA3_NS.encode(), b"http://crd.gov.pl/wzor/2023/06/29/12648/"), 430,
                       "FA (3)"),
    }
    for name, (xml, code, needle) in cases.items():
        sent = api.send(access, session, key, iv, xml)
        assert sent.status_code == 202, (name, sent.text)
        status = api.wait_invoice(access, session, sent.json()["referenceNumber"])
        assert status["status"]["code"] == code, (name, status)
        assert needle in " ".join(status["status"]["details"]), (name, status)
    failed = api.get("/sessions/%s/invoices/failed" % session, access).json()["invoices"]
    assert len(failed) == len(cases)


def test_duplicate_gets_440_with_original_number(api):
    access = api.access_token()
    number = _number()
    session, key, iv = api.open_session(access)
    first = api.wait_invoice(access, session, api.send(access, session, key, iv, fa3_invoice(number)).json()["referenceNumber"])
    other_session, key2, iv2 = api.open_session(access)
    # same (NIP, RodzajFaktury, P_2), different bytes (another issue date)
    xml = fa3_invoice(number, issue_date=(datetime.date.today() - datetime.timedelta(days=1)).isoformat())
    duplicate = api.wait_invoice(access, other_session, api.send(access, other_session, key2, iv2, xml).json()["referenceNumber"])
    assert duplicate["status"]["code"] == 440
    assert duplicate["status"]["extensions"] == {"originalKsefNumber": first["ksefNumber"],
                                                 "originalSessionReferenceNumber": session}
    # another invoice type with the same number is not a duplicate
    advance = api.wait_invoice(access, other_session, api.send(access, other_session, key2, iv2,
                                                               fa3_invoice(number, rodzaj="ZAL")).json()["referenceNumber"])
    assert advance["status"]["code"] != 440


def test_offline_detection_for_yesterdays_invoice(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    yesterday = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    status = api.wait_invoice(access, session, api.send(access, session, key, iv, fa3_invoice(
        _number(), issue_date=yesterday)).json()["referenceNumber"])
    assert status["invoicingMode"] == "Offline"


def test_declared_offline_mode_registers_todays_invoice_as_offline(api):
    # tryby-offline.md: invoices issued offline are sent with offlineMode=true, whatever their P_1.
    access = api.access_token()
    session, key, iv = api.open_session(access)
    reference = api.send(access, session, key, iv, fa3_invoice(_number()), offlineMode=True).json()["referenceNumber"]
    status = api.wait_invoice(access, session, reference)
    assert status["status"]["code"] == 200, status
    assert status["invoicingMode"] == "Offline"
    upo = etree.fromstring(api.get("/sessions/%s/invoices/%s/upo" % (session, reference), access).content)
    assert upo.findtext(".//{*}TrybWysylki") == "Offline"


def _validate_upo(content):
    document = etree.fromstring(content)
    signature = document.find("{%s}Signature" % DS)
    assert signature is not None
    document.remove(signature)
    # The official TE samples (faktury/upo/przyklady) carry " - środowisko testowe (TE)", which the XSD's
    # fixed="Ministerstwo Finansów" does not allow: check the suffix, then validate the rest.
    name = document.find("{*}NazwaPodmiotuPrzyjmujacego")
    assert name.text in ("Ministerstwo Finansów", "Ministerstwo Finansów - środowisko testowe (TE)")
    name.text = "Ministerstwo Finansów"
    schema = etree.XMLSchema(etree.parse(UPO_XSD))
    assert schema.validate(document), schema.error_log
    return document


def _verify_upo_signature(content):
    """Check the enveloped RSA-SHA256 signature with the certificate it carries."""
    from cryptography import x509
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    document = etree.fromstring(content)
    signature = document.find("{%s}Signature" % DS)
    signed_info = signature.find("{%s}SignedInfo" % DS)
    certificate = x509.load_der_x509_certificate(base64.b64decode(signature.findtext(".//{%s}X509Certificate" % DS)),
                                                 default_backend())
    certificate.public_key().verify(base64.b64decode(signature.findtext("{%s}SignatureValue" % DS)),
                                    etree.tostring(signed_info, method="c14n", exclusive=True),
                                    padding.PKCS1v15(), hashes.SHA256())
    document.remove(signature)
    digest = base64.b64encode(hashlib.sha256(etree.tostring(document, method="c14n", exclusive=True)).digest()).decode()
    assert digest == signed_info.findtext(".//{%s}DigestValue" % DS)


def test_upo_per_invoice_and_per_session(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    references = [api.send(access, session, key, iv, fa3_invoice(_number())).json()["referenceNumber"] for _ in range(3)]
    statuses = [api.wait_invoice(access, session, ref) for ref in references]
    by_reference = api.get("/sessions/%s/invoices/%s/upo" % (session, references[0]), access)
    assert by_reference.status_code == 200
    assert by_reference.headers["Content-Type"] == "application/xml"
    assert by_reference.headers["x-ms-meta-hash"] == sha256_b64(by_reference.content)
    by_number = api.get("/sessions/%s/invoices/ksef/%s/upo" % (session, statuses[0]["ksefNumber"]), access)
    assert by_number.content == by_reference.content
    presigned = requests.get(statuses[0]["upoDownloadUrl"], timeout=10)  # no bearer
    assert presigned.content == by_reference.content
    upo = _validate_upo(by_reference.content)
    assert upo.findtext(".//{*}NumerKSeFDokumentu") == statuses[0]["ksefNumber"]
    _verify_upo_signature(by_reference.content)
    # tampered pre-signed link is refused
    assert requests.get(statuses[0]["upoDownloadUrl"].replace("sig=", "sig=0"), timeout=10).status_code == 403
    assert "upo" not in api.get("/sessions/%s" % session, access).json()
    assert api.post("/sessions/online/%s/close" % session, access).status_code == 204
    final = api.wait_session(access, session)
    assert final["status"]["code"] == 200
    assert (final["invoiceCount"], final["successfulInvoiceCount"], final["failedInvoiceCount"]) == (3, 3, 0)
    page = final["upo"]["pages"][0]
    content = api.get("/sessions/%s/upo/%s" % (session, page["referenceNumber"]), access).content
    document = _validate_upo(content)
    assert len(document.findall("{*}Dokument")) == 3
    assert document.findtext("{*}OpisPotwierdzenia/{*}CalkowitaLiczbaDokumentow") == "3"
    assert requests.get(page["downloadUrl"], timeout=10).content == content
    assert _code(api.get("/sessions/%s/upo/%s" % (session, references[0]), access)) == 21178


def test_session_lists_and_paging(api):
    access = api.access_token(nip=random_nip())
    session, _, _ = api.open_session(access)
    assert api.get("/sessions/%s" % session, access).status_code == 200
    context = api.get("/sessions?sessionType=Online&pageSize=10", access).json()
    assert [item["referenceNumber"] for item in context["sessions"]] == [session]
    access_seller = api.access_token()
    session2, key2, iv2 = api.open_session(access_seller)
    for _ in range(12):
        api.send(access_seller, session2, key2, iv2, fa3_invoice(_number()))
    first = api.get("/sessions/%s/invoices?pageSize=10" % session2, access_seller)
    assert len(first.json()["invoices"]) == 10
    token = first.json()["continuationToken"]
    second = api.get("/sessions/%s/invoices?pageSize=10" % session2, access_seller, headers={"x-continuation-token": token})
    assert [i["ordinalNumber"] for i in second.json()["invoices"]] == [11, 12]
    assert "continuationToken" not in second.json()
    bad = api.get("/sessions/%s/invoices" % session2, access_seller, headers={"x-continuation-token": "%%%"})
    assert _code(bad) == 21418
    # another context cannot see the session
    assert _code(api.get("/sessions/%s" % session2, access)) == 21173


def test_session_ages_out_after_12_hours(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    api.wait_invoice(access, session, api.send(access, session, key, iv, fa3_invoice(_number())).json()["referenceNumber"])
    api.emu.admin("/config", {"accessTokenTtlSeconds": 24 * 3600})
    long_access = api.access_token()
    api.emu.admin("/clock", {"advanceSeconds": 12 * 3600 + 1})
    late = api.send(long_access, session, key, iv, fa3_invoice(_number()))
    assert _code(late) == 21180
    assert api.get("/sessions/%s" % session, long_access).json()["status"]["code"] == 200


def test_processing_delays_show_100_then_150(api):
    api.emu.admin("/config", {"invoiceAcceptDelaySeconds": 0.6, "invoiceProcessingDelaySeconds": 0.6})
    access = api.access_token()
    session, key, iv = api.open_session(access)
    reference = api.send(access, session, key, iv, fa3_invoice(_number())).json()["referenceNumber"]
    assert api.get("/sessions/%s/invoices/%s" % (session, reference), access).json()["status"]["code"] == 100
    api.emu.admin("/clock", {"advanceSeconds": 0.7})
    assert api.get("/sessions/%s/invoices/%s" % (session, reference), access).json()["status"]["code"] == 150
    assert api.wait_invoice(access, session, reference)["status"]["code"] == 200


def test_invoice_limit_per_session(api):
    api.emu.admin("/config", {"maxInvoicesPerSession": 2})
    try:
        access = api.access_token()
        session, key, iv = api.open_session(access)
        for _ in range(2):
            assert api.send(access, session, key, iv, fa3_invoice(_number())).status_code == 202
        assert _code(api.send(access, session, key, iv, fa3_invoice(_number()))) == 21155
    finally:
        api.emu.admin("/config", {"maxInvoicesPerSession": 10000})


def test_closed_or_empty_session(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    assert api.post("/sessions/online/%s/close" % session, access).status_code == 204
    assert api.wait_session(access, session)["status"]["code"] == 440
    assert _code(api.send(access, session, key, iv, fa3_invoice(_number()))) == 21180
    assert _code(api.post("/sessions/online/%s/close" % session, access)) == 21180
    assert _code(api.get("/sessions/20250101-SO-0000000000-0000000000-00", access)) == 21173


def test_undecryptable_session_key_gives_415(api):
    access = api.access_token()
    response = api.post("/sessions/online", access, json={
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "encryption": {"encryptedSymmetricKey": base64.b64encode(b"x" * 256).decode(),
                       "initializationVector": base64.b64encode(b"i" * 16).decode()}})
    assert response.status_code == 201
    assert api.get("/sessions/%s" % response.json()["referenceNumber"], access).json()["status"]["code"] == 415


def test_technical_correction_rules(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    number = _number()
    rejected_xml = fa3_invoice(number).replace(b"<P_15>", b"<P_99>1</P_99><P_15>")
    rejected = api.wait_invoice(access, session, api.send(access, session, key, iv, rejected_xml).json()["referenceNumber"])
    assert rejected["status"]["code"] == 430
    fixed = fa3_invoice(number)
    correction = api.send(access, session, key, iv, fixed, offlineMode=True, hashOfCorrectedInvoice=sha256_b64(rejected_xml))
    assert correction.status_code == 202
    accepted = api.wait_invoice(access, session, correction.json()["referenceNumber"])
    assert accepted["status"]["code"] == 200 and accepted["invoicingMode"] == "Offline"
    again = api.send(access, session, key, iv, fa3_invoice(_number()), offlineMode=True,
                     hashOfCorrectedInvoice=sha256_b64(rejected_xml))
    assert _code(again) == 21166
    of_accepted = api.send(access, session, key, iv, fa3_invoice(_number()), offlineMode=True,
                           hashOfCorrectedInvoice=sha256_b64(fixed))
    assert _code(of_accepted) == 21167


def test_technical_correction_needs_offline_mode_and_is_linked_to_the_rejected_file(api):
    """korekta-techniczna.md: sent with offlineMode=true; a rejected correction leaves the original open to
    another one; the accepted correction's metadata names the rejected file (``hashOfCorrectedInvoice``)."""
    access = api.access_token()
    session, key, iv = api.open_session(access)
    number = _number()
    rejected_xml = fa3_invoice(number).replace(b"<P_15>", b"<P_99>1</P_99><P_15>")
    rejected = api.wait_invoice(access, session, api.send(access, session, key, iv, rejected_xml).json()["referenceNumber"])
    assert rejected["status"]["code"] == 430
    corrected_hash = sha256_b64(rejected_xml)
    fixed = fa3_invoice(number)
    assert _code(api.send(access, session, key, iv, fixed, offlineMode=False, hashOfCorrectedInvoice=corrected_hash)) == 21405
    # A correction that is itself rejected does not use up the correction of the original.
    still_wrong = fa3_invoice(number).replace(b"<P_15>", b"<P_98>1</P_98><P_15>")
    first = api.send(access, session, key, iv, still_wrong, offlineMode=True, hashOfCorrectedInvoice=corrected_hash)
    assert first.status_code == 202
    assert api.wait_invoice(access, session, first.json()["referenceNumber"])["status"]["code"] == 430
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).isoformat()
    second = api.send(access, session, key, iv, fixed, offlineMode=True, hashOfCorrectedInvoice=corrected_hash)
    assert second.status_code == 202
    accepted = api.wait_invoice(access, session, second.json()["referenceNumber"])
    assert accepted["status"]["code"] == 200 and accepted["invoicingMode"] == "Offline"
    found = api.post("/invoices/query/metadata", access, params={"pageSize": 100}, json={
        "subjectType": "Subject1", "dateRange": {"dateType": "Invoicing", "from": since}})
    assert found.status_code == 200, found.text
    [metadata] = [item for item in found.json()["invoices"] if item["ksefNumber"] == accepted["ksefNumber"]]
    assert metadata["invoiceHash"] == sha256_b64(fixed)
    assert metadata["hashOfCorrectedInvoice"] == corrected_hash
    assert metadata["invoicingMode"] == "Offline"


def test_session_upo_is_split_into_pages(api):
    api.emu.admin("/config", {"upoPageSize": 2})
    access = api.access_token()
    session, key, iv = api.open_session(access)
    references = [api.send(access, session, key, iv, fa3_invoice(_number())).json()["referenceNumber"] for _ in range(5)]
    for reference in references:
        api.wait_invoice(access, session, reference)
    api.post("/sessions/online/%s/close" % session, access)
    pages = api.wait_session(access, session)["upo"]["pages"]
    assert len(pages) == 3
    counts = []
    for number, page in enumerate(pages, 1):
        document = _validate_upo(requests.get(page["downloadUrl"], timeout=10).content)
        counts.append(len(document.findall("{*}Dokument")))
        assert document.findtext("{*}OpisPotwierdzenia/{*}Strona") == str(number)
        assert document.findtext("{*}OpisPotwierdzenia/{*}LiczbaStron") == "3"
    assert counts == [2, 2, 1]


def test_invoice_over_1_mb_is_refused(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    padding = b"<!--" + b"x" * 1000001 + b"-->"
    big = fa3_invoice(_number()).replace(b"<Naglowek>", padding + b"<Naglowek>", 1)
    refused = api.send(access, session, key, iv, big)
    assert _code(refused) == 21405 and "1000000" in refused.json()["exception"]["exceptionDetailList"][0]["details"][0]


def test_session_list_visibility_depends_on_introspection(api):
    nip = random_nip()
    writer = api.access_token(nip=nip, permissions=("InvoiceWrite",))
    other_writer = api.access_token(nip=nip, permissions=("InvoiceWrite",))
    inspector = api.access_token(nip=nip, permissions=("InvoiceWrite", "Introspection"))
    mine, _, _ = api.open_session(writer)
    theirs, _, _ = api.open_session(other_writer)
    seen_by_writer = {s["referenceNumber"] for s in api.get("/sessions?sessionType=Online", writer).json()["sessions"]}
    seen_by_inspector = {s["referenceNumber"] for s in api.get("/sessions?sessionType=Online", inspector).json()["sessions"]}
    assert seen_by_writer == {mine}
    assert seen_by_inspector == {mine, theirs}


def test_attachment_is_refused_online(api):
    access = api.access_token()
    session, key, iv = api.open_session(access)
    attachment = (b"<Zalacznik><BlokDanych><MetaDane><ZKlucz>k</ZKlucz><ZWartosc>v</ZWartosc></MetaDane>"
                  b"<Tekst><Akapit>Opis</Akapit></Tekst></BlokDanych></Zalacznik>")
    xml = fa3_invoice(_number()).replace(b"</Fa></Faktura>", b"</Fa>" + attachment + b"</Faktura>")
    status = api.wait_invoice(access, session, api.send(access, session, key, iv, xml).json()["referenceNumber"])
    assert status["status"]["code"] == 415, status


def test_admin_closes_a_session_or_puts_it_under_maintenance(api):
    access = api.access_token()
    closed, key, iv = api.open_session(access)
    api.emu.admin("/sessions/%s/state" % closed, {"state": "closed"})
    assert _code(api.send(access, closed, key, iv, fa3_invoice(_number()))) == 21180

    suspended, key, iv = api.open_session(access)
    api.emu.admin("/sessions/%s/state" % suspended, {"state": "maintenance"})
    refused = api.send(access, suspended, key, iv, fa3_invoice(_number()))
    assert _code(refused) == 21184
    assert "tymczasowo niedostępna" in refused.json()["exception"]["exceptionDetailList"][0]["exceptionDescription"]
    api.emu.admin("/sessions/%s/state" % suspended, {"state": "open"})
    assert api.send(access, suspended, key, iv, fa3_invoice(_number())).status_code == 202
