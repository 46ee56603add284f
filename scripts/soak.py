#!/usr/bin/env python3
"""Soak test of the KSeF queue: N invoices, passing faults, two worker processes; prints figures.

    scripts/soak.py [-n 1000] [--workers 2] [--fault-rate 0.10] [--no-baseline] [--keep]

Each run uses its own database (a copy of a prepared one: Polish company, chart of accounts,
l10n_pl_ksef installed) and its own emulator (persistent state, so it can be restarted). N posted
invoices are queued, then ``--workers`` separate ``odoo shell`` processes run the queue's public
entry point (what the scheduled action runs) in a loop, committing as in production and sleeping
until the ``retry_at`` it returns. While they work, about ``fault-rate`` x N faults are injected,
spread over the run: HTML 502 pages and JSON 5xx on sending, 429 bursts with Retry-After, answers
dropped after KSeF accepted the invoice (timeouts), 5xx on status and UPO downloads; one emulator
restart; one worker killed with SIGKILL (and started again, as a process manager would).

Printed (the README quotes them): lost (not accepted with a UPO when the queue settled), sent twice
(KSeF received one invoice number more than once), shown accepted but not in KSeF (Odoo's KSeF number
or hash not what KSeF holds), UPO byte-equal (attached UPO identical to KSeF's), and the settle time
against a fault-free run of the same N.
"""
import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.expanduser('~/.cache/l10n_pl_ksef/venv/bin/python')
try:
    import lxml  # noqa: F401  (the emulator and the protocol need the project's virtualenv)
except ImportError:
    os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)
sys.path.insert(0, REPO)
from ksef_emulator.testing import start_emulator  # noqa: E402

SELLER_NIP = '5261040828'
#: Databases of this checkout (worktrees run side by side).
DB_PREFIX = 'ksef_soak_%s' % format(zlib.crc32(REPO.encode()), '08x')
BASE_DB = DB_PREFIX + '_base'
#: The limit groups of a TE custom profile (open-api.json ApiRateLimitsOverride): the soak raises them tenfold.
RAISED_GROUPS = ('onlineSession', 'batchSession', 'invoiceSend', 'invoiceStatus', 'sessionList', 'sessionInvoiceList',
                 'sessionMisc', 'invoiceMetadata', 'invoiceExport', 'invoiceExportStatus', 'invoiceDownload',
                 'collectiveIdentifier', 'other')

PREPARE = r'''
company = env.ref('base.main_company')
company.write({'name': 'Soak Sp. z o.o.', 'country_id': env.ref('base.pl').id, 'vat': 'PL%(nip)s',
               'street': 'ul. Marszałkowska 1', 'zip': '00-624', 'city': 'Warszawa',
               'currency_id': env.ref('base.PLN').id})
env.ref('base.PLN').active = True
env['account.chart.template'].try_loading('pl', company, install_demo=False)
env['res.partner'].create({'name': 'Klient Testowy S.A.', 'is_company': True, 'vat': 'PL7740001454',
                           'street': 'ul. Długa 5', 'zip': '80-831', 'city': 'Gdańsk',
                           'country_id': env.ref('base.pl').id, 'ref': 'SOAK-BUYER'})
env.cr.commit()
print('prepared')
'''

