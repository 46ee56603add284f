"""Fixtures for the emulator's own suite: raw HTTP with ``requests`` and crypto built here,
never through ``ksef_protocol``, so the emulator is checked independently."""
import base64
import datetime
import hashlib
import os
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ksef_emulator.testing import start_emulator

SELLER_NIP = "5265877635"
BUYER_NIP = "9512345675"
FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA3_FORM = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data):
    return b64(hashlib.sha256(data).digest())


def nip_with_checksum(prefix9):
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(prefix9, weights)) % 11
    return prefix9 + str(check) if check != 10 else None


def random_nip():
    while True:
        nip = nip_with_checksum("%d%08d" % (int.from_bytes(os.urandom(1), "big") % 9 + 1, int.from_bytes(os.urandom(4), "big") % 10 ** 8))
        if nip and nip[1:3] != "00":
            return nip


def fa3_invoice(number, seller_nip=SELLER_NIP, buyer_nip=BUYER_NIP, issue_date=None, rodzaj="VAT", extra_header=""):
    """A minimal schema-valid FA(3) invoice (written for these tests)."""
    issue_date = issue_date or datetime.date.today().isoformat()
    return ("""%s<Faktura xmlns="%s">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>%sT08:00:00Z</DataWytworzeniaFa></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Sprzedawca Testowy sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Testowa 1</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>%s</NIP><Nazwa>Nabywca Testowy S.A.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Kupiecka 2</AdresL1></Adres><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>%s</P_1><P_2>%s</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>%s</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa testowa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
</Fa></Faktura>""" % (extra_header or '<?xml version="1.0" encoding="UTF-8"?>\n', FA3_NS, issue_date, seller_nip,
                      buyer_nip, issue_date, number, rodzaj)).encode("utf-8")


def aes_encrypt(key, iv, data):
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


class Api:
    """Thin raw-HTTP helper around one emulator."""

    def __init__(self, emulator):
        self.emu = emulator
        self.http = requests.Session()

    def url(self, path):
        return self.emu.base_url + path

    def get(self, path, token=None, **kwargs):
        return self.http.get(self.url(path), headers=self._headers(token, kwargs.pop("headers", None)), timeout=30, **kwargs)

    def post(self, path, token=None, **kwargs):
        return self.http.post(self.url(path), headers=self._headers(token, kwargs.pop("headers", None)), timeout=30, **kwargs)

    @staticmethod
    def _headers(token, extra):
        headers = dict(extra or {})
        if token:
            headers["Authorization"] = "Bearer " + token
        return headers

    def public_key(self, usage):
        items = self.get("/security/public-key-certificates").json()
        item = [i for i in items if usage in i["usage"]][0]
        certificate = x509.load_der_x509_certificate(base64.b64decode(item["certificate"]), default_backend())
        return certificate.public_key(), item["publicKeyId"]

    def challenge(self):
        response = self.post("/auth/challenge")
        assert response.status_code == 200, response.text
        return response.json()

    def start_token_auth(self, nip, ksef_token, *, timestamp_ms=None, context_nip=None):
        challenge = self.challenge()
        key, key_id = self.public_key("KsefTokenEncryption")
        plaintext = ("%s|%s" % (ksef_token, timestamp_ms or challenge["timestampMs"])).encode()
        body = {"challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": context_nip or nip},
                "encryptedToken": b64(key.encrypt(plaintext, OAEP)), "publicKeyId": key_id}
        response = self.post("/auth/ksef-token", json=body)
        assert response.status_code == 202, response.text
        return response.json()

    def wait_auth(self, init, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            status = self.get("/auth/%s" % init["referenceNumber"], init["authenticationToken"]["token"]).json()
            if status["status"]["code"] != 100 or time.monotonic() > deadline:
                return status
            time.sleep(0.02)

    def login(self, nip=SELLER_NIP, permissions=("InvoiceWrite", "InvoiceRead")):
        """KSeF-token authentication end to end; returns the redeem body."""
        token = self.emu.create_token(nip, list(permissions))["token"]
        init = self.start_token_auth(nip, token)
        status = self.wait_auth(init)
        assert status["status"]["code"] == 200, status
        response = self.post("/auth/token/redeem", init["authenticationToken"]["token"])
        assert response.status_code == 200, response.text
        return response.json()

    def access_token(self, nip=SELLER_NIP, permissions=("InvoiceWrite", "InvoiceRead")):
        return self.login(nip, permissions)["accessToken"]["token"]

    def open_session(self, access, key=None, iv=None, form=FA3_FORM):
        key = key or os.urandom(32)
        iv = iv or os.urandom(16)
        rsa_key, key_id = self.public_key("SymmetricKeyEncryption")
        body = {"formCode": form, "encryption": {"encryptedSymmetricKey": b64(rsa_key.encrypt(key, OAEP)),
                                                 "initializationVector": b64(iv), "publicKeyId": key_id}}
        response = self.post("/sessions/online", access, json=body)
        assert response.status_code == 201, response.text
        return response.json()["referenceNumber"], key, iv

    @staticmethod
    def invoice_body(key, iv, xml, **overrides):
        encrypted = aes_encrypt(key, iv, xml)
        body = {"invoiceHash": sha256_b64(xml), "invoiceSize": len(xml), "encryptedInvoiceHash": sha256_b64(encrypted),
                "encryptedInvoiceSize": len(encrypted), "encryptedInvoiceContent": b64(encrypted), "offlineMode": False}
        body.update(overrides)
        return body

    def send(self, access, session, key, iv, xml, **overrides):
        return self.post("/sessions/online/%s/invoices" % session, access, json=self.invoice_body(key, iv, xml, **overrides))

    def wait_invoice(self, access, session, invoice_reference, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            response = self.get("/sessions/%s/invoices/%s" % (session, invoice_reference), access)
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"]["code"] not in (100, 150) or time.monotonic() > deadline:
                return body
            time.sleep(0.02)

    def wait_session(self, access, session, codes=(200, 440, 445), timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            body = self.get("/sessions/%s" % session, access).json()
            if body["status"]["code"] in codes or time.monotonic() > deadline:
                return body
            time.sleep(0.02)


@pytest.fixture(scope="session")
def emulator():
    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture
def api(emulator):
    """An :class:`Api` on the shared emulator, with config, clock and faults reset."""
    from ksef_emulator.config import DEFAULTS
    from ksef_emulator.testing import TEST_DEFAULTS
    emulator.admin("/config", dict(DEFAULTS, **TEST_DEFAULTS))
    emulator.admin("/clock", {"offsetSeconds": 0})
    emulator.admin("/faults", method="DELETE")
    return Api(emulator)


@pytest.fixture(autouse=True)
def _emulator_contract(request):
    """Every test that talks to the emulator fails if the emulator answered outside open-api.json
    (``validateResponses``) or crashed while serving it."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").assert_contract_clean()


def pytest_collection_modifyitems(session, config, items):
    """Skip pytest's Package setup for the repository root (the Odoo addon, whose
    ``__init__.py`` imports odoo) and ``ksef_emulator``: pytest >= 8 would import them as
    ``main.*`` looking for ``setup_module``; the tests use ``ksef_emulator`` as a top-level package."""
    root = config.rootpath
    for item in items:
        node = item.parent
        while node is not None:
            if isinstance(node, pytest.Package) and root in (node.path, *node.path.parents):
                node.setup = lambda: None
            node = node.parent
