#!/usr/bin/env python3
"""Benchmark one KSeF cycle of an accounting office: N client companies x M invoices + receiving.

    python3 scripts/bench_companies.py [--companies 200] [--invoices 5] [--bills 2] [--workers 2]
    python3 scripts/bench_companies.py --protocol [--companies 200] [--invoices 5] [--workers 2]

Default (Odoo): one database holds the office company and N client companies (a copy of a base
prepared once, as ``scripts/soak.py`` does). Each client uses the office's one certificate (office
mode) and granted the office InvoiceRead and InvoiceWrite in the emulator; each has M posted
invoices queued (created, posted and queued as sets, timed apart) and ``--bills`` purchase invoices
waiting in KSeF. One cycle is run by ``--workers`` separate ``odoo shell`` processes, each running
Odoo's own cron runner (``IrCron._process_jobs``, what an Odoo worker runs) in a loop, so they run
exactly the scheduled actions "KSeF: send queued invoices" and "KSeF: receive purchase invoices",
with their triggers and commits; the emulator applies KSeF's production rate limits. Printed: the
cycle's wall time, API calls by endpoint (as the emulator saw them), 429 answers, per company the
time from the cycle's start to its last invoice accepted with UPO (fairness: max / median), bills
received, peak RSS per worker. Then a second cycle with the stored tokens (new invoices and bills).

``--protocol``: only ``ksef_protocol`` against the emulator (no ORM): what one worker does per
company, over HTTP, with ``--workers`` processes taking the companies in turns.
"""
import argparse
import collections
import datetime
import multiprocessing
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.expanduser("~/.cache/l10n_pl_ksef/venv/bin/python")
try:
    import lxml  # noqa: F401  (the emulator and the protocol need the project's virtualenv)
except ImportError:
    os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)
import requests  # noqa: E402

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


def protocol_main(options):

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



# ---------------------------------------------------------------------------------------------------
# Odoo mode: the addon's scheduled actions in separate Odoo processes, on one database of N companies
# ---------------------------------------------------------------------------------------------------


CREATE_COMPANIES = r"""
import time
started = time.time()
pl, pln = env.ref('base.pl'), env.ref('base.PLN')
names = [('Biuro Rachunkowe Sp. z o.o.', P['office'])] + [
    ('Klient %03d Sp. z o.o.' % (index + 1), nip) for index, nip in enumerate(P['clients'])]
companies = env['res.company'].create([{
    'name': name, 'currency_id': pln.id, 'street': 'ul. Szybka %d' % (index + 1), 'zip': '00-624', 'city': 'Warszawa',
} for index, (name, nip) in enumerate(names)])
# The country after creation: creating a company with a country installs its localisation modules.
companies.write({'country_id': pl.id})
for company, (name, nip) in zip(companies, names):
    company.partner_id.vat = 'PL' + nip
env.cr.commit()
print('CREATED %.1f' % (time.time() - started))
"""

#: Loads the Polish chart of accounts of every ``P['parts']``-th client without one (processes run side by side).
LOAD_CHARTS = r"""
import time
started = time.time()
clients = env['res.company'].search([('partner_id.vat', 'in', ['PL' + nip for nip in P['clients']])], order='id')
loaded = 0
for company in clients[P['part']::P['parts']]:
    if company.chart_template:
        continue
    env['account.chart.template'].try_loading('pl', company, install_demo=False)
    env.cr.commit()
    loaded += 1
print('LOADED %d %.1f' % (loaded, time.time() - started))
"""

SETUP_OFFICE = r"""
import datetime, json, time
from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates
started = time.time()
Company = env['res.company']
office = Company.search([('partner_id.vat', '=', 'PL' + P['office'])])
clients = Company.search([('partner_id.vat', 'in', ['PL' + nip for nip in P['clients']])])
assert len(office) == 1 and len(clients) == len(P['clients']), (office, len(clients))
(office | clients).write({'l10n_pl_ksef_environment': 'custom', 'l10n_pl_ksef_custom_url': P['url'],
                          'l10n_pl_ksef_auto_send': False})
office.l10n_pl_ksef_auth_method = 'certificate'
certificate, key = certificates.load_certificate_and_key(P['cert'].encode(), P['key'].encode(), None)
env['ksef.certificate']._create_from_objects(office, certificate, key, use_authentication=True)
clients.write({'l10n_pl_ksef_credential_company_id': office.id, 'l10n_pl_ksef_receive_enabled': True,
               'l10n_pl_ksef_receive_checkpoint': P['checkpoint'],
               'l10n_pl_ksef_receive_env_key': clients[:1]._l10n_pl_ksef_environment_key()})
# Only the two scheduled actions measured here run during the cycle.
measured = env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue') \
    | env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices')
others = env['ir.cron'].search([]) - measured
others.write({'nextcall': datetime.datetime.now() + datetime.timedelta(days=1)})
env['ir.cron.trigger'].search([('cron_id', 'in', others.ids)]).unlink()
env.cr.commit()
print('OFFICE %.1f' % (time.time() - started))
"""