SETUP = r'''
import datetime, zoneinfo
company = env.ref('base.main_company')
company.write({'l10n_pl_ksef_environment': 'custom', 'l10n_pl_ksef_custom_url': %(url)r,
               'l10n_pl_ksef_auth_method': 'token', 'l10n_pl_ksef_auto_send': False,
               'l10n_pl_ksef_batch_threshold': 0})
env['ksef.token'].create({'company_id': company.id, 'environment': 'custom', 'name': 'Soak token',
                          'token': %(token)r, 'reference_number': %(reference)r})
# As a TE user may (limity-api.md, POST /testdata/rate-limits): the context's limits raised tenfold, so
# that 1,000 online invoices fit in minutes (production allows 180 sends an hour). The addon reads them
# with GET /rate-limits at its next login and keeps to them; the emulator enforces them.
client = company._l10n_pl_ksef_get_client()
raised = {group: {window: value * 10 for window, value in values.items()}
          for group, values in company.l10n_pl_ksef_rate_limits.items() if group in %(groups)r}
client._request('POST', '/testdata/rate-limits', json={'rateLimits': raised})
company._l10n_pl_ksef_forget_access_token()
buyer = env['res.partner'].search([('ref', '=', 'SOAK-BUYER')], limit=1)
tax = env.ref('account.%%s_vs_kraj_usl_23' %% company.id)
today = datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Warsaw')).date()
moves = env['account.move'].create([{
    'move_type': 'out_invoice', 'partner_id': buyer.id, 'invoice_date': today,
    'invoice_line_ids': [(0, 0, {'name': 'Usługa %%d' %% i, 'quantity': 1, 'price_unit': 100 + i,
                                 'tax_ids': [(6, 0, tax.ids)]})],
} for i in range(%(n)d)])
moves.action_post()
moves._l10n_pl_ksef_queue()
env.cr.commit()
print('queued', len(moves))
'''

WORKER = r'''
import datetime, os, time, traceback
stop = %(stop)r
Move = env['account.move']
open('%%s.ready.%%d' %% (stop, os.getpid()), 'w').close()
while not os.path.exists(stop):
    try:
        result = Move._l10n_pl_ksef_process_queue()
        env.cr.commit()
    except Exception:
        env.cr.rollback()
        traceback.print_exc()
        time.sleep(1)
        continue
    env.invalidate_all()
    retry_at = result['retry_at']
    now = datetime.datetime.utcnow()
    # What the cron trigger does: run again when the queue says work is due (bounded for the soak).
    delay = 0.5 if retry_at is None else (retry_at - now).total_seconds()
    time.sleep(max(0.05, min(delay, 5.0)))
'''


def sh(command, stdin=None, check=True):
    """Run ``command`` in bash with the project's Odoo environment (scripts/odoo_env.sh)."""
    return subprocess.run(['bash', '-c', '. scripts/odoo_env.sh >/dev/null; ' + command], cwd=REPO, input=stdin,
                          text=True, capture_output=True, check=check)


