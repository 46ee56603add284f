"""End-to-end interactive session against the emulator: open, send, status, UPO, close, session UPO."""
import logging

import pytest

from _core_invoices import SELLER_NIP, make_invoice
from _core_polling import wait_for_invoice, wait_for_session
from ksef_protocol import SessionKey, is_valid_ksef_number, parse_upo, sha256_b64


@pytest.fixture
def authenticated_client(emulator, emulator_client):
    token = emulator.create_token(SELLER_NIP, ["InvoiceWrite", "InvoiceRead"])["token"]
    emulator_client.authenticate_with_ksef_token(SELLER_NIP, token)
    return emulator_client


def test_online_session_send_status_upo_close(authenticated_client):
    client = authenticated_client
    key = SessionKey.generate()
    session = client.open_online_session(key)
    xml = make_invoice()
    sent = client.send_invoice(session.reference_number, key, xml)
    assert sent.invoice_hash == sha256_b64(xml) and sent.invoice_size == len(xml)
    assert sent.encrypted_invoice_size == len(key.encrypt(xml))

    status = wait_for_invoice(client, session.reference_number, sent.reference_number)
    assert status.code == 200, (status.code, status.description, status.details)
    assert is_valid_ksef_number(status.ksef_number)
    assert status.ksef_number.startswith(SELLER_NIP)
    assert status.invoice_hash == sent.invoice_hash
    assert status.acquisition_date is not None and status.acquisition_date.tzinfo is not None

    listed = list(client.iter_session_invoices(session.reference_number))
    assert [s.reference_number for s in listed] == [sent.reference_number]
    assert list(client.iter_session_invoices(session.reference_number, failed_only=True)) == []

    upo = client.get_invoice_upo(session.reference_number, invoice_reference=sent.reference_number)
    entry = parse_upo(upo.content).find(ksef_number=status.ksef_number)
    assert entry is not None and entry.document_hash == sent.invoice_hash
    by_number = client.get_invoice_upo(session.reference_number, ksef_number=status.ksef_number)
    assert by_number.content == upo.content

    client.close_online_session(session.reference_number)
    final = wait_for_session(client, session.reference_number)
    assert final.code == 200 and final.successful_invoice_count == 1 and final.upo_pages
    page = final.upo_pages[0]
    session_upo = client.get_session_upo(session.reference_number, page.reference_number)
    parsed = parse_upo(session_upo.content)
    assert parsed.session_reference == session.reference_number
    assert [d.ksef_number for d in parsed.documents] == [status.ksef_number]
    assert client.download_upo_url(page.download_url).content == session_upo.content


def test_invalid_invoice_is_reported_per_invoice(authenticated_client):
    client = authenticated_client
    key = SessionKey.generate()
    session = client.open_online_session(key)
    sent = client.send_invoice(session.reference_number, key, b"<Faktura>not FA(3)</Faktura>")
    status = wait_for_invoice(client, session.reference_number, sent.reference_number)
    assert status.code >= 400 and status.ksef_number is None
    failed = list(client.iter_session_invoices(session.reference_number, failed_only=True))
    assert [f.reference_number for f in failed] == [sent.reference_number]


def test_send_after_dropped_connection_is_not_duplicated(emulator, authenticated_client, caplog):
    client = authenticated_client
    key = SessionKey.generate()
    session = client.open_online_session(key)
    # The emulator accepts the invoice, then drops the connection without answering.
    emulator.admin("/faults", {"pathPattern": "/sessions/online/.*/invoices$", "method": "POST",
                               "count": 1, "kind": "drop"})
    xml = make_invoice()
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        sent = client.send_invoice(session.reference_number, key, xml)
    assert "/invoices -> ConnectionError" in caplog.text
    listed = list(client.iter_session_invoices(session.reference_number))
    assert len(listed) == 1, "the invoice was sent twice"
    assert listed[0].reference_number == sent.reference_number
    assert listed[0].invoice_hash == sha256_b64(xml)


def test_send_rejects_bom_and_text_locally(authenticated_client):
    with pytest.raises(ValueError, match="BOM"):
        authenticated_client.send_invoice("S", SessionKey.generate(), b"\xef\xbb\xbf<Faktura/>")
    with pytest.raises(TypeError, match="bytes"):
        authenticated_client.send_invoice("S", SessionKey.generate(), "<Faktura/>")


def test_send_after_proxy_502_is_resent_once(emulator, authenticated_client, caplog):
    client = authenticated_client
    client._sleep = lambda seconds: None  # back-off between attempts is irrelevant here
    key = SessionKey.generate()
    session = client.open_online_session(key)
    # An HTML 502 from a proxy: KSeF never saw the request, so the client must resend it.
    emulator.admin("/faults", {"pathPattern": "/sessions/online/.*/invoices$", "method": "POST",
                               "count": 1, "kind": "html", "status": 502})
    xml = make_invoice()
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        sent = client.send_invoice(session.reference_number, key, xml)
    assert "/invoices -> 502" in caplog.text  # the fault really happened
    listed = list(client.iter_session_invoices(session.reference_number))
    assert [s.reference_number for s in listed] == [sent.reference_number]
    assert wait_for_invoice(client, session.reference_number, sent.reference_number).code == 200


def test_send_after_timeout_checks_before_resending(emulator, authenticated_client, caplog):
    client = authenticated_client
    client._sleep = lambda seconds: None
    key = SessionKey.generate()
    session = client.open_online_session(key)
    emulator.admin("/faults", {"pathPattern": "/sessions/online/.*/invoices$", "method": "POST",
                               "count": 1, "kind": "timeout", "delaySeconds": 2})
    client.timeout = 1.0
    xml = make_invoice()
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        sent = client.send_invoice(session.reference_number, key, xml)
    assert "/invoices -> ReadTimeout" in caplog.text
    client.timeout = 10.0
    listed = list(client.iter_session_invoices(session.reference_number))
    assert len(listed) == 1 and listed[0].reference_number == sent.reference_number
    assert listed[0].invoice_hash == sent.invoice_hash
