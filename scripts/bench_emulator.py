#!/usr/bin/env python3
"""Benchmark the KSeF emulator: start-up time and invoice sends per second.

    python scripts/bench_emulator.py [--invoices 1000] [--threads 4]

Starts ``python -m ksef_emulator`` with rate limits and response validation off,
authenticates with a KSeF token, opens one online session and sends N distinct
FA(3) invoices from a few threads (keep-alive connections). Prints the figures;
exits non-zero if start-up >= 2 s or throughput < 200 invoices/s (``--no-check`` to skip).
Crypto is done here with ``cryptography`` (independent of ksef_protocol).
"""
import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import sys
import threading
import time

import requests
from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ksef_emulator.testing import start_emulator  # noqa: E402

NIP = "5265877635"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
INVOICE = """<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{d}T08:00:00Z</DataWytworzeniaFa></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{nip}</NIP><Nazwa>Bench sp. z o.o.</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Szybka 1</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>9512345675</NIP><Nazwa>Klient</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Wolna 2</AdresL1></Adres><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>{d}</P_1><P_2>{number}</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>VAT</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
</Fa></Faktura>"""


def b64(data):
    return base64.b64encode(data).decode("ascii")


def sha(data):
    return b64(hashlib.sha256(data).digest())


def encrypt(key, iv, data):
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def public_key(base_url, usage):
    item = [i for i in requests.get(base_url + "/security/public-key-certificates", timeout=10).json() if usage in i["usage"]][0]
    return x509.load_der_x509_certificate(base64.b64decode(item["certificate"]), default_backend()).public_key()


def authenticate(emulator):
    base = emulator.base_url
    token = emulator.create_token(NIP, ["InvoiceWrite", "InvoiceRead"], "benchmark")["token"]
    challenge = requests.post(base + "/auth/challenge", timeout=10).json()
    encrypted = public_key(base, "KsefTokenEncryption").encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), OAEP)
    init = requests.post(base + "/auth/ksef-token", timeout=10, json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": b64(encrypted)}).json()
    bearer = {"Authorization": "Bearer " + init["authenticationToken"]["token"]}
    while requests.get(base + "/auth/" + init["referenceNumber"], headers=bearer, timeout=10).json()["status"]["code"] == 100:
        time.sleep(0.01)
    return requests.post(base + "/auth/token/redeem", headers=bearer, timeout=10).json()["accessToken"]["token"]


def process_cpu_seconds(pid):
    """user+system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    emulator = start_emulator(rateLimitsEnabled=False, validateResponses=False, logRequests=False)
    try:
        access = authenticate(emulator)
        headers = {"Authorization": "Bearer " + access}
        key, iv = os.urandom(32), os.urandom(16)
        session = requests.post(emulator.base_url + "/sessions/online", headers=headers, timeout=10, json={
            "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "encryption": {"encryptedSymmetricKey": b64(public_key(emulator.base_url, "SymmetricKeyEncryption").encrypt(key, OAEP)),
                           "initializationVector": b64(iv)}}).json()["referenceNumber"]
        today = datetime.date.today().isoformat()
        bodies = []
        run = os.urandom(3).hex().upper()
        for index in range(args.invoices):
            xml = INVOICE.format(d=today, nip=NIP, number="BENCH/%s/%d" % (run, index)).encode("utf-8")
            encrypted = encrypt(key, iv, xml)
            bodies.append({"invoiceHash": sha(xml), "invoiceSize": len(xml), "encryptedInvoiceHash": sha(encrypted),
                           "encryptedInvoiceSize": len(encrypted), "encryptedInvoiceContent": b64(encrypted)})
        path = "/v2/sessions/online/%s/invoices" % session
        payloads = [json.dumps(body).encode("utf-8") for body in bodies]
        failures = []

        def worker(chunk):
            # http.client keeps the client's own CPU use low, so the figure is the emulator's
            connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=30)
            send_headers = dict(headers, **{"Content-Type": "application/json"})
            for payload in chunk:
                connection.request("POST", path, body=payload, headers=send_headers)
                response = connection.getresponse()
                text = response.read()
                if response.status != 202:
                    failures.append(text[:200].decode("utf-8", "replace"))
            connection.close()

        threads = [threading.Thread(target=worker, args=(payloads[i::args.threads],)) for i in range(args.threads)]
        cpu_before = process_cpu_seconds(emulator.process.pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rate = args.invoices / elapsed
        # let the worker finish, then report the emulator's CPU cost per invoice (send + processing)
        status_url = "%s/sessions/%s" % (emulator.base_url, session)
        close = requests.post(status_url.replace("/sessions/", "/sessions/online/") + "/close", headers=headers, timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if requests.get(status_url, headers=headers, timeout=30).json()["status"]["code"] != 170:
                break
            time.sleep(0.2)
        cpu_after = process_cpu_seconds(emulator.process.pid)
        print("start-up: %.2f s" % emulator.startup_seconds)
        print("sent %d invoices with %d threads in %.2f s: %.0f invoices/s (%d failures)"
              % (args.invoices, args.threads, elapsed, rate, len(failures)))
        if cpu_before is not None and cpu_after is not None:
            print("emulator CPU per invoice (request + async validation): %.2f ms"
                  % ((cpu_after - cpu_before) * 1000.0 / args.invoices))
        if close.status_code != 204:
            failures.append("close: %s" % close.text[:200])
        if failures:
            print("first failure:", failures[0])
        ok = not failures and (args.no_check or (emulator.startup_seconds < 2.0 and rate >= 200))
        return 0 if ok else 1
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
