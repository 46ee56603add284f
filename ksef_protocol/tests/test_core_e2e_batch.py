"""End-to-end batch session against the emulator: archive, open, upload parts, close, statuses, UPO."""
import pytest

from _core_invoices import SELLER_NIP, make_invoice
from _core_polling import wait_for_session
from ksef_protocol import BatchArchive, SessionKey, parse_upo
from ksef_protocol.errors import KsefError
from ksef_protocol.upo import UpoDocument


@pytest.mark.parametrize("compression, part_size", [("Zip", 100_000_000), ("TarGz", 1500)])
def test_batch_session_round_trip(emulator, emulator_client, compression, part_size):
    token = emulator.create_token(SELLER_NIP, ["InvoiceWrite", "InvoiceRead"])["token"]
    client = emulator_client
    client.authenticate_with_ksef_token(SELLER_NIP, token)
    files = {"invoice-%d.xml" % i: make_invoice() for i in range(3)}
    archive = BatchArchive.build(files, compression=compression, part_size=part_size)
    key = SessionKey.generate()

    info = client.open_batch_session(key, archive)
    assert "-SB-" in info.reference_number
    assert len(info.part_upload_requests) == len(archive.parts)
    client.upload_batch_parts(info, key, archive)
    client.close_batch_session(info.reference_number)

    final = wait_for_session(client, info.reference_number, timeout=30)
    assert final.code == 200, (final.code, final.description, final.details)
    assert final.successful_invoice_count == 3 and final.failed_invoice_count in (0, None)
    statuses = list(client.iter_session_invoices(info.reference_number))
    assert {s.invoice_file_name: s.invoice_hash for s in statuses} == archive.invoice_hashes
    assert all(s.code == 200 and s.ksef_number for s in statuses)
    upo = parse_upo(client.get_session_upo(info.reference_number, final.upo_pages[0].reference_number).content)
    assert sorted(d.ksef_number for d in upo.documents) == sorted(s.ksef_number for s in statuses)


def test_upos_downloaded_ahead_from_presigned_links(emulator, emulator_client):
    """Each invoice's UPO from its pre-signed link, fetched in the background, equals the API's; a broken
    link gives its error without losing the others; a link taken out of order is still answered."""
    token = emulator.create_token(SELLER_NIP, ["InvoiceWrite", "InvoiceRead"])["token"]
    client = emulator_client
    client.authenticate_with_ksef_token(SELLER_NIP, token)
    archive = BatchArchive.build({"invoice-%d.xml" % i: make_invoice() for i in range(5)})
    key = SessionKey.generate()
    info = client.open_batch_session(key, archive)
    client.upload_batch_parts(info, key, archive)
    client.close_batch_session(info.reference_number)
    assert wait_for_session(client, info.reference_number, timeout=30).code == 200
    statuses = list(client.iter_session_invoices(info.reference_number))
    links = [s.upo_download_url for s in statuses]
    broken = links[0].replace("sig=", "sig=0")
    with client.upo_downloads(links[:2] + [broken] + links[2:], max_workers=3, ahead=2) as downloads:
        last = downloads.take(links[-1])  # out of order: fetched at once
        results = [downloads.take(link) for link in links[:-1]]
        failed = downloads.take(broken)
    assert isinstance(failed, KsefError) and not isinstance(failed, UpoDocument)
    for status, document in zip(statuses, results + [last]):
        assert isinstance(document, UpoDocument)
        expected = client.get_invoice_upo(info.reference_number, invoice_reference=status.reference_number)
        assert document.content == expected.content
