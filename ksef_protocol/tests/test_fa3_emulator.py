"""The KSeF emulator accepts (status 200) every golden FA(3) file: the pure
ones byte for byte, and the ones built from Odoo invoices (tests/data/fa3),
whose numbers repeat across test cases and are therefore made unique (KSeF
refuses a second invoice with the same seller NIP, kind and number)."""
import re
from pathlib import Path

import pytest

from _core_polling import wait_for_invoice
from fa3_cases import SELLER_NIP
from ksef_protocol import Environment, KsefClient, SessionKey
from ksef_protocol.ratelimit import RateLimiter

HERE = Path(__file__).parent
PURE_GOLDEN = sorted((HERE / "data" / "fa3" / "golden").glob("*.xml"))
ODOO_GOLDEN = sorted((HERE.parent.parent / "tests" / "data" / "fa3").glob("*.xml"))


@pytest.fixture
def fa3_session(emulator, fake_clock):
    # The client keeps KSeF's 30 sends/minute; a fake clock lets the limiter "wait" without sleeping
    # (the test emulator has its own rate limits off).
    emulator_client = KsefClient(Environment.custom(emulator.base_url), timeout=10.0, jitter=lambda: 0.0,
                                 limiter=RateLimiter(clock=fake_clock, sleep=fake_clock.sleep))
    token = emulator.admin("/tokens", {"nip": SELLER_NIP, "permissions": ["InvoiceWrite", "InvoiceRead"],
                                       "description": "fa3 golden files"})["token"]
    emulator_client.authenticate_with_ksef_token(SELLER_NIP, token)
    key = SessionKey.generate()
    session = emulator_client.open_online_session(key)
    yield emulator_client, session, key
    emulator_client.close_online_session(session.reference_number)


def _send_all(client, session, key, documents):
    sent = {name: client.send_invoice(session.reference_number, key, xml) for name, xml in documents.items()}
    return {name: wait_for_invoice(client, session.reference_number, s.reference_number)
            for name, s in sent.items()}


def test_fa3_emulator_accepts_every_golden_file(fa3_session):
    client, session, key = fa3_session
    documents = {"pure/" + p.name: p.read_bytes() for p in PURE_GOLDEN}
    for path in ODOO_GOLDEN:
        xml = re.sub(rb"<P_2>[^<]*</P_2>", b"<P_2>ODOO-GOLDEN/" + path.stem.encode() + b"</P_2>",
                     path.read_bytes())
        documents["odoo/" + path.name] = xml
    assert len(PURE_GOLDEN) >= 30 and len(ODOO_GOLDEN) >= 30
    statuses = _send_all(client, session, key, documents)
    refused = {name: (s.code, s.description, s.details) for name, s in statuses.items() if s.code != 200}
    assert refused == {}
    assert all(s.ksef_number.startswith(SELLER_NIP) for s in statuses.values())
