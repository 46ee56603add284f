#!/usr/bin/env python3
"""Benchmark: FA(3) build time per invoice next to Odoo's own UBL export
(account_edi_ubl_cii, Peppol BIS 3) for the same invoices in the same run.

Usage (from the repository root):

    python3 scripts/bench_fa3.py [N]          # N invoices (default 200)

Run that way, the script copies the test template database (as scripts/test.sh
does), installs l10n_pl_ksef in the copy, runs itself inside ``odoo shell``
and drops the copy.  Inside an existing database it can also be piped into
``odoo shell -d DB`` (``BENCH_FA3_N`` sets N); everything it creates is rolled back.
"""
import os
import subprocess
import sys
import time

LONG_INVOICE_LINES = int(os.environ.get('BENCH_FA3_LINES') or 200)
BENCH_COUNT = int(os.environ.get('BENCH_FA3_N') or (sys.argv[1] if len(sys.argv) > 1 else 200))


def run_in_fresh_database():
    """Outside Odoo: run this file in ``odoo shell`` on a throw-away copy of the template database."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.call(['bash', 'scripts/odoo_shell_fresh_db.sh', 'bench', 'scripts/bench_fa3.py'], cwd=root,
                           env=dict(os.environ, BENCH_FA3_N=str(BENCH_COUNT)))


def benchmark(env, count):
    """Create ``count`` posted Polish invoices of mixed rates and time both exports."""
    from odoo import Command
    from odoo.addons.l10n_pl_ksef.ksef_protocol.fa3 import validate_fa3

    # chart_template_load: no automatic install of country modules (e.g. account_peppol) for the new company.
    company = env['res.company'].with_context(chart_template_load=True).create({
        'name': 'Benchmark Sp. z o.o.', 'vat': '5260250009', 'street': 'ul. Prosta 1', 'zip': '00-001',
        'city': 'Warszawa', 'country_id': env.ref('base.pl').id, 'currency_id': env.ref('base.PLN').id})
    env.user.company_ids |= company
    env = env(context=dict(env.context, allowed_company_ids=[company.id]))
    env['account.chart.template'].try_loading('pl', company=company, install_demo=False)
    chart = env['account.chart.template'].with_company(company)
    taxes = [chart.ref(code) for code in ('vs_kraj_23', 'vs_kraj_8', 'vs_kraj_5')]
    buyer = env['res.partner'].create({
        'name': 'Odbiorca S.A.', 'is_company': True, 'vat': 'PL1234560007', 'street': 'ul. Długa 5',
        'zip': '80-001', 'city': 'Gdańsk', 'country_id': env.ref('base.pl').id})
    product = env['product.product'].create({'name': 'Towar', 'default_code': 'T-1'})
    moves = env['account.move'].create([{
        'move_type': 'out_invoice', 'partner_id': buyer.id, 'invoice_date': '2026-02-02',
        'invoice_line_ids': [Command.create({
            'product_id': product.id, 'name': 'Pozycja %d' % line, 'quantity': 1 + (index + line) % 7,
            'price_unit': 10.0 + 3.7 * line + index % 13, 'tax_ids': [Command.set(taxes[line % 3].ids)]})
            for line in range(1 + index % 5)],
    } for index in range(count)])
    moves.action_post()
    ubl = env['account.edi.xml.ubl_bis3']

    started = time.perf_counter()
    fa3_documents = [move._l10n_pl_ksef_render_fa3() for move in moves]
    fa3_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ubl_documents = [ubl._export_invoice(move)[0] for move in moves]
    ubl_seconds = time.perf_counter() - started
    for xml in fa3_documents:
        validate_fa3(xml)

    lines = sum(len(move.invoice_line_ids) for move in moves)
    print("invoices: %d (%d lines)" % (count, lines))
    print("FA(3) build+XSD validation (l10n_pl_ksef): %7.2f ms per invoice, %6.2f s total, %d bytes avg"
          % (1000 * fa3_seconds / count, fa3_seconds, sum(map(len, fa3_documents)) // count))
    print("UBL BIS 3 export (account_edi_ubl_cii):     %7.2f ms per invoice, %6.2f s total, %d bytes avg"
          % (1000 * ubl_seconds / count, ubl_seconds, sum(map(len, ubl_documents)) // count))
    bench_long_invoice(env, buyer, product, taxes, LONG_INVOICE_LINES)


def bench_long_invoice(env, buyer, product, taxes, line_count):
    """Render one invoice of ``line_count`` lines from a cold cache: the cost must grow with lines only."""
    from odoo import Command
    move = env['account.move'].create({
        'move_type': 'out_invoice', 'partner_id': buyer.id, 'invoice_date': '2026-02-02',
        'invoice_line_ids': [Command.create({
            'product_id': product.id, 'name': 'Pozycja %d' % line, 'quantity': 1 + line % 7,
            'price_unit': 10.0 + 3.7 * line, 'tax_ids': [Command.set(taxes[line % 3].ids)]})
            for line in range(line_count)],
    })
    move.action_post()
    timings = []
    for _attempt in range(3):
        env.invalidate_all()  # each render reads everything from the database, as a new request would
        started = time.perf_counter()
        move._l10n_pl_ksef_render_fa3()
        timings.append(time.perf_counter() - started)
    best = min(timings)
    if os.environ.get('BENCH_FA3_PROFILE'):  # where the time of one render goes
        import cProfile
        import pstats
        env.invalidate_all()
        profiler = cProfile.Profile()
        profiler.runcall(move._l10n_pl_ksef_render_fa3)
        pstats.Stats(profiler).sort_stats('cumulative').print_stats(40)
    print("FA(3) of one %d-line invoice: %7.1f ms (best of 3, cold ORM cache), %.2f ms per line"
          % (line_count, 1000 * best, 1000 * best / line_count))


if 'env' in globals():  # inside odoo shell
    try:
        benchmark(env, BENCH_COUNT)  # noqa: F821 (provided by odoo shell)
    finally:
        env.cr.rollback()  # noqa: F821
elif __name__ == '__main__':
    sys.exit(run_in_fresh_database())
