"""End-to-end receiving against the emulator: metadata paging, download, export with HWM sync."""
import datetime
import logging
import time

import pytest

from _core_invoices import make_invoice
from _core_polling import wait_for_invoice
from ksef_protocol import Environment, KsefClient, SessionKey, sha256_b64
from ksef_protocol._dates import parse_datetime

BUYER = "7740001454"
SELLER = "5265877635"


@pytest.fixture(scope="module")
def seeded(emulator):
    """12 invoices SELLER -> BUYER, sent through a real online session; returns their XML bytes."""
    seller = KsefClient(Environment.custom(emulator.base_url), timeout=10.0)
    seller.authenticate_with_ksef_token(SELLER, emulator.create_token(SELLER, ["InvoiceWrite"])["token"])
    key = SessionKey.generate()
    session = seller.open_online_session(key)
    invoices = [make_invoice(seller=SELLER, buyer=BUYER) for _ in range(12)]
    sent = [seller.send_invoice(session.reference_number, key, xml) for xml in invoices]
    for item in sent:
        assert wait_for_invoice(seller, session.reference_number, item.reference_number).code == 200
    seller.close_online_session(session.reference_number)
    return invoices


@pytest.fixture
def reader(emulator, emulator_client):
    token = emulator.create_token(BUYER, ["InvoiceRead"])["token"]
    emulator_client.authenticate_with_ksef_token(BUYER, token)
    return emulator_client


def _filters(date_type="PermanentStorage"):
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return {"subjectType": "Subject2", "dateRange": {"dateType": date_type, "from": since}}


def test_metadata_paging_and_download(seeded, reader, caplog):
    invoices = seeded
    expected_hashes = {sha256_b64(xml) for xml in invoices}
    with caplog.at_level(logging.INFO, logger="ksef_protocol"):
        metadata = list(reader.iter_invoice_metadata(_filters("Invoicing"), page_size=10))
    # 12+ invoices with 10 per page: the hasMore rule made the client ask for a second page.
    assert caplog.text.count("POST") >= 2 and "/invoices/query/metadata -> 200" in caplog.text
    by_hash = {m["invoiceHash"]: m for m in metadata}
    assert expected_hashes <= set(by_hash)
    assert len({m["ksefNumber"] for m in metadata}) == len(metadata)
    one = by_hash[sha256_b64(invoices[0])]
    assert reader.download_invoice(one["ksefNumber"]) == invoices[0]


def test_export_with_hwm_incremental_sync(seeded, reader):
    invoices = seeded
    expected = {sha256_b64(xml) for xml in invoices}
    key = SessionKey.generate()
    checkpoint = _filters()["dateRange"]["from"]
    received = {}
    deadline = time.monotonic() + 30
    # Like a cron job: run steps from the stored checkpoint until everything below the
    # HWM has arrived (the HWM may trail "now" a little).
    while time.monotonic() < deadline:
        result = reader.sync_invoices_since("Subject2", checkpoint, key, wait=30.0)
        xml_by_number = result.package.invoices_by_ksef_number()
        assert {m["ksefNumber"] for m in result.package.metadata} >= set(xml_by_number)
        received.update(xml_by_number)
        assert result.next_checkpoint
        assert parse_datetime(result.next_checkpoint) >= parse_datetime(checkpoint)  # windows never go back
        checkpoint = result.next_checkpoint
        if expected <= {sha256_b64(xml) for xml in received.values()}:
            break
        if not result.has_more:
            time.sleep(0.5)
    assert expected <= {sha256_b64(xml) for xml in received.values()}
