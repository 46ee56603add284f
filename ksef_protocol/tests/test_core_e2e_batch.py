"""End-to-end batch session against the emulator: archive, open, upload parts, close, statuses, UPO."""
import pytest

from _core_invoices import SELLER_NIP, make_invoice
from _core_polling import wait_for_session
from ksef_protocol import BatchArchive, SessionKey, parse_upo


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
