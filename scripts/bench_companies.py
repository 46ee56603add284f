#!/usr/bin/env python3
"""Benchmark one KSeF cycle of an accounting office: N client companies x M invoices + receiving.

    python scripts/bench_companies.py [--companies 200] [--invoices 5] [--workers 2] [--no-rate-limits]

What one Odoo worker does per company in a cycle, with ``ksef_protocol`` against the emulator over
HTTP: log into the company's context with the OFFICE's certificate (office mode; each client granted
the office InvoiceRead/InvoiceWrite beforehand), open an online session, send the invoices, close it,
follow their statuses, fetch each invoice's UPO, then receive the company's purchase invoices (one
HWM export, status, download). Company i sells to company i+1, so every company also receives M
invoices. ``--workers`` processes share the companies in fair turns (round robin). The second
("warm") cycle re-uses the stored tokens, as the addon does between cron runs.

The ORM part of the addon (FA(3) from account.move, states, attachments) is not included: see
``scripts/bench_fa3.py`` for the FA(3) build cost per invoice. Prints time and API calls.
"""
import argparse
import collections
import datetime
import multiprocessing
import os
import re
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from ksef_emulator.testing import start_emulator  # noqa: E402
from ksef_protocol import Environment, KsefClient, SessionKey  # noqa: E402
from ksef_protocol import certificates as certs  # noqa: E402
from ksef_protocol.validators import is_valid_nip  # noqa: E402

OFFICE_NIP = "7740001454"
INVOICE = """<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{d}T08:00:00Z</DataWytworzeniaFa></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>{seller}</NIP><Nazwa>Klient biura {seller}</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Szybka 1</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><NIP>{buyer}</NIP><Nazwa>Odbiorca {buyer}</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Wolna 2</AdresL1></Adres><JST>2</JST><GV>2</GV></Podmiot2>
<Fa><KodWaluty>PLN</KodWaluty><P_1>{d}</P_1><P_2>{number}</P_2><P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_15>123.00</P_15>
<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy></Adnotacje>
<RodzajFaktury>VAT</RodzajFaktury>
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa księgowa</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100.00</P_9A><P_11>100.00</P_11><P_12>23</P_12></FaWiersz>
</Fa></Faktura>"""
_IDS = re.compile(r"/(\d{8}-[A-Z]{2}-[0-9A-F-]+|\d{10}-\d{8}-[0-9A-F]+-[0-9A-F]{2}|[0-9a-f-]{36})(?=/|$)")


class CountingSession(requests.Session):
    """Counts API calls by method and path (identifiers folded), as seen on the wire."""

    def __init__(self):
        super().__init__()
        self.calls = collections.Counter()

    def request(self, method, url, *args, **kwargs):
        path = _IDS.sub("/{id}", requests.utils.urlparse(url).path)
        self.calls["%s %s" % (method.upper(), path)] += 1
        return super().request(method, url, *args, **kwargs)


def nips(count):
    found, candidate = [], 521000000
    while len(found) < count:
        candidate += 7919
        weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
        digits = "%09d" % candidate
        check = sum(int(d) * w for d, w in zip(digits, weights)) % 11
        nip = digits + str(check)
        if check != 10 and is_valid_nip(nip) and nip != OFFICE_NIP and nip[1:3] != "00":
            found.append(nip)
    return found


def grant_office(base_url, admin, nip):
    """Set-up (not timed): the client's owner grants the office InvoiceRead and InvoiceWrite."""
    token = admin("/tokens", {"nip": nip, "permissions": ["CredentialsManage"], "description": "owner"})["token"]
    client = KsefClient(Environment.custom(base_url), timeout=30.0)
    client.authenticate_with_ksef_token(nip, token)
    client.wait_permission_operation(client.grant_entity_permissions(
        OFFICE_NIP, ["InvoiceRead", "InvoiceWrite"], "Biuro rachunkowe", "Biuro Rachunkowe Sp. z o.o."))