QUEUE_INVOICES = r"""
import datetime, json, time, zoneinfo
from odoo import Command
Company = env['res.company']
clients = Company.search([('partner_id.vat', 'in', ['PL' + nip for nip in P['clients']])])
taxes = {int(data.name.split('_')[0]): data.res_id for data in env['ir.model.data'].search([
    ('module', '=', 'account'), ('model', '=', 'account.tax'),
    ('name', 'in', ['%d_vs_kraj_usl_23' % company_id for company_id in clients.ids])])}
journals = {}
for journal in env['account.journal'].search([('type', '=', 'sale'), ('company_id', 'in', clients.ids)],
                                             order='sequence, id'):
    journals.setdefault(journal.company_id.id, journal.id)
buyer = env['res.partner'].search([('ref', '=', 'SOAK-BUYER')], limit=1)
today = datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Warsaw')).date()
times = {}
started = time.time()
moves = env['account.move'].create([{
    'move_type': 'out_invoice', 'company_id': company.id, 'journal_id': journals[company.id],
    'partner_id': buyer.id, 'invoice_date': today,
    'invoice_line_ids': [Command.create({'name': 'Usługa księgowa %d/%d' % (P['cycle'], number), 'quantity': 1,
                                         'price_unit': 100 + number, 'tax_ids': [Command.set([taxes[company.id]])]})],
} for company in clients for number in range(P['invoices'])])
times['create'] = time.time() - started
started = time.time()
moves.action_post()
times['post'] = time.time() - started
started = time.time()
queued = moves._l10n_pl_ksef_queue()
times['queue'] = time.time() - started
# The cycle starts with the receiving's scheduled time (hourly) come; the queue's cron was triggered by queuing.
env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices').nextcall = datetime.datetime.now()
env.cr.commit()
print('QUEUED ' + json.dumps({'ids': queued.ids, 'times': times}))
"""

