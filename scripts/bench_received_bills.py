#!/usr/bin/env python3
"""Benchmark: time to turn received FA(3) invoices into draft vendor bills, with and without the
visual (PDF through wkhtmltopdf) timed apart, on the third-party samples of tests/data/fa3_samples.

Usage (from the repository root):

    python3 scripts/bench_received_bills.py [ROUNDS]     # every sample ROUNDS times (default 3)

Run that way, the script copies the test template database (as scripts/test.sh does), installs
l10n_pl_ksef in the copy, runs itself inside ``odoo shell`` and drops the copy. Everything it creates
is rolled back.
"""
import glob
import os
import subprocess
import sys
import time

ROUNDS = int(os.environ.get('BENCH_BILLS_ROUNDS') or (sys.argv[1] if len(sys.argv) > 1 else 3))
ROOT = os.environ.get('BENCH_BILLS_ROOT') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_in_fresh_database():
    """Outside Odoo: run this file in ``odoo shell`` on a throw-away copy of the template database."""
    return subprocess.call(['bash', 'scripts/odoo_shell_fresh_db.sh', 'bench_bills', 'scripts/bench_received_bills.py',
                            'error'], cwd=ROOT, env=dict(os.environ, BENCH_BILLS_ROOT=ROOT, BENCH_BILLS_ROUNDS=str(ROUNDS)))


def benchmark(env, rounds):
    company = env['res.company'].with_context(chart_template_load=True).create({
        'name': 'F.H.U. Jan Kowalski', 'vat': 'PL1111111111', 'country_id': env.ref('base.pl').id,
        'currency_id': env.ref('base.PLN').id})
    env.user.company_ids |= company
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))
    env['account.chart.template'].try_loading('pl', company=company, install_demo=False)
    samples = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'tests', 'data', 'fa3_samples', '*.xml'))):
        with open(path, 'rb') as handle:
            samples.append(handle.read())
    Move = env['account.move']
    bills = Move
    started = time.perf_counter()
    for round_ in range(rounds):
        for index, xml in enumerate(samples):
            bills |= Move._l10n_pl_ksef_import_received_invoice(company, 'BENCH-%d-%d' % (round_, index), xml)
    total = time.perf_counter() - started
    started = time.perf_counter()
    for bill in bills:
        bill._l10n_pl_ksef_attach_visual()  # the visual alone, drawn a second time
    visual = time.perf_counter() - started
    count = len(bills)
    pdfs = env['ir.attachment'].search_count([('res_model', '=', 'account.move'), ('res_id', 'in', bills.ids),
                                              ('mimetype', '=', 'application/pdf')])
    print("received bills: %d (%d samples x %d rounds), %d PDF visuals" % (count, len(samples), rounds, pdfs))
    print("import with visual:  %7.1f ms per bill (%.2f s)" % (1000 * total / count, total))
    print("visual (PDF) alone:  %7.1f ms per bill (%.2f s)" % (1000 * visual / count, visual))
    print("import without it:   %7.1f ms per bill" % (1000 * (total - visual) / count))


if 'env' in globals():  # inside odoo shell
    try:
        benchmark(env, ROUNDS)  # noqa: F821 (provided by odoo shell)
    finally:
        env.cr.rollback()  # noqa: F821
elif __name__ == '__main__':
    sys.exit(run_in_fresh_database())
