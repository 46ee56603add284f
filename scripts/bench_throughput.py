#!/usr/bin/env python3
"""Throughput benchmark: N posted invoices -> all accepted by KSeF with their UPO; prints figures.

    scripts/bench_throughput.py N [--online] [--budget SECONDS] [--keep]

A copy of the soak database (scripts/soak.py prepares it once: Polish company, chart of accounts,
l10n_pl_ksef installed) and an emulator of its own with KSeF's *production* rate limits for the
company's context (``POST /testdata/rate-limits/production``). N invoices are created and posted
by a fast path (one ``create`` and one ``action_post`` for all, timed apart) and queued. One
``odoo shell`` worker then runs the queue exactly as the scheduled action does: each run is
``_l10n_pl_ksef_process_queue()`` followed by a commit, and the next run starts when the action
would be re-triggered (``retry_at``), or after the action's own 5-minute interval when none is set.

Batch mode (default): the company's batch threshold is 100, so the queue travels in batch sessions.
``--online``: threshold 0, every invoice goes through an online session (``--budget`` bounds the
run: production allows 180 online sends an hour, so 300 invoices need more than an hour).

Printed: posting time; posted -> all accepted with UPO; API calls per endpoint (from the emulator's
request log) and the 429 answers; Odoo time per invoice split into FA(3) build, SQL, HTTP and the
rest (waits of the client-side limiter are not Odoo time); the longest run; the worker's peak RSS;
the lower bound (the fewest rate-limited calls the production limits allow for N, at their pace,
plus the measured pure FA(3) build cost) and the ratio to it.

Environment: ``BENCH_RUNS=1`` prints each run of the scheduled action; ``BENCH_PROFILE=DIR`` writes a
cProfile of each run to ``DIR/run-NN.prof``.
"""
import argparse
import collections
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402  (re-executes in the project's virtualenv when needed)
from soak import BASE_DB, SELLER_NIP, odoo_shell, prepare_base, psql, sh  # noqa: E402
from ksef_emulator.testing import start_emulator  # noqa: E402

CRON_INTERVAL = 300.0  # data/ksef_cron.xml: every 5 minutes

SETUP = r'''
import datetime, time, zoneinfo
company = env.ref('base.main_company')
company.write({'l10n_pl_ksef_environment': 'custom', 'l10n_pl_ksef_custom_url': %(url)r,
               'l10n_pl_ksef_auth_method': 'token', 'l10n_pl_ksef_auto_send': False,
               'l10n_pl_ksef_batch_threshold': %(threshold)d})
env['ksef.token'].create({'company_id': company.id, 'environment': 'custom', 'name': 'Bench token',
                          'token': %(token)r, 'reference_number': %(reference)r})
buyer = env['res.partner'].search([('ref', '=', 'SOAK-BUYER')], limit=1)
tax = env.ref('account.%%s_vs_kraj_usl_23' %% company.id)
today = datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Warsaw')).date()
started = time.perf_counter()
moves = env['account.move'].create([{
    'move_type': 'out_invoice', 'partner_id': buyer.id, 'invoice_date': today,
    'invoice_line_ids': [(0, 0, {'name': 'Usługa %%d' %% i, 'quantity': 1, 'price_unit': 100 + i,
                                 'tax_ids': [(6, 0, tax.ids)]})],
} for i in range(%(n)d)])
moves.action_post()
posted = time.perf_counter() - started
moves._l10n_pl_ksef_queue()
env.cr.commit()
print('POSTED %%d %%.3f' %% (len(moves), posted))
'''

WORKER = r'''
import cProfile, datetime, json, os, resource, threading, time
import requests
from odoo.addons.l10n_pl_ksef.ksef_protocol import ratelimit
Move = env['account.move']
cls = type(Move)
totals = collections_counter = {'render': 0.0, 'http': 0.0, 'limiter_wait': 0.0, 'sql': 0.0}

main_thread = threading.current_thread()
def timed(owner, name, key):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if threading.current_thread() is not main_thread:  # background UPO downloads: their waits count in take
            return original(*args, **kwargs)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - started
    setattr(owner, name, wrapper)

timed(cls, '_l10n_pl_ksef_render_fa3', 'render')
# HTTP waited for by the run: calls of its own thread, and the waits for UPOs downloaded in the background.
timed(requests.Session, 'send', 'http')
from odoo.addons.l10n_pl_ksef.ksef_protocol.api_sessions import UpoDownloads
timed(UpoDownloads, 'take', 'http')
original_acquire = ratelimit.RateLimiter.acquire
def acquire(self, group):
    waited = original_acquire(self, group)
    totals['limiter_wait'] += waited
    return waited
ratelimit.RateLimiter.acquire = acquire
thread = threading.current_thread()
ids = %(ids)r
deadline = time.monotonic() + %(budget)f
runs = []
started = time.monotonic()
def done():
    return Move.search_count([('id', 'in', ids), ('l10n_pl_ksef_state', '=', 'accepted'),
                              ('l10n_pl_ksef_upo_attachment_id', '!=', False)])
settled = 0
while time.monotonic() < deadline:
    thread.query_time = 0.0
    thread.query_count = 0
    before = dict(totals)
    run_started = time.perf_counter()
    profiler = cProfile.Profile() if %(profile)r else None
    try:
        if profiler:
            profiler.enable()
        result = Move._l10n_pl_ksef_process_queue()
        env.cr.commit()
    except Exception as error:
        env.cr.rollback()
        result = {'retry_at': None}
        print('RUN FAILED', repr(error))
    wall = time.perf_counter() - run_started
    if profiler:
        profiler.disable()
        profiler.dump_stats(os.path.join(%(profile)r, 'run-%%02d.prof' %% len(runs)))
    env.invalidate_all()
    totals['sql'] += thread.query_time
    settled = done()
    runs.append({'wall': wall, 'sql': thread.query_time, 'queries': thread.query_count,
                 'render': totals['render'] - before['render'], 'http': totals['http'] - before['http'],
                 'wait': totals['limiter_wait'] - before['limiter_wait'], 'settled': settled,
                 'at': time.monotonic() - started})
    if settled >= len(ids):
        break
    retry_at = result['retry_at']
    # What ir.cron does: run again at the trigger set by the run, else at the next interval.
    delay = %(interval)f if retry_at is None else (retry_at - datetime.datetime.utcnow()).total_seconds()
    time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
print('RESULT ' + json.dumps({'elapsed': time.monotonic() - started, 'settled': settled, 'runs': runs,
                              'totals': totals, 'rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''

BUILD = r'''
import time
moves = env['account.move'].browse(%(ids)r)
# Warm-up (the XSD and the registry's caches load once per process), then the timed renders.
for move in moves[:5]:
    move._l10n_pl_ksef_render_fa3()
moves = moves[5:]
moves.mapped('name')
env.invalidate_all()
started = time.perf_counter()
for move in moves:
    move._l10n_pl_ksef_render_fa3()
print('BUILD %%.6f' %% ((time.perf_counter() - started) / len(moves)))
env.cr.rollback()
'''


def endpoint(path):
    path = re.sub(r'/v2/', '/', path.split('?')[0])
    path = re.sub(r'/(\d{8}-[A-Z]{2}-[0-9A-F-]+)', '/{ref}', path)
    path = re.sub(r'/[0-9a-f]{16,}[^/]*', '/{id}', path)
    return path


def api_calls(log_text):
    calls = collections.Counter()
    too_many = collections.Counter()
    for match in re.finditer(r'"([A-Z]+) (\S+)" (\d{3}|---)', log_text):
        method, path, status = match.groups()
        if path.startswith('/admin') or '/testdata/' in path:
            continue
        key = '%s %s' % (method, endpoint(path))
        calls[key] += 1
        if status == '429':
            too_many[key] += 1
    return calls, too_many


def group_pace(count, limits):
    """Fewest seconds ``count`` requests need under ``(per_second, per_minute, per_hour)`` limits."""
    seconds = 0.0
    for window, limit in zip((1, 60, 3600), limits):
        if limit and limit > 0 and count > limit:
            seconds = max(seconds, (math.ceil(count / limit) - 1) * window)
    return seconds


def lower_bound(n, online, limits, build_seconds):
    """The fewest rate-limited calls KSeF needs for N invoices, and the time the limits force on them."""
    def of(group):
        values = limits.get(group) or limits.get('other') or {}
        return tuple(values.get(name) for name in ('perSecond', 'perMinute', 'perHour'))
    sessions = math.ceil(n / 10000)
    pages = math.ceil(n / 1000)
    if online:
        # one online session per 10,000 invoices (open, close), one send per invoice, the statuses read from
        # the session's invoice list, 1,000 a page (UPOs from the pre-signed links, not rate-limited).
        groups = {'onlineSession': sessions, 'invoiceSend': n, 'onlineSessionClose': sessions,
                  'sessionInvoiceList': pages}
    else:
        # one batch session per 10,000 invoices (open, close), one session status read, and one page of
        # the session's invoice list per 1,000 invoices (UPOs from pre-signed links, not rate-limited).
        groups = {'batchSession': sessions, 'batchSessionClose': sessions, 'sessionMisc': sessions,
                  'sessionInvoiceList': pages}
    pace = max(group_pace(count, of(group)) for group, count in groups.items())
    return sum(groups.values()), pace + build_seconds * n, groups


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('n', type=int, nargs='?', default=1000)
    parser.add_argument('--online', action='store_true')
    parser.add_argument('--budget', type=float, default=3600.0, help="seconds the worker may run")
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args()
    prepare_base()
    db = 'ksef_bench_tp_%d' % os.getpid()
    sh('createdb -T %s %s' % (BASE_DB, db))
    state_dir = tempfile.mkdtemp(prefix='ksef-bench-')
    # Rate limits on (the test default turns them off), no response validation (not KSeF's cost).
    emulator = start_emulator(state_dir=state_dir, rateLimitsEnabled=True, validateResponses=False)
    worker = None
    try:
        issued = emulator.create_token(SELLER_NIP, permissions=['InvoiceRead', 'InvoiceWrite'])
        limits = production_limits(emulator, issued['token'])
        output = odoo_shell(db, SETUP % {'url': emulator.base_url, 'token': issued['token'],
                                         'reference': issued['referenceNumber'], 'n': args.n,
                                         'threshold': 0 if args.online else 100})
        count, post_seconds = re.search(r'POSTED (\d+) ([\d.]+)', output).groups()
        ids = [int(i) for i in psql(db, "SELECT string_agg(id::text, ',' ORDER BY id) FROM account_move WHERE "
                                        "l10n_pl_ksef_state = 'queued'").split(',')]
        log = open(os.path.join(state_dir, 'worker.log'), 'w+')
        worker = odoo_shell(db, None, background=True, log=log)
        worker.stdin.write(WORKER % {'ids': ids, 'budget': args.budget, 'interval': CRON_INTERVAL,
                                     'profile': os.environ.get('BENCH_PROFILE') or ''})
        worker.stdin.close()
        worker.wait()
        log.seek(0)
        text = log.read()
        if 'RESULT ' not in text:
            raise SystemExit('worker failed:\n' + text[-5000:])
        result = json.loads(text.split('RESULT ', 1)[1].splitlines()[0])
        sample = ids[:min(len(ids), 205)]
        build = float(re.search(r'BUILD ([\d.]+)', odoo_shell(db, BUILD % {'ids': sample})).group(1))
        calls, too_many = api_calls(emulator.log_text())
        report(args, int(count), float(post_seconds), result, calls, too_many, limits, build, text)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        emulator.stop()
        if not args.keep:
            sh('dropdb --if-exists %s' % db, check=False)


def production_limits(emulator, token):
    """Authenticate in the seller's context, switch it to production limits and read them back."""
    from ksef_protocol import Environment, KsefClient
    import requests
    client = KsefClient(Environment.custom(emulator.base_url))
    client.authenticate_with_ksef_token(SELLER_NIP, token)
    access = client.access_token
    access = getattr(access, 'token', access)
    headers = {'Authorization': 'Bearer %s' % access}
    response = requests.post(emulator.base_url + '/testdata/rate-limits/production', headers=headers, timeout=30)
    response.raise_for_status()
    return requests.get(emulator.base_url + '/rate-limits', headers=headers, timeout=30).json()


def report(args, count, post_seconds, result, calls, too_many, limits, build, worker_log):
    runs = result['runs']
    n = count
    odoo = sum(run['wall'] - run['http'] - run['wait'] for run in runs)
    render = sum(run['render'] for run in runs)
    sql = sum(run['sql'] for run in runs)
    http = sum(run['http'] for run in runs)
    wait = sum(run['wait'] for run in runs)
    settled = result['settled']
    total_calls, bound, groups = lower_bound(n, args.online, limits, build)
    print('mode: %s, N=%d (production rate limits)' % ('online' if args.online else 'batch', n))
    print('posting (fast path, not counted below): %.1f s, %.1f ms per invoice' % (post_seconds,
                                                                                1000 * post_seconds / n))
    print('posted -> accepted with UPO: %d of %d in %.1f s (%d runs of the scheduled action)'
          % (settled, n, result['elapsed'], len(runs)))
    print('API calls (rate-limited endpoints and pre-signed links), 429 answers: %d' % sum(too_many.values()))
    for key, value in sorted(calls.items(), key=lambda item: -item[1]):
        print('    %6d  %s%s' % (value, key, ('  (429: %d)' % too_many[key]) if too_many[key] else ''))
    per = max(1, min(n, settled))  # per invoice accepted with its UPO
    print('Odoo time: %.1f ms per invoice accepted (%.1f s): FA(3) build+XSD %.1f, SQL %.1f, rest (ORM/Python) %.1f'
          % (1000 * odoo / per, odoo, 1000 * render / per, 1000 * sql / per, 1000 * (odoo - render - sql) / per))
    print('HTTP %.1f ms per invoice, client-side limiter waits %.1f s in total' % (1000 * http / per, wait))
    idle = result['elapsed'] - sum(run['wall'] for run in runs)
    print('posted -> accepted split: Odoo %.1f s, waiting for KSeF in runs (HTTP) %.1f s, between runs '
          '(re-trigger delays) %.1f s' % (odoo, http, idle))
    longest = max(runs, key=lambda run: run['wall'])
    print('longest run: %.1f s (%d queries); runs > 60 s: %d' % (longest['wall'], longest['queries'],
                                                               sum(run['wall'] > 60 for run in runs)))
    print('peak RSS of the worker: %.0f MiB' % (result['rss_kb'] / 1024))
    print('lower bound: %d rate-limited calls %s at the production pace + pure FA(3) build %.2f ms x N = %.1f s'
          % (total_calls, json.dumps(groups), 1000 * build, bound))
    if settled >= n:
        print('ratio (posted -> all accepted with UPO) / lower bound: %.2f' % (result['elapsed'] / bound))
    else:
        print('ratio: not finished within the budget (%d of %d accepted with UPO after %.0f s)'
              % (settled, n, result['elapsed']))
    if os.environ.get('BENCH_RUNS'):
        for run in runs:
            print('    run at %7.1f s: %6.2f s wall, sql %.2f, render %.2f, http %.2f, wait %.2f, settled %d'
                  % (run['at'], run['wall'], run['sql'], run['render'], run['http'], run['wait'], run['settled']))
    failed = worker_log.count('RUN FAILED')
    if failed:
        print('runs that failed: %d (see the worker log)' % failed)


if __name__ == '__main__':
    main()