def odoo_shell(db, script, background=False, log=None):
    """``odoo shell`` on ``db`` fed ``script``; in the background, a worker process of its own group."""
    command = '. scripts/odoo_env.sh >/dev/null; odoo_bin shell -d %s --no-http --log-level=warn' % db
    if background:
        return subprocess.Popen(['bash', '-c', command], cwd=REPO, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    result = subprocess.run(['bash', '-c', command], cwd=REPO, input=script, text=True, capture_output=True)
    if result.returncode:
        raise SystemExit('odoo shell failed:\n%s\n%s' % (result.stdout[-3000:], result.stderr[-3000:]))
    return result.stdout


def psql(db, query):
    return sh('psql -qtA -d %s -c "%s"' % (db, query)).stdout.strip()


def prepare_base():
    if BASE_DB in sh('psql -lqt | cut -d"|" -f1').stdout.split():
        # The addon's code may have changed since: bring its tables up to date.
        sh('odoo_bin server -d %s -u l10n_pl_ksef --stop-after-init --log-level=warn' % BASE_DB)
        return
    print('[soak] preparing database %s (once)' % BASE_DB, flush=True)
    template = re.search(r'ksef_tpl_[0-9a-f]+', sh('psql -lqt').stdout)
    sh('createdb %s %s' % ('-T ' + template.group(0) if template else '', BASE_DB))
    sh('odoo_bin server -d %s -i l10n_pl_ksef --stop-after-init --log-level=warn' % BASE_DB)
    odoo_shell(BASE_DB, PREPARE % {'nip': SELLER_NIP})


def spawn_worker(db, stop, log):
    process = odoo_shell(db, None, background=True, log=log)
    process.stdin.write(WORKER % {'stop': stop})
    process.stdin.close()
    return process


class FaultInjector(threading.Thread):
    """Adds one-shot faults spread over the run, one restart of the emulator and one SIGKILL of a worker."""

    KINDS = [
        {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST', 'kind': 'html', 'status': 502},
        {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST', 'kind': 'status', 'status': 503},
        {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST', 'kind': 'drop'},
        {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST', 'kind': 'timeout',
         'delaySeconds': 2},
        {'pathPattern': r'/sessions/[^/]+/invoices/[^/]+$', 'method': 'GET', 'kind': 'html', 'status': 502},
        {'pathPattern': r'/upo$', 'method': 'GET', 'kind': 'status', 'status': 500},
    ]
    BURST_429 = {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST', 'kind': 'status',
                 'status': 429, 'retryAfter': 2}

    def __init__(self, emulator, total, progress, kill_worker):
        super().__init__(daemon=True)
        self.emulator, self.total, self.progress, self.kill_worker = emulator, total, progress, kill_worker
        self.injected = 0
        self.stop = threading.Event()
        self.events = []

    def run(self):
        restarted = killed = False
        while not self.stop.is_set() and (self.injected < self.total or not restarted or not killed):
            done = self.progress()
            try:
                if not restarted and done >= 0.4:
                    self.emulator.restart()
                    restarted = True
                    self.events.append('emulator restarted at %d%%' % (done * 100))
                elif not killed and done >= 0.6:
                    self.kill_worker()
                    killed = True
                    self.events.append('worker killed (SIGKILL) at %d%%' % (done * 100))
                elif self.injected >= self.total:
                    pass
                elif random.random() < 0.1:
                    self.emulator.admin('/faults', dict(self.BURST_429, count=5))
                    self.injected += 5
                else:
                    self.emulator.admin('/faults', dict(random.choice(self.KINDS), count=1))
                    self.injected += 1
            except Exception as error:  # the emulator may be restarting
                self.events.append('injection failed: %s' % error)
            if done >= 1:
                break
            # Spread over the run: no more faults injected than the share of the work done so far.
            while not self.stop.is_set() and self.injected >= self.total * max(self.progress(), 0.05) \
                    and (restarted and killed or self.progress() < 0.4):
                self.stop.wait(0.25)
            self.stop.wait(0.25)


def emulator_invoices(state_dir):
    connection = sqlite3.connect(os.path.join(state_dir, 'ksef-emulator.sqlite3'))
    connection.row_factory = sqlite3.Row
    rows = connection.execute('SELECT reference_number, session_reference, status_code, ksef_number, invoice_hash,'
                              ' content FROM invoices WHERE source != ?', ('seeded',)).fetchall()
    connection.close()
    return rows


def run(n, workers, fault_rate, keep):
    db = '%s_%s' % (DB_PREFIX, 'faults' if fault_rate else 'clean')
    sh('dropdb --if-exists %s' % db)
    sh('createdb -T %s %s' % (BASE_DB, db))
    state_dir = tempfile.mkdtemp(prefix='ksef-soak-')
    emulator = start_emulator(state_dir=state_dir, rateLimitsEnabled=True)
    stop = os.path.join(state_dir, 'stop')
    logs = []
    processes = []
    try:
        issued = emulator.create_token(SELLER_NIP, permissions=['InvoiceRead', 'InvoiceWrite'])
        odoo_shell(db, SETUP % {'url': emulator.base_url, 'token': issued['token'],
                                'reference': issued['referenceNumber'], 'n': n, 'groups': RAISED_GROUPS})
        ids = psql(db, "SELECT string_agg(id::text, ',') FROM account_move WHERE l10n_pl_ksef_state = 'queued'")

        def settled():
            return int(psql(db, "SELECT count(*) FROM account_move WHERE id IN (%s) AND l10n_pl_ksef_state = "
                                "'accepted' AND l10n_pl_ksef_upo_attachment_id IS NOT NULL" % ids))

        def kill_worker():
            victim = processes[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            processes[0] = spawn_worker(db, stop, logs[0])

        for index in range(workers):
            log = open(os.path.join(state_dir, 'worker-%d.log' % index), 'w')
            logs.append(log)
            processes.append(spawn_worker(db, stop, log))
        # The clock starts when a worker is up (Odoo's start-up is not the queue's time).
        while not any(name.startswith('stop.ready.') for name in os.listdir(state_dir)):
            time.sleep(0.1)
        started = time.monotonic()
        injector = None
        if fault_rate:
            injector = FaultInjector(emulator, int(n * fault_rate), lambda: settled() / n, kill_worker)
            injector.start()
        deadline = started + max(600, n * 3)
        done = 0
        while time.monotonic() < deadline:
            done = settled()
            if done >= n:
                break
            time.sleep(1)
        settle = time.monotonic() - started
        if injector:
            injector.stop.set()
        open(stop, 'w').close()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

        # -- figures ------------------------------------------------------------------------
        odoo_rows = psql(db, "SELECT m.id, m.name, m.l10n_pl_ksef_state, coalesce(m.l10n_pl_ksef_number, ''),"
                             " coalesce(m.l10n_pl_ksef_invoice_hash, ''), coalesce(m.l10n_pl_ksef_reference, ''),"
                             " coalesce(s.reference_number, ''), coalesce(m.l10n_pl_ksef_upo_attachment_id, 0)"
                             " FROM account_move m LEFT JOIN ksef_session s ON s.id = m.l10n_pl_ksef_session_id"
                             " WHERE m.id IN (%s)" % ids).splitlines()
        ksef = emulator_invoices(state_dir)
        per_number = {}
        for row in ksef:
            match = re.search(rb'<P_2>([^<]+)</P_2>', row['content'] or b'')
            if match:
                per_number.setdefault(match.group(1).decode(), []).append(row)
        accepted_in_ksef = {row['ksef_number']: row for row in ksef if row['status_code'] == 200}
        lost = sent_twice = phantom = upo_equal = 0
        upo_checks = []
        for line in odoo_rows:
            move_id, name, state, number, invoice_hash, reference, session, upo_id = line.split('|')
            received = [row for row in per_number.get(name, []) if row['status_code'] not in (None,)]
            if len(received) > 1:
                sent_twice += 1
            if state != 'accepted' or upo_id == '0':
                lost += 1
                continue
            held = accepted_in_ksef.get(number)
            if held is None or held['invoice_hash'] != invoice_hash:
                phantom += 1
                continue
            upo_checks.append((session, reference, int(upo_id)))
        # A one-shot fault the queue never met (e.g. on the per-invoice UPO endpoint, which the addon no longer
        # needs: UPOs come from pre-signed links) must not hit the checker's own reads.
        emulator.admin('/faults', method='DELETE')
        upo_equal = check_upos(db, emulator, issued, upo_checks)
        return {'n': n, 'settle': settle, 'lost': lost, 'sent_twice': sent_twice, 'phantom': phantom,
                'upo_equal': upo_equal, 'events': injector.events if injector else [],
                'faults': injector.injected if injector else 0, 'state_dir': state_dir}
    finally:
        open(stop, 'w').close()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        emulator.stop()
        if not keep:
            sh('dropdb --if-exists %s' % db, check=False)


USER = r"""
import json, os, time
from odoo.exceptions import UserError
while not any(name.startswith('stop.ready.') for name in os.listdir(%(state_dir)r)):
    time.sleep(0.05)  # the worker is up: act while it sends
import psycopg2
outcomes = {}
for move_id in %(ids)r:
    # One request of the web client: a fresh transaction, retried on a serialization failure exactly as
    # Odoo's RPC layer does (odoo.service.model.retrying).
    for attempt in range(5):
        env.cr.rollback()
        env.invalidate_all()
        move = env['account.move'].browse(move_id)
        try:
            move.action_l10n_pl_ksef_cancel_sending()  # "Cancel KSeF sending"
            move.button_draft()                        # then "Reset to Draft"
            env.cr.commit()
            outcomes[move_id] = 'reset'
        except UserError as error:
            env.cr.rollback()
            outcomes[move_id] = 'refused: ' + str(error).splitlines()[0]
        except psycopg2.errors.SerializationFailure:
            env.cr.rollback()
            outcomes[move_id] = 'serialization failure (retried)'
            time.sleep(0.1)
            continue
        break
    time.sleep(%(pause)s)
print('OUTCOMES ' + json.dumps(outcomes))
"""


def race(n, keep):
    """A user resets invoices while a worker is sending them (KSeF answers slowly): one side wins cleanly."""
    db = DB_PREFIX + '_race'
    sh('dropdb --if-exists %s' % db)
    sh('createdb -T %s %s' % (BASE_DB, db))
    state_dir = tempfile.mkdtemp(prefix='ksef-race-')
    emulator = start_emulator(state_dir=state_dir, rateLimitsEnabled=True)
    stop = os.path.join(state_dir, 'stop')
    worker = None
    try:
        issued = emulator.create_token(SELLER_NIP, permissions=['InvoiceRead', 'InvoiceWrite'])
        odoo_shell(db, SETUP % {'url': emulator.base_url, 'token': issued['token'],
                                'reference': issued['referenceNumber'], 'n': n, 'groups': RAISED_GROUPS})
        ids = [int(i) for i in psql(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM account_move"
                                        " WHERE l10n_pl_ksef_state = 'queued'").split(',')]
        # Each sending takes 1.5 s on KSeF's side: the worker holds the invoice's row lock meanwhile.
        emulator.admin('/faults', {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST',
                                   'kind': 'slow', 'delaySeconds': 1.5, 'count': n})
        # The user's session starts first and waits for the worker; it clicks on invoices the worker is
        # sending, has sent, or has not reached yet (alternately from both ends of the queue).
        order = [ids[i // 2] if i % 2 == 0 else ids[-1 - i // 2] for i in range(len(ids))]
        user_log = open(os.path.join(state_dir, 'user.log'), 'w+')
        user = odoo_shell(db, None, background=True, log=user_log)
        user.stdin.write(USER % {'ids': order, 'pause': 0.8, 'state_dir': state_dir})
        user.stdin.close()
        time.sleep(8)  # Odoo's start-up of the user's session
        worker = spawn_worker(db, stop, open(os.path.join(state_dir, 'worker.log'), 'w'))
        user.wait(timeout=300)
        user_log.seek(0)
        output = user_log.read()
        outcomes = json.loads(output.split('OUTCOMES ', 1)[1].splitlines()[0])
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and psql(db, "SELECT count(*) FROM account_move WHERE id IN (%s) AND "
                                                       "l10n_pl_ksef_state IN ('queued', 'sending', 'sent')"
                                                       % ','.join(map(str, ids))) != '0':
            time.sleep(1)
        open(stop, 'w').close()
        worker.wait(timeout=60)
        rows = psql(db, "SELECT id, name, state, l10n_pl_ksef_state, coalesce(l10n_pl_ksef_number, '') FROM "
                        "account_move WHERE id IN (%s)" % ','.join(map(str, ids))).splitlines()
        in_ksef = {}
        for row in emulator_invoices(state_dir):
            match = re.search(rb'<P_2>([^<]+)</P_2>', row['content'] or b'')
            if match:
                in_ksef.setdefault(match.group(1).decode(), []).append(row)
        inconsistent = reset = refused = 0
        for row in rows:
            move_id, name, state, ksef_state, number = row.split('|')
            outcome = outcomes.get(move_id, '')
            held = in_ksef.get(name, [])
            if outcome == 'reset':
                reset += 1
                # Reset wins: KSeF never received it, Odoo shows a draft not sent.
                ok = state == 'draft' and ksef_state == 'not_sent' and not held
            else:
                refused += 1
                # The sending wins: KSeF holds exactly what Odoo shows as accepted, still posted.
                ok = state == 'posted' and ksef_state == 'accepted' and len(held) == 1 \
                    and held[0]['ksef_number'] == number
            if not ok:
                inconsistent += 1
                print('    inconsistent: %s %s %s %s (%s), KSeF rows: %d' % (move_id, name, state, ksef_state,
                                                                             outcome, len(held)))
        return {'n': n, 'reset': reset, 'refused': refused, 'inconsistent': inconsistent,
                'refusals': sorted({o for o in outcomes.values() if o != 'reset'})}
    finally:
        open(stop, 'w').close()
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        emulator.stop()
        if not keep:
            sh('dropdb --if-exists %s' % db, check=False)


def check_upos(db, emulator, issued, checks):
    """Count attached UPOs byte-identical to what KSeF serves for the invoice."""
    import urllib.error
    import urllib.request
    from ksef_protocol import Environment, KsefClient
    client = KsefClient(Environment.custom(emulator.base_url))
    client.authenticate_with_ksef_token(SELLER_NIP, issued['token'])

    def ksef_upo(session, reference):
        # Plain HTTP: the check must not wait for the client-side rate limiter of 1,000 downloads.
        request = urllib.request.Request('%s/sessions/%s/invoices/%s/upo' % (emulator.base_url, session, reference),
                                         headers={'Authorization': 'Bearer ' + client.access_token})
        for _attempt in range(10):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                if error.code != 429:
                    raise
                # KSeF's limits hold for the check too (the emulator enforces them): wait as told.
                time.sleep(float(error.headers.get('Retry-After') or 1))
        raise SystemExit('UPO check: KSeF kept answering 429')
    equal = 0
    # One query for every file name (a psql process per invoice took minutes for 1,000).
    ids = ','.join(str(upo_id) for _session, _reference, upo_id in checks) or 'NULL'
    stored = dict(line.split('|', 1) for line in psql(
        db, "SELECT id, store_fname FROM ir_attachment WHERE id IN (%s)" % ids).splitlines() if line)
    for session, reference, upo_id in checks:
        path = os.path.join(filestore(db), stored[str(upo_id)].strip())
        with open(path, 'rb') as handle:
            ours = handle.read()
        if ksef_upo(session, reference) == ours:
            equal += 1
    return equal


def filestore(db):
    return os.path.join(os.path.expanduser('~/.local/share/Odoo/filestore'), db)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-n', type=int, default=1000)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--fault-rate', type=float, default=0.10)
    parser.add_argument('--no-baseline', action='store_true')
    parser.add_argument('--keep', action='store_true', help="keep the run databases")
    parser.add_argument('--race', type=int, default=0, metavar='N',
                        help="only the race: a user resets N queued invoices while a worker sends them")
    args = parser.parse_args()
    prepare_base()
    if args.race:
        result = race(args.race, args.keep)
        print('race (reset while sending): N=%d, reset before sending=%d, reset refused while sending or '
              'after=%d, inconsistent=%d' % (result['n'], result['reset'], result['refused'], result['inconsistent']))
        for refusal in result['refusals']:
            print('    %s' % refusal)
        return 1 if result['inconsistent'] else 0
    results = []
    if not args.no_baseline:
        print('[soak] fault-free run, N=%d, %d workers' % (args.n, args.workers), flush=True)
        results.append(('fault-free', run(args.n, args.workers, 0.0, args.keep)))
    print('[soak] run with ~%d%% faults, N=%d, %d workers' % (args.fault_rate * 100, args.n, args.workers), flush=True)
    results.append(('with faults' if args.fault_rate else 'fault-free',
                    run(args.n, args.workers, args.fault_rate, args.keep)))
    for label, result in results:
        print('%s: N=%d, faults injected=%d, lost=%d, sent twice=%d, shown accepted but not in KSeF=%d, '
              'UPO byte-equal=%d of %d, settle=%.1f s' % (
                  label, result['n'], result['faults'], result['lost'], result['sent_twice'], result['phantom'],
                  result['upo_equal'], result['n'], result['settle']))
        for event in result['events']:
            print('    %s' % event)
    if len(results) == 2:
        print('settle time with faults / fault-free: %.2fx' % (results[1][1]['settle'] / results[0][1]['settle']))
    bad = results[-1][1]
    return 1 if bad['lost'] or bad['sent_twice'] or bad['phantom'] or bad['upo_equal'] != bad['n'] else 0


if __name__ == '__main__':
    sys.exit(main())
