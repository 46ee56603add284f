"""Conformance suite: third-party KSeF SDKs from PyPI (pinned in requirements.txt) drive the project's
emulator through their public APIs. Runs in its own virtualenv (scripts/conformance_venv.sh).

Every disagreement is settled against the official docs (/work/shared/ksef-docs, open-api.json 2.9.0):
the emulator is fixed, or the SDK's own bug is recorded in a test marked ``sdk_bug`` (xfail, strict)
whose reason quotes the doc passage.
"""
import base64
import datetime
import os
import socket
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ksef_emulator.testing import start_emulator  # noqa: E402

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"


def nip_with_checksum(prefix9):
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(prefix9, weights)) % 11
    return prefix9 + str(check) if check != 10 else None


def random_nip():
    while True:
        nip = nip_with_checksum("%d%08d" % (int.from_bytes(os.urandom(1), "big") % 9 + 1,
                                            int.from_bytes(os.urandom(4), "big") % 10 ** 8))
        if nip and nip[1:3] != "00":
            return nip


def fa3_invoice(number, seller_nip, buyer_nip="9512345675", issue_date=None):
    """A minimal schema-valid FA(3) invoice."""
    issue_date = issue_date or datetime.date.today().isoformat()
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="%s">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>%sT08:00:00Z</DataWytworzeniaFa></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Sprzedawca Testowy sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Testowa 1</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Nabywca Testowy S.A.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Kupiecka 2</AdresL1></Adres><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>%s</P_1><P_2>%s</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>VAT</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa testowa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
</Fa></Faktura>""" % (FA3_NS, issue_date, seller_nip, buyer_nip, issue_date, number)).encode("utf-8")


def sha256_b64(data):
    import hashlib
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def since(days=30):
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def local_host_name():
    """A host name (not ``localhost``, not an IP literal) that reaches this machine's loopback.

    SDKs refuse pre-signed URLs on ``localhost`` or loopback IPs (SSRF protection). KSeF's own
    pre-signed URLs are on public hosts; the emulator builds them from the Host header, so giving the
    SDK the machine's host name keeps that protection on while the traffic stays local."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        addresses = set()
    return name if addresses & {"127.0.0.1", "::1"} else "127.0.0.1"


@pytest.fixture(scope="session")
def emulator():
    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def api_root(emulator):
    """``http://<host name>:PORT`` of the emulator (see :func:`local_host_name`)."""
    return "http://%s:%d" % (local_host_name(), emulator.port)


@pytest.fixture(scope="session")
def collective_identifiers_served(emulator):
    """True once the emulator serves the collective-identifier endpoints (branch h/iz).

    An endpoint the emulator does not implement answers 404 "No such endpoint"; a served one answers
    401 without a token."""
    import urllib.error
    import urllib.request
    request = urllib.request.Request(emulator.base_url + "/collective-identifiers/query", data=b"{}",
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code != 404
    return True


def skip_unless_collective_identifiers(served):
    if not served:
        pytest.skip("TODO(h/iz): the emulator does not serve /collective-identifiers yet (issue 13); "
                    "this test runs as soon as it does")


@pytest.fixture(autouse=True)
def _emulator_contract(request):
    """Every test fails if the emulator answered outside open-api.json 2.9.0 or crashed."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").assert_contract_clean()


def pytest_configure(config):
    config.addinivalue_line("markers", "sdk_bug: the SDK disagrees with the official KSeF docs (xfail, strict)")


def pytest_collection_modifyitems(session, config, items):
    """Skip pytest's Package setup for the repository root (the Odoo addon, whose ``__init__.py``
    imports odoo)."""
    root = config.rootpath
    for item in items:
        node = item.parent
        while node is not None:
            if isinstance(node, pytest.Package) and root in (node.path, *node.path.parents):
                node.setup = lambda: None
            node = node.parent
