"""UPO v4-3 parsing (official examples) and download integrity."""
import os

import pytest

from ksef_protocol import KsefProtocolError, UpoDocument, parse_upo, sha256_b64

DATA = os.path.join(os.path.dirname(__file__), "data", "upo")


def _read(name):
    with open(os.path.join(DATA, name), "rb") as handle:
        return handle.read()


def test_parse_official_session_upo_with_nip_context():
    upo = parse_upo(_read("upo-sesja-kontekst-id-nip.xml"))
    assert upo.session_reference == "36950822-93-9D5A28BFDA-47C899773E-5C"
    assert upo.receiving_entity.startswith("Ministerstwo Finansów")
    assert upo.context == {"type": "Nip", "value": "5265877635"}
    assert upo.auth_document_hash == "kyqH+QUgP8ATWd/95IY632mP4uqibwG66Oqclq9+qno="
    assert upo.ksef_token_reference is None
    assert (upo.page, upo.page_count, upo.range_from, upo.range_to, upo.total_documents) == (1, 1, 1, 2, 2)
    assert upo.form_code == "FA (3)" and upo.structure_name == "Schemat_FA(3)_v1-0E.xsd"
    assert [d.ksef_number for d in upo.documents] == ["5265877635-20250916-010040741B3E-46",
                                                      "5265877635-20250916-0200A0D6723E-C2"]
    first = upo.documents[0]
    assert first.invoice_number == "FA/SIGTF-3388125147/11/2025"
    assert first.document_hash == "jli86Kp2Kw7jppX59P8VmjWRcwLTvsPK3DcPEB87mNk="
    assert first.sending_mode == "Online" and first.issue_date == "2025-09-16"
    assert upo.find(document_hash="GZMGNVzs3krF6URKgvaw77OOeG3nJ+WGziT5xguliQ8=").ksef_number.endswith("C2")


def test_parse_official_invoice_upo_with_internal_id_and_token():
    upo = parse_upo(_read("upo-faktura-internal-id.xml"))
    assert upo.context == {"type": "InternalId", "value": "5265877635-12345"}
    assert upo.ksef_token_reference == "20250819-EC-1ECDD12000-5EE71AE5E3-B7"
    assert upo.page is None and len(upo.documents) == 1


def test_parse_rejects_other_documents():
    with pytest.raises(KsefProtocolError, match="Not a UPO"):
        parse_upo(b"<Faktura xmlns='http://crd.gov.pl/wzor/2025/06/25/13775/'/>")
    with pytest.raises(KsefProtocolError, match="well-formed"):
        parse_upo(b"<Potwierdzenie")


def test_download_keeps_bytes_and_checks_declared_hash():
    content = _read("upo-sesja-kontekst-id-nip.xml")
    document = UpoDocument.from_download(content, sha256_b64(content))
    assert document.content is content and document.sha256_b64 == sha256_b64(content)
    assert UpoDocument.from_download(content, None).content == content
    with pytest.raises(KsefProtocolError, match="x-ms-meta-hash"):
        UpoDocument.from_download(content, sha256_b64(content + b" "))


def test_upo_endpoint_verifies_hash_header(fake_server, fake_client):
    content = _read("upo-faktura-internal-id.xml")
    fake_server.script("GET", "/sessions/S1/invoices/ksef/K1/upo", [
        (200, {"Content-Type": "application/xml", "x-ms-meta-hash": sha256_b64(content)}, content)])
    fake_server.script("GET", "/sessions/S1/upo/U1", [
        (200, {"Content-Type": "application/xml", "x-ms-meta-hash": sha256_b64(b"other")}, content)])
    assert fake_client.get_invoice_upo("S1", ksef_number="K1").content == content
    with pytest.raises(KsefProtocolError):
        fake_client.get_session_upo("S1", "U1")
    with pytest.raises(ValueError, match="exactly one"):
        fake_client.get_invoice_upo("S1")