CRON_WORKER = r"""
import json, os, resource, time
from odoo.addons.base.models.ir_cron import IrCron
db = env.cr.dbname
env.cr.rollback()
open('%s.ready.%d' % (P['stop'], os.getpid()), 'w').close()
while not os.path.exists(P['go']):
    time.sleep(0.05)
rounds = 0
while not os.path.exists(P['stop']):
    # What an Odoo cron worker does: run every job that is due (nextcall or trigger), one job per
    # worker at a time; here it wakes every 0.25 s instead of on Odoo's 60 s poll.
    IrCron._process_jobs(db)
    rounds += 1
    time.sleep(0.25)
print('WORKER ' + json.dumps({'pid': os.getpid(), 'rounds': rounds,
                              'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""

#: Processes loading the charts of accounts of the bench's base database side by side.
CHART_PROCESSES = 3
_LOG_LINE = re.compile(r'"(\w+) (\S+)" (\d{3}|---) [\d.]+ms(?: ctx=(\S+))?')


def with_params(script, **params):
    import json
    return "import json\nP = json.loads(%r)\n" % json.dumps(params) + script


def source_hash():
    """Identifies the addon's code: the bench's base database is updated when it changed."""
    import hashlib
    import subprocess
    listing = subprocess.run(["git", "ls-files", "-s", "-m", "models", "data", "views", "security", "__manifest__.py"],
                             cwd=ROOT, capture_output=True, text=True).stdout
    diff = subprocess.run(["git", "diff", "HEAD", "--", "models", "data", "views", "security", "__manifest__.py"],
                          cwd=ROOT, capture_output=True, text=True).stdout
    return hashlib.sha1((listing + diff).encode()).hexdigest()[:12]


def prepare_bench_base(soak, clients):
    """A database with the office and ``clients`` client companies, each with the Polish chart (once)."""
    import subprocess
    base = "%s_office%d" % (soak.DB_PREFIX, len(clients))
    soak.prepare_base()
    if base in soak.sh('psql -lqt | cut -d"|" -f1').stdout.split():
        stamp = soak.psql(base, "SELECT value FROM ir_config_parameter WHERE key = 'bench.source'")
        if stamp != source_hash():
            soak.sh("odoo_bin server -d %s -u l10n_pl_ksef --stop-after-init --log-level=warn" % base)
            soak.psql(base, "UPDATE ir_config_parameter SET value = '%s' WHERE key = 'bench.source'" % source_hash())
        return base
    print("[bench] preparing %s: %d companies, each client with the Polish chart of accounts (once)"
          % (base, len(clients) + 1), flush=True)
    started = time.perf_counter()
    tmp = base + "_tmp"
    if tmp not in soak.sh('psql -lqt | cut -d"|" -f1').stdout.split():
        soak.sh("createdb -T %s %s" % (soak.BASE_DB, tmp))
        soak.odoo_shell(tmp, with_params(CREATE_COMPANIES, office=OFFICE_NIP, clients=clients))
    # Charts of accounts are the slow part (seconds per company): loaded by processes side by side,
    # each committing per company; an interrupted preparation resumes where it stopped.
    for _attempt in range(3):
        missing = int(soak.psql(tmp, "SELECT count(*) FROM res_company WHERE chart_template IS NULL"))
        if missing <= 1:  # the office keeps no books here
            break
        processes = []
        for part in range(CHART_PROCESSES):
            process = soak.odoo_shell(tmp, None, background=True, log=subprocess.DEVNULL)
            process.stdin.write(with_params(LOAD_CHARTS, clients=clients, part=part, parts=CHART_PROCESSES))
            process.stdin.close()
            processes.append(process)
        for process in processes:
            process.wait()
    print("[bench] charts of accounts loaded in %.0f s" % (time.perf_counter() - started), flush=True)
    soak.psql(tmp, "INSERT INTO ir_config_parameter (key, value) VALUES ('bench.source', '%s')" % source_hash())
    soak.sh("psql -d postgres -qc 'ALTER DATABASE %s RENAME TO %s'" % (tmp, base))
    return base


def purchase_invoices(clients, count, cycle):
    """``count`` invoices to each client from one supplier (a NIP that is none of the companies')."""
    today = datetime.date.today().isoformat()
    supplier = nips(len(clients) + 1)[-1]
    return [{"xml": INVOICE.format(d=today, seller=supplier, buyer=nip, number="Z%d/%s/%d" % (cycle, nip, number))}
            for nip in clients for number in range(count)]


def emulator_calls(emulator, start, end):
    """API calls the emulator logged between byte offsets: ``(by endpoint, 429 by endpoint, 429 by context)``."""
    with open(emulator.log_path, "rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8", "replace")
    calls, refused, refused_contexts = collections.Counter(), collections.Counter(), collections.Counter()
    for match in _LOG_LINE.finditer(text):
        method, path, status, context = match.groups()
        if path.startswith("/admin"):
            continue
        name = "%s %s" % (method, _IDS.sub("/{id}", path.split("?")[0]))
        calls[name] += 1
        if status == "429":
            refused[name] += 1
            refused_contexts[context] += 1
    return calls, refused, refused_contexts


def run_cycle(soak, db, emulator, clients, options, cycle, state_dir):
    """Queue M invoices per client, seed the bills, run the workers until everything settled; print figures."""
    import json
    import signal
    import subprocess

    import psycopg2
    started = time.perf_counter()
    bills = purchase_invoices(clients, options.bills, cycle)
    for offset in range(0, len(bills), 100):
        emulator.admin("/purchase-invoices", {"invoices": bills[offset:offset + 100]})
    seeded = time.perf_counter() - started
    output = soak.odoo_shell(db, with_params(QUEUE_INVOICES, clients=clients, invoices=options.invoices, cycle=cycle))
    queued = json.loads(output.split("QUEUED ", 1)[1].splitlines()[0])
    ids = ",".join(map(str, queued["ids"]))
    times = queued["times"]
    print("cycle %d set-up: %d invoices created in %.1f s, posted in %.1f s, queued in %.1f s (one set each); "
          "%d purchase invoices put into KSeF in %.1f s" % (
              cycle, len(queued["ids"]), times["create"], times["post"], times["queue"], len(clients) * options.bills,
              seeded), flush=True)

    stop = os.path.join(state_dir, "stop%d" % cycle)
    go = os.path.join(state_dir, "go%d" % cycle)
    logs, processes = [], []
    for index in range(options.workers):
        log = open(os.path.join(state_dir, "cycle%d-worker%d.log" % (cycle, index)), "w+")
        process = soak.odoo_shell(db, None, background=True, log=log)
        process.stdin.write(with_params(CRON_WORKER, stop=stop, go=go))
        process.stdin.close()
        logs.append(log)
        processes.append(process)
    # The clock starts when every worker is up (Odoo's start-up is not the cycle's time).
    while sum(name.startswith("stop%d.ready." % cycle) for name in os.listdir(state_dir)) < options.workers:
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a worker died at start-up: see %s" % state_dir)
        time.sleep(0.1)
    cycle_start = soak.psql(db, "SELECT (now() AT TIME ZONE 'UTC')::timestamp(0)")
    log_start = os.path.getsize(emulator.log_path)
    open(go, "w").close()
    started = time.monotonic()
    load_start = os.getloadavg()
    accepted_at, received_at = {}, {}
    deadline = started + options.timeout
    connection = psycopg2.connect(dbname=db)
    connection.autocommit = True
    cr = connection.cursor()
    while time.monotonic() < deadline:
        elapsed = time.monotonic() - started
        cr.execute("SELECT company_id, count(*) FROM account_move WHERE id IN (%s) AND l10n_pl_ksef_state = 'accepted'"
                   " AND l10n_pl_ksef_upo_attachment_id IS NOT NULL GROUP BY company_id" % ids)
        for company_id, count in cr.fetchall():
            if count == options.invoices and company_id not in accepted_at:
                accepted_at[company_id] = elapsed
        cr.execute("SELECT id FROM res_company WHERE l10n_pl_ksef_receive_enabled AND (l10n_pl_ksef_last_receive_date"
                   " >= %s OR (l10n_pl_ksef_receive_attempt_date >= %s AND l10n_pl_ksef_receive_error IS NOT NULL))",
                   (cycle_start, cycle_start))
        for (company_id,) in cr.fetchall():
            received_at.setdefault(company_id, elapsed)
        if len(accepted_at) == len(clients) and len(received_at) == len(clients):
            break
        time.sleep(1.0)
    connection.close()
    wall = time.monotonic() - started
    load_end = os.getloadavg()
    open(stop, "w").close()
    workers = []
    problems = collections.Counter()
    conflicts = pdf_failures = 0
    for process, log in zip(processes, logs):
        try:
            process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.seek(0)
        text = log.read()
        problems.update(line.split(" ", 5)[-1][:160] for line in text.splitlines()
                        if re.match(r"\S+ \S+ \d+ (ERROR|WARNING|CRITICAL) ", line) and "wkhtmltopdf" not in line)
        pdf_failures += text.count("wkhtmltopdf: ")
        conflicts += text.count("could not serialize access")
        if "WORKER " in text:
            workers.append(json.loads(text.split("WORKER ", 1)[1].splitlines()[0]))
    calls, refused, refused_contexts = emulator_calls(emulator, log_start, os.path.getsize(emulator.log_path))

    # -- figures -------------------------------------------------------------------------------------------
    states = soak.psql(db, "SELECT l10n_pl_ksef_state, count(*) FROM account_move WHERE id IN (%s) GROUP BY 1" % ids)
    bills = int(soak.psql(db, "SELECT count(*) FROM account_move WHERE move_type = 'in_invoice' AND "
                              "l10n_pl_ksef_number IS NOT NULL AND create_date >= '%s'" % cycle_start))
    errors = soak.psql(db, "SELECT count(*) FROM res_company WHERE l10n_pl_ksef_receive_enabled AND "
                           "l10n_pl_ksef_receive_error IS NOT NULL")
    total = sum(calls.values())
    label = "cold (logins)" if cycle == 1 else "warm (stored tokens)"
    print("cycle %d %s: %d companies x %d invoices + receiving (%d bills each), %d Odoo workers: %.1f s%s" % (
        cycle, label, len(clients), options.invoices, options.bills, options.workers, wall,
        "" if wall < options.timeout else " (TIMED OUT)"))
    print("    load average %.2f at the start, %.2f at the end (2 shared cores, emulator and PostgreSQL included)"
          % (load_start[0], load_end[0]))
    print("    invoices: %s; bills received: %d of %d; companies with a receiving error: %s" % (
        states.replace("\n", ", ").replace("|", " "), bills, len(clients) * options.bills, errors))
    if accepted_at:
        done = sorted(accepted_at.values())
        median = done[len(done) // 2]
        print("    last invoice accepted with UPO, per company (s from the cycle's start): min %.1f, median %.1f, "
              "max %.1f, max/median %.2f; %d of %d companies done" % (
                  done[0], median, done[-1], done[-1] / median if median else 0, len(done), len(clients)))
        slowest = sorted(accepted_at.items(), key=lambda item: -item[1])[:3]
        print("    slowest companies (id: s): %s" % ", ".join("%d: %.1f" % item for item in slowest))
    if received_at:
        done = sorted(received_at.values())
        print("    receiving done, per company (s): min %.1f, median %.1f, max %.1f; %d of %d companies" % (
            done[0], done[len(done) // 2], done[-1], len(done), len(clients)))
    print("    %d API calls (%.1f per company); 429 answers: %d%s" % (
        total, total / len(clients), sum(refused.values()),
        (" (%d contexts; %s)" % (len(refused_contexts), ", ".join("%s: %d" % item for item in refused.most_common())))
        if refused else " (every context within its limits)"))
    for name, count in sorted(calls.items(), key=lambda item: -item[1]):
        print("    %6d  %s" % (count, name))
    print("    database conflicts in the workers (could not serialize access due to concurrent update): %d" % conflicts)
    if pdf_failures:
        print("    wkhtmltopdf warnings while drawing the visuals of received bills (no HTTP server in odoo shell): %d"
              % pdf_failures)
    for problem, count in problems.most_common(8):
        print("    worker log: %dx %s" % (count, problem))
    for worker in workers:
        print("    worker pid %d: peak RSS %.0f MB, %d cron runner rounds" % (worker["pid"], worker["rss_mb"],
                                                                           worker["rounds"]))
    return wall


def odoo_main(options):
    import tempfile
    import soak  # noqa: E402  (scripts/: its database and odoo shell helpers)
    clients = nips(options.companies)
    base = prepare_bench_base(soak, clients)
    db = base + "_run"
    soak.sh("dropdb --if-exists %s" % db)
    soak.sh("createdb -T %s %s" % (base, db))
    state_dir = tempfile.mkdtemp(prefix="ksef-bench-companies-")
    emulator = start_emulator(state_dir=tempfile.mkdtemp(dir=state_dir), rateLimitsEnabled=True,
                              validateResponses=False)
    try:
        print("load: %s" % open("/proc/loadavg").read().strip(), flush=True)
        started = time.perf_counter()
        for nip in clients:
            emulator.admin("/permissions", {"contextValue": nip, "subjectType": "Nip", "subjectValue": OFFICE_NIP,
                                            "permissions": ["InvoiceRead", "InvoiceWrite"]})
        office_cert, office_key = certs.generate_test_certificate(OFFICE_NIP, kind="seal", key_type="EC")
        checkpoint = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).isoformat(
            timespec="microseconds")
        output = soak.odoo_shell(db, with_params(
            SETUP_OFFICE, office=OFFICE_NIP, clients=clients, url=emulator.base_url, checkpoint=checkpoint,
            cert=certs.certificate_to_pem(office_cert).decode(), key=certs.private_key_to_pem(office_key).decode()))
        print("set-up: %d clients granted the office InvoiceRead+InvoiceWrite in KSeF, office mode and receiving "
              "on in Odoo: %.1f s (Odoo part %s s)" % (len(clients), time.perf_counter() - started,
                                                        output.split("OFFICE ", 1)[1].split()[0]), flush=True)
        for cycle in range(1, options.cycles + 1):
            run_cycle(soak, db, emulator, clients, options, cycle, state_dir)
        print("load: %s" % open("/proc/loadavg").read().strip())
    finally:
        emulator.stop()
        if not options.keep:
            soak.sh("dropdb --if-exists %s" % db, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--invoices", type=int, default=5)
    parser.add_argument("--bills", type=int, default=2, help="purchase invoices each company receives per cycle")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a cycle may take")
    parser.add_argument("--keep", action="store_true", help="keep the run database")
    parser.add_argument("--protocol", action="store_true", help="ksef_protocol only, no Odoo")
    parser.add_argument("--no-rate-limits", action="store_true", help="(--protocol) emulator without rate limits")
    options = parser.parse_args()
    if options.protocol:
        protocol_main(options)
    else:
        odoo_main(options)


if __name__ == "__main__":
    main()