def serve_company(base_url, certificate, key, company, stored, invoices, run, keys_cache, http):
    """One company's turn: send, follow, UPO, receive. ``stored``: tokens kept per context."""
    nip, buyer, checkpoint = company
    client = KsefClient(Environment.custom(base_url), timeout=30.0, http=http)
    if keys_cache:
        client.load_public_keys(keys_cache["keys"], fetched_at=keys_cache["at"])
    if nip in stored:
        client.access_token = stored[nip]
    else:
        stored[nip] = client.authenticate_with_certificate(nip, certificate, key).access_token
    if not keys_cache:
        keys_cache["keys"] = [k.to_dict() for k in client.get_public_keys()]
        keys_cache["at"] = time.time()
    session_key = SessionKey.generate()
    session = client.open_online_session(session_key)
    today = datetime.date.today().isoformat()
    for number in range(invoices):
        xml = INVOICE.format(d=today, seller=nip, buyer=buyer, number="R%s/%s/%s" % (run, nip, number)).encode()
        client.send_invoice(session.reference_number, session_key, xml)
    client.close_online_session(session.reference_number)
    for _attempt in range(200):
        items = list(client.iter_session_invoices(session.reference_number))
        if len(items) == invoices and all(item.code not in (100, 150) for item in items):
            break
        time.sleep(0.05)
    accepted = [item for item in items if item.code == 200]
    for item in accepted:
        client.get_invoice_upo(session.reference_number, invoice_reference=item.reference_number)
    result = client.sync_invoices_since("Subject2", checkpoint, SessionKey.generate(), wait=60.0)
    return len(accepted), len(result.package.invoices_by_ksef_number()) if result.package else 0


def worker(args):
    base_url, office_pem, key_pem, companies, invoices, run, stored = args
    certificate, key = certs.load_certificate_and_key(office_pem, key_pem, None)
    http = CountingSession()
    keys_cache = {}
    sent = received = 0
    slowest = 0.0
    started = time.perf_counter()
    for company in companies:
        turn = time.perf_counter()
        accepted, got = serve_company(base_url, certificate, key, company, stored, invoices, run, keys_cache, http)
        slowest = max(slowest, time.perf_counter() - turn)
        sent += accepted
        received += got
    return {"seconds": time.perf_counter() - started, "calls": http.calls, "sent": sent, "received": received,
            "slowest_company": slowest, "stored": stored}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-rate-limits", action="store_true")
    options = parser.parse_args()

    emulator = start_emulator(rateLimitsEnabled=not options.no_rate_limits, validateResponses=False,
                              logRequests=False)
    try:
        office_cert, office_key = certs.generate_test_certificate(OFFICE_NIP, kind="seal", key_type="EC")
        office_pem = certs.certificate_to_pem(office_cert)
        key_pem = certs.private_key_to_pem(office_key)
        clients = nips(options.companies)
        started = time.perf_counter()
        for nip in clients:
            grant_office(emulator.base_url, emulator.admin, nip)
        print("set-up: %d client companies granted the office in %.1f s" % (len(clients), time.perf_counter() - started))
        checkpoint = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).isoformat()
        companies = [(nip, clients[(index + 1) % len(clients)], checkpoint) for index, nip in enumerate(clients)]
        stored = [{} for _ in range(options.workers)]
        with multiprocessing.get_context("spawn").Pool(options.workers) as pool:
            for run, label in ((1, "cold (logins)"), (2, "warm (stored tokens)")):
                shares = [companies[index::options.workers] for index in range(options.workers)]
                started = time.perf_counter()
                results = pool.map(worker, [(emulator.base_url, office_pem, key_pem, share, options.invoices, run,
                                             stored[index]) for index, share in enumerate(shares)])
                elapsed = time.perf_counter() - started
                stored = [result["stored"] for result in results]
                calls = sum((result["calls"] for result in results), collections.Counter())
                total = sum(calls.values())
                print("cycle %d %s: %d companies x %d invoices + receiving, %d workers: %.1f s"
                      " (slowest company turn %.2f s); sent %d accepted, received %d; %d API calls"
                      " (%.1f per company)" % (
                          run, label, len(companies), options.invoices, options.workers, elapsed,
                          max(result["slowest_company"] for result in results),
                          sum(result["sent"] for result in results), sum(result["received"] for result in results),
                          total, total / len(companies)))
                for name, count in sorted(calls.items(), key=lambda item: -item[1]):
                    print("    %6d  %s" % (count, name))
                # the next cycle sends new invoices; receiving continues from the same checkpoint
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
