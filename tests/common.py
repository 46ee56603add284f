"""Base class for Odoo tests that talk HTTP to the project's KSeF emulator (no mocking of our client)."""
import datetime
import json
import os
import sys
import time
import urllib.request
import uuid
import zoneinfo

from odoo.fields import Command
from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SELLER_NIP = '5260250009'
SECOND_SELLER_NIP = '5265877635'
BUYER_NIP = '1234560007'


def reset_ksef_rate_limits(env):
    """Forget the client's remembered KSeF rate limits (kept in the database, committed apart from the
    test's transaction): each test is a scenario of its own, while the emulator lives for the class."""
    with env.registry.cursor() as cr:
        cr.execute("DELETE FROM ksef_rate_limit_state")


def _emulator_module():
    # The emulator is a development tool next to the addon, not part of it: import it only here.
    if REPO_ROOT not in sys.path:
        sys.path.append(REPO_ROOT)
    from ksef_emulator import testing
    return testing


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class KsefEmulatorCase(AccountTestInvoicingCommon):
    """A Polish company configured for a freshly started emulator, with a KSeF token.

    ``emulator_config`` (class attribute) is passed to ``start_emulator``. The emulator
    runs once per class and is stopped in tearDownClass.
    """

    emulator_config = {}

    @classmethod
    @AccountTestInvoicingCommon.setup_country('pl')
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = _emulator_module().start_emulator(**cls.emulator_config)
        cls.addClassCleanup(cls.emulator.stop)
        cls.company = cls.company_data['company']
        cls.configure_ksef_company(cls.company, SELLER_NIP)
        cls.buyer = cls.env['res.partner'].create({
            'name': "Odbiorca S.A.",
            'is_company': True,
            'vat': 'PL' + BUYER_NIP,
            'street': "ul. Długa 5",
            'zip': '80-001',
            'city': "Gdańsk",
            'country_id': cls.env.ref('base.pl').id,
        })

    @classmethod
    def configure_ksef_company(cls, company, nip):
        """Point ``company`` at the emulator and give it a KSeF token valid there."""
        company.write({
            'vat': 'PL' + nip,
            'street': "ul. Marszałkowska 1/2",
            'zip': '00-624',
            'city': "Warszawa",
            'country_id': cls.env.ref('base.pl').id,
            'l10n_pl_ksef_environment': 'custom',
            'l10n_pl_ksef_custom_url': cls.emulator.base_url,
            'l10n_pl_ksef_auth_method': 'token',
            'l10n_pl_ksef_auto_send': False,
        })
        issued = cls.emulator.create_token(nip, permissions=['InvoiceRead', 'InvoiceWrite'])
        cls.env['ksef.token'].sudo().create({
            'name': "Emulator token",
            'company_id': company.id,
            'environment': 'custom',
            'token': issued['token'],
            'reference_number': issued['referenceNumber'],
            'permissions': 'InvoiceRead, InvoiceWrite',
        })

    def setUp(self):
        super().setUp()
        # Every test starts from a healthy emulator with no leftover fault or clock offset.
        self.emulator.admin('/faults', method='DELETE')
        reset_ksef_rate_limits(self.env)
        self.emulator.admin('/clock', {'offsetSeconds': 0})
        # The test fails if the emulator answered outside open-api.json or crashed while serving it.
        self.emulator.contract_violations()
        self.addCleanup(self.emulator.assert_contract_clean)
        # The emulator outlives each test's rollback and refuses a second invoice with the same
        # number as a duplicate (440): each test numbers its invoices in a journal of its own.
        self.sales_journal = self.make_sales_journal(self.company)

    def make_sales_journal(self, company):
        code = 'K' + uuid.uuid4().hex[:4].upper()
        sales = self.env['account.journal'].search([('company_id', '=', company.id), ('type', '=', 'sale')], limit=1)
        return sales.copy({'name': "KSeF sales %s" % code, 'code': code,
                           'default_account_id': sales.default_account_id.id})

    def create_invoice(self, company=None, amount=1000.0, post=True, partner=None, invoice_date=None):
        """A posted customer invoice with one 23% line (the company's default sale tax)."""
        company = company or self.company
        move = self.env['account.move'].with_company(company).create({
            'move_type': 'out_invoice',
            'company_id': company.id,
            'partner_id': (partner or self.buyer).id,
            'invoice_date': invoice_date or self.polish_today(),
            'journal_id': (self.sales_journal if company == self.company
                           else self.make_sales_journal(company)).id,
            'invoice_line_ids': [Command.create({
                'name': "Usługa programistyczna",
                'quantity': 1,
                'price_unit': amount,
                'tax_ids': [Command.set(self.sale_tax_23(company).ids)],
            })],
        })
        if post:
            move.action_post()
        return move

    @staticmethod
    def polish_today():
        """Today in Poland: KSeF compares the issue date (P_1) with its own calendar day."""
        return datetime.datetime.now(zoneinfo.ZoneInfo('Europe/Warsaw')).date()

    def sale_tax_23(self, company):
        """The 23% sale tax of the company's Polish chart of accounts."""
        tax = self.env['account.tax'].search([
            *self.env['account.tax']._check_company_domain(company),
            ('type_tax_use', '=', 'sale'), ('amount', '=', 23.0), ('amount_type', '=', 'percent'),
        ], limit=1)
        self.assertTrue(tax, "the Polish chart of accounts has a 23% sale tax")
        return tax

    def emulator_get(self, path, company=None):
        """Read the emulator directly with the company's access token (independent of our client)."""
        from ..models.ksef_secret_store import decrypt_secret
        company = (company or self.company).sudo()
        token = decrypt_secret(self.env, company.l10n_pl_ksef_access_token).decode()
        request = urllib.request.Request(self.emulator.base_url + path, headers={
            'Authorization': 'Bearer ' + token, 'Accept': '*/*'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def session_invoices(self, session):
        """The invoices KSeF lists in ``session`` (read from the emulator)."""
        return json.loads(self.emulator_get('/sessions/%s/invoices?pageSize=100' % session.reference_number))[
            'invoices']

    def process_queue(self, company=None):
        """Run the queue once for ``company`` (what the cron does) and return its result."""
        return self.env['account.move']._l10n_pl_ksef_process_queue(companies=company or self.company)

    def process_until(self, moves, states, runs=40):
        """Run the queue until every move is in one of ``states`` (KSeF verifies asynchronously)."""
        for _run in range(runs):
            # Time passes between runs of the scheduled action: back-off delays of passing faults are over.
            self.env['account.move'].sudo().search([('l10n_pl_ksef_retry_at', '!=', False)]).write(
                {'l10n_pl_ksef_retry_at': False})
            self.process_queue(moves.company_id)
            moves.invalidate_recordset()
            if all(move.l10n_pl_ksef_state in states for move in moves):
                return
            # The emulator verifies invoices in a background thread, as KSeF does.
            time.sleep(0.1)
        self.fail("KSeF states after %s runs: %s (errors: %s)" % (
            runs, moves.mapped('l10n_pl_ksef_state'), moves.mapped('l10n_pl_ksef_error')))

