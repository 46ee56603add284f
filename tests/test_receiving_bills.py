"""Receiving purchase invoices from KSeF as draft vendor bills, end to end against the emulator."""
import datetime
import os
import time
import uuid
from decimal import Decimal as D
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..ksef_protocol import RateLimiter, SessionKey
from ..ksef_protocol.fa3 import build_fa3, compute_totals, parse_fa3
from ..ksef_protocol.fa3.model import (Address, BankAccount, Contact, CorrectedInvoice, Correction, DueDate, Invoice,
                                       Line, Party, Payment, Totals)
from ..models.res_company_ksef_fairness import RECEIVE_RUN_BUDGET_SECONDS
from ..models.res_company_ksef_receiving import _parse_ksef_datetime
from .common import BUYER_NIP, SECOND_SELLER_NIP, SELLER_NIP, KsefEmulatorCase, reset_ksef_rate_limits

#: The company of the tests is SELLER_NIP: here it is the buyer of what its suppliers send.
COMPANY_NIP = SELLER_NIP
NEW_SUPPLIER_NIP = SECOND_SELLER_NIP
KNOWN_SUPPLIER_NIP = BUYER_NIP
OTHER_BUYER_NIP = '1111111111'
GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'ksef_protocol', 'tests', 'data', 'fa3', 'golden')


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestReceivingBills(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.l10n_pl_ksef_receive_enabled = True
        # These tests count the buyer's (Subject2) exports; third-party and authorized roles: test_receiving_subjects.
        cls.company.write({'l10n_pl_ksef_receive_third_party': False, 'l10n_pl_ksef_receive_authorized': False})
        # The customer of the sending tests (NIP BUYER_NIP) is also a supplier here.
        cls.known_supplier = cls.buyer

    def setUp(self):
        super().setUp()
        # The emulator keeps invoices seeded by earlier tests (even a split second ago): each test
        # syncs from now on, and what it seeds is stored in KSeF after this moment.
        self.start_checkpoint = self.set_checkpoint(datetime.timedelta(0))

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def set_checkpoint(self, offset):
        moment = datetime.datetime.now(datetime.timezone.utc) + offset
        value = moment.isoformat(timespec='microseconds')
        self.company.write({'l10n_pl_ksef_receive_checkpoint': value,
                            'l10n_pl_ksef_receive_env_key': self.company._l10n_pl_ksef_environment_key()})
        return value

    def make_invoice(self, seller_nip, buyer_nip, lines, payment=None, seller_name="Dostawca Nowy S.A."):
        """An FA(3) purchase invoice with a number no other test uses (the emulator refuses duplicates)."""
        invoice = Invoice(
            seller=Party(name=seller_name, nip=seller_nip,
                         address=Address('PL', "ul. Piękna 7", "00-549 Warszawa"),
                         contacts=[Contact(email="faktury@dostawca.example.com")]),
            buyer=Party(name="Nasza Firma", nip=buyer_nip, address=Address('PL', "ul. Marszałkowska 1/2",
                                                                           "00-624 Warszawa")),
            number="FZ/%s" % uuid.uuid4().hex[:10].upper(),
            issue_date=self.polish_today(),
            created_at=datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
            totals=Totals({}, D(0)), lines=lines, payment=payment)
        invoice.totals = compute_totals(invoice)
        return invoice

    def make_correction(self, seller_nip, lines, corrected, kind='KOR', reason="Rabat po wystawieniu faktury"):
        """A correction (``kind``) of the invoices ``corrected`` (``CorrectedInvoice`` list) by ``seller_nip``."""
        invoice = self.make_invoice(seller_nip, COMPANY_NIP, lines)
        invoice.number = "FK/%s" % uuid.uuid4().hex[:10].upper()
        invoice.kind = kind
        invoice.correction = Correction(invoices=corrected, reason=reason, type=2)
        invoice.totals = compute_totals(invoice)
        return invoice

    def messages(self, move):
        return ' '.join(move.message_ids.mapped('body'))

    def seed(self, *invoices):
        """Put invoices into the emulator's KSeF as if their sellers had sent them; returns
        ``[(ksef_number, xml_bytes, invoice)]``."""
        xmls = [build_fa3(invoice) for invoice in invoices]
        answer = self.emulator.admin('/purchase-invoices', {'invoices': [{'xml': x.decode('utf-8')} for x in xmls]})
        return [(item['ksefNumber'], xml, invoice) for item, xml, invoice in zip(answer['invoices'], xmls, invoices)]

    def checkpoint_moved(self):
        """True when the stored checkpoint is later than the one the test started from."""
        return _parse_ksef_datetime(self.company.l10n_pl_ksef_receive_checkpoint) \
            > _parse_ksef_datetime(self.start_checkpoint)

    def receive(self):
        """What the scheduled action does."""
        self.env['res.company']._l10n_pl_ksef_cron_receive_invoices()

    def received_bills(self, numbers):
        return self.env['account.move'].search([('company_id', '=', self.company.id),
                                                ('l10n_pl_ksef_number', 'in', list(numbers))])

    def purchase_tax(self, template_id):
        return self.env['account.chart.template'].with_company(self.company).ref(template_id)

    def three_rate_invoice(self):
        due = self.polish_today() + datetime.timedelta(days=14)
        return self.make_invoice(NEW_SUPPLIER_NIP, COMPANY_NIP, [
            Line("Usługa doradcza", "23", "godz.", D(10), D("150.00"), net=D("1500.00")),
            Line("Catering", "8", "szt.", D(20), D("35.50"), net=D("710.00")),
            Line("Książka", "5", "szt.", D(3), D("49.99"), net=D("149.97")),
        ], payment=Payment(due_dates=[DueDate(date=due)], method=6,
                           bank_accounts=[BankAccount("PL61109010140000071219812874", swift="WBKPPLPP")]))

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------
    def test_received_invoices_become_draft_vendor_bills(self):
        (first_number, first_xml, first), (second_number, _xml, second), (foreign_number, _x, _f) = self.seed(
            self.three_rate_invoice(),
            self.make_invoice(KNOWN_SUPPLIER_NIP, COMPANY_NIP, [
                Line("Licencja", "23", "szt.", D(2), D("400.00"), net=D("800.00"))], seller_name="Znany"),
            self.make_invoice(KNOWN_SUPPLIER_NIP, OTHER_BUYER_NIP, [
                Line("Nie dla nas", "23", "szt.", D(1), D("100.00"), net=D("100.00"))]),
        )
        self.receive()

        bills = self.received_bills([first_number, second_number, foreign_number])
        self.assertEqual(sorted(bills.mapped('l10n_pl_ksef_number')), sorted([first_number, second_number]),
                         "only invoices issued to the company's NIP are imported")
        bill = bills.filtered(lambda m: m.l10n_pl_ksef_number == first_number)
        self.assertRecordValues(bill, [{
            'move_type': 'in_invoice', 'state': 'draft', 'ref': first.number,
            'invoice_date': first.issue_date, 'invoice_date_due': first.payment.due_dates[0].date,
            'currency_id': self.env.ref('base.PLN').id,
            'amount_untaxed': 2359.97, 'amount_tax': 345.0 + 56.8 + 7.5, 'amount_total': float(first.totals.total),
        }])
        # A supplier unknown so far is created from Podmiot1, with its NIP and address.
        self.assertRecordValues(bill.partner_id, [{
            'name': "Dostawca Nowy S.A.", 'vat': 'PL' + NEW_SUPPLIER_NIP, 'zip': '00-549', 'city': "Warszawa",
            'street': "ul. Piękna 7", 'email': "faktury@dostawca.example.com",
        }])
        self.assertEqual(bill.partner_bank_id.sanitized_acc_number, "PL61109010140000071219812874")
        self.assertEqual(bill.partner_bank_id.partner_id, bill.partner_id)
        lines = bill.invoice_line_ids.sorted('sequence')
        self.assertEqual(lines.mapped('name'), ["Usługa doradcza", "Catering", "Książka"])
        self.assertEqual(lines.mapped('quantity'), [10.0, 20.0, 3.0])
        self.assertEqual(lines.mapped('price_unit'), [150.0, 35.5, 49.99])
        self.assertEqual([line.tax_ids for line in lines],
                         [self.purchase_tax('vz_kraj_23'), self.purchase_tax('vz_kraj_8'),
                          self.purchase_tax('vz_kraj_5')])
        # The exact XML downloaded from KSeF is attached.
        attachment = self.env['ir.attachment'].search([('res_model', '=', 'account.move'), ('res_id', '=', bill.id),
                                                       ('mimetype', '=', 'application/xml')])  # next to its visual
        self.assertEqual(attachment.name, '%s.xml' % first_number)
        self.assertEqual(attachment.raw, first_xml)

        known = bills - bill
        self.assertEqual(known.partner_id, self.known_supplier, "an existing supplier is found by NIP")
        self.assertEqual(known.amount_total, float(second.totals.total))
        self.assertEqual(known.invoice_line_ids.tax_ids, self.purchase_tax('vz_kraj_23'))

        self.assertTrue(self.checkpoint_moved())
        self.assertTrue(self.company.l10n_pl_ksef_last_receive_date)
        self.assertFalse(self.company.l10n_pl_ksef_receive_error)

    def test_second_run_imports_nothing_new(self):
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        self.receive()
        self.assertEqual(len(self.received_bills([number])), 1)
        checkpoint = self.company.l10n_pl_ksef_receive_checkpoint
        bill_count = self.env['account.move'].search_count([('company_id', '=', self.company.id)])

        self.receive()
        self.assertEqual(self.env['account.move'].search_count([('company_id', '=', self.company.id)]), bill_count)
        self.assertGreaterEqual(_parse_ksef_datetime(self.company.l10n_pl_ksef_receive_checkpoint),
                                _parse_ksef_datetime(checkpoint))

        # Even when the same window is fetched again (checkpoint rewound), nothing is imported twice.
        self.company.l10n_pl_ksef_receive_checkpoint = self.start_checkpoint
        self.receive()
        self.assertEqual(self.env['account.move'].search_count([('company_id', '=', self.company.id)]), bill_count)

        # A later invoice is picked up by the next run, alone.
        [(later_number, _xml, _invoice)] = self.seed(self.make_invoice(
            KNOWN_SUPPLIER_NIP, COMPANY_NIP, [Line("Serwis", "8", "szt.", D(1), D("50.00"), net=D("50.00"))]))
        self.receive()
        self.assertEqual(self.env['account.move'].search_count([('company_id', '=', self.company.id)]),
                         bill_count + 1)
        self.assertEqual(self.received_bills([later_number]).invoice_line_ids.tax_ids, self.purchase_tax('vz_kraj_8'))

    def test_outage_keeps_checkpoint_and_next_run_catches_up(self):
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        self.emulator.admin('/faults', {'pathPattern': '/invoices/exports$', 'method': 'POST', 'count': 1,
                                        'kind': 'html', 'status': 503})
        result = self.company._l10n_pl_ksef_receive_invoices()

        self.assertFalse(self.received_bills([number]))
        self.assertEqual(self.company.l10n_pl_ksef_receive_checkpoint, self.start_checkpoint)
        self.assertFalse(self.company.l10n_pl_ksef_last_receive_date)
        self.assertIn("not reachable", self.company.l10n_pl_ksef_receive_error)
        self.assertTrue(result['retry_at'], "an outage asks for another run later")

        self.receive()
        self.assertEqual(len(self.received_bills([number])), 1)
        self.assertFalse(self.company.l10n_pl_ksef_receive_error)
        self.assertTrue(self.checkpoint_moved())

    def test_truncated_exports_are_followed_to_the_end(self):
        # KSeF caps a package (10,000 invoices); the emulator's cap of 2 makes 3 invoices need 2 packages.
        self.emulator.admin('/config', {'receivingTruncationLimit': 2})
        self.addCleanup(self.emulator.admin, '/config', {'receivingTruncationLimit': 10000})
        seeded = self.seed(*[self.make_invoice(KNOWN_SUPPLIER_NIP, COMPANY_NIP, [
            Line("Pozycja %d" % index, "23", "szt.", D(1), D(index * 10), net=D(index * 10))])
            for index in (1, 2, 3)])
        exports_before = self.export_count()
        self.receive()
        numbers = [number for number, _xml, _invoice in seeded]
        bills = self.received_bills(numbers)
        self.assertEqual(sorted(bills.mapped('l10n_pl_ksef_number')), sorted(numbers))
        self.assertEqual(sorted(bills.mapped('amount_untaxed')), [10.0, 20.0, 30.0])
        self.assertEqual(self.export_count() - exports_before, 2, "a truncated package is followed by another")

    def export_count(self):
        log = self.emulator.log_text()
        return log.count('POST /v2/invoices/exports')

    def test_rate_limit_keeps_checkpoint_and_waits_as_asked(self):
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        # Use up KSeF's per-minute export limit (16) in two bursts under the per-second limit (8).
        self.emulator.admin('/config', {'rateLimitsEnabled': True})
        self.addCleanup(self.emulator.admin, '/config', {'rateLimitsEnabled': False})
        self.addCleanup(self.emulator.admin, '/rate-limits/reset', {})
        client = self.company._l10n_pl_ksef_get_client()
        # Another program of the company uses up the limit: Odoo's own limiter does not know, KSeF answers 429.
        client.limiter = RateLimiter()
        key = SessionKey.generate()
        filters = {'subjectType': 'Subject2', 'dateRange': {'dateType': 'PermanentStorage',
                                                            'from': self.start_checkpoint}}
        for _burst in range(2):
            for _request in range(8):
                client.start_export(filters, key)
            self.emulator.admin('/clock', {'advanceSeconds': 1.5})
        before = fields.Datetime.now()

        result = self.company._l10n_pl_ksef_receive_invoices()

        self.assertFalse(self.received_bills([number]))
        self.assertEqual(self.company.l10n_pl_ksef_receive_checkpoint, self.start_checkpoint)
        self.assertIn("too many requests", self.company.l10n_pl_ksef_receive_error)
        self.assertGreaterEqual(result['retry_at'], before + datetime.timedelta(seconds=30),
                                "the next run waits for KSeF's Retry-After, not less")

        self.emulator.admin('/rate-limits/reset', {})
        reset_ksef_rate_limits(self.env)  # the wait KSeF asked for is over
        self.receive()
        self.assertEqual(len(self.received_bills([number])), 1)

    def test_scheduled_run_hands_over_instead_of_sleeping_on_the_export_limit(self):
        """Odoo's own limiter knows KSeF's 16 exports a minute are used up (earlier runs): the scheduled run
        does not sleep until the limit frees, later than its budget; it returns without an error, and the
        scheduled action is triggered for when the limit frees."""
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        Company = self.env['res.company']
        limiter = self.company._l10n_pl_ksef_rate_limiter()
        exported_at = time.time() - 5
        with limiter._store.locked('invoiceExport') as state:
            state.history = [exported_at + index * 0.001 for index in range(16)]
        due = limiter.delay_for('invoiceExport')
        self.assertGreater(due, RECEIVE_RUN_BUDGET_SECONDS, "later than one run may last")
        self.assertLess(due, limiter.max_wait, "a wait the limiter would otherwise sleep through")
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices')
        self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]).unlink()
        # The limiter's sleep is injectable: a sleep is recorded here instead of being slept.
        sleeps = []
        make_limiter = type(Company)._l10n_pl_ksef_rate_limiter

        def limiter_recording_sleeps(company):
            shared = make_limiter(company)
            shared._sleep = sleeps.append
            return shared

        before = fields.Datetime.now()
        with patch.object(type(Company), '_l10n_pl_ksef_rate_limiter', limiter_recording_sleeps):
            self.receive()
        self.assertEqual(sleeps, [], "never slept in the limiter")
        self.assertFalse(self.received_bills([number]))
        self.assertEqual(self.company.l10n_pl_ksef_receive_checkpoint, self.start_checkpoint)
        self.assertFalse(self.company.l10n_pl_ksef_receive_error, "our own pacing is no KSeF problem")
        trigger = self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)], order='call_at', limit=1)
        self.assertGreaterEqual(trigger.call_at, before + datetime.timedelta(seconds=int(due) - 2))
        self.assertLessEqual(trigger.call_at, before + datetime.timedelta(seconds=int(due) + 5))

        reset_ksef_rate_limits(self.env)  # the minute has passed
        with patch.object(type(Company), '_l10n_pl_ksef_rate_limiter', limiter_recording_sleeps):
            self.receive()
        self.assertEqual(len(self.received_bills([number])), 1)
        self.assertTrue(self.checkpoint_moved())
        self.assertFalse(self.company.l10n_pl_ksef_receive_error)

    def test_checkpoint_at_the_hwm_is_a_quiet_run(self):
        # The checkpoint is KSeF's HWM itself when nothing was stored since: KSeF answers the export with
        # status 420 ("from" after the HWM), which means "nothing new", not an error.
        self.emulator.admin('/config', {'permanentStorageHwmLagSeconds': 120})
        self.addCleanup(self.emulator.admin, '/config', {'permanentStorageHwmLagSeconds': 0})
        result = self.company._l10n_pl_ksef_receive_invoices()
        self.assertFalse(result['error'])
        self.assertFalse(result['moves'])
        self.assertEqual(self.company.l10n_pl_ksef_receive_checkpoint, self.start_checkpoint)
        self.assertTrue(self.company.l10n_pl_ksef_last_receive_date)

    def test_cron_retriggers_itself_after_outage(self):
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices')
        triggers = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
        self.emulator.admin('/faults', {'pathPattern': '/invoices/exports$', 'method': 'POST', 'count': 1,
                                        'kind': 'status', 'status': 500})
        self.receive()
        self.assertEqual(self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), triggers + 1)

    def test_fetch_button_opens_imported_bills(self):
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        action = self.company.action_l10n_pl_ksef_receive_invoices()
        bill = self.received_bills([number])
        self.assertEqual(action['res_model'], 'account.move')
        self.assertEqual(action['domain'], [('id', 'in', bill.ids)])
        # Nothing new: a notification instead of an empty list.
        action = self.company.action_l10n_pl_ksef_receive_invoices()
        self.assertEqual(action['tag'], 'display_notification')

    def test_accountant_fetches_from_settings_without_seeing_credentials(self):
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        accountant = new_test_user(self.env, login='ksef_receiving_accountant', groups='account.group_account_invoice',
                                   company_id=self.company.id, company_ids=[self.company.id])
        action = self.company.with_user(accountant).action_l10n_pl_ksef_receive_invoices()
        self.assertEqual(action['domain'], [('id', 'in', self.received_bills([number]).ids)])

        no_rights = new_test_user(self.env, login='ksef_receiving_portal', groups='base.group_user',
                                  company_id=self.company.id, company_ids=[self.company.id])
        with self.assertRaisesRegex(UserError, "invoicing rights"):
            self.company.with_user(no_rights).action_l10n_pl_ksef_receive_invoices()

    def test_settings_button_and_long_gap_fetched_in_windows(self):
        # Not synced for 100 days: KSeF allows 3 months per query, so the gap takes two exports.
        self.start_checkpoint = self.set_checkpoint(-datetime.timedelta(days=100))
        [(number, _xml, _invoice)] = self.seed(self.three_rate_invoice())
        exports_before = self.export_count()
        settings = self.env['res.config.settings'].create({})
        self.assertEqual(settings.l10n_pl_ksef_last_receive_date, False)
        settings.action_l10n_pl_ksef_receive_invoices()
        self.assertEqual(len(self.received_bills([number])), 1)
        self.assertEqual(self.export_count() - exports_before, 2)
        self.assertGreater(_parse_ksef_datetime(self.company.l10n_pl_ksef_receive_checkpoint),
                           datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1))

    def test_import_of_foreign_currency_and_correction(self):
        """The import pipeline on reviewed FA(3) golden files (currency, credit note)."""
        Move = self.env['account.move']
        with open(os.path.join(GOLDEN_DIR, 'foreign_currency.xml'), 'rb') as handle:
            foreign_xml = handle.read()
        foreign = parse_fa3(foreign_xml)
        bill = Move._l10n_pl_ksef_import_received_invoice(self.company, 'TEST-FOREIGN-1', foreign_xml)
        self.assertEqual(bill.currency_id.name, foreign.currency)
        self.assertNotEqual(foreign.currency, 'PLN')
        self.assertEqual(bill.amount_total, float(foreign.totals.total))
        self.assertEqual(Move._l10n_pl_ksef_import_received_invoice(self.company, 'TEST-FOREIGN-1', foreign_xml),
                         bill, "importing the same KSeF number again returns the existing bill")

        with open(os.path.join(GOLDEN_DIR, 'correction_ksef.xml'), 'rb') as handle:
            correction_xml = handle.read()
        correction = parse_fa3(correction_xml)
        self.assertLess(correction.totals.total, 0)
        refund = Move._l10n_pl_ksef_import_received_invoice(self.company, 'TEST-KOR-1', correction_xml)
        self.assertEqual(refund.move_type, 'in_refund')
        self.assertEqual(refund.amount_total, float(-correction.totals.total))

    def test_unreadable_xml_is_kept_as_bill_to_complete(self):
        bill = self.env['account.move']._l10n_pl_ksef_import_received_invoice(
            self.company, 'TEST-BROKEN-1', b'<Faktura>not FA(3)',
            {'invoiceNumber': "FZ/9", 'issueDate': '2026-02-02', 'seller': {'nip': KNOWN_SUPPLIER_NIP}})
        self.assertRecordValues(bill, [{'move_type': 'in_invoice', 'state': 'draft', 'ref': "FZ/9",
                                        'partner_id': self.known_supplier.id, 'l10n_pl_ksef_number': 'TEST-BROKEN-1'}])
        self.assertFalse(bill.invoice_line_ids)
        self.assertTrue(any("could not be read" in message.body for message in bill.message_ids))

    # ------------------------------------------------------------------
    # Corrections (KOR) of received invoices
    # ------------------------------------------------------------------
    def receive_original(self):
        """An invoice of the known supplier received from KSeF: ``(ksef_number, invoice, bill)``."""
        [(number, _xml, invoice)] = self.seed(self.make_invoice(KNOWN_SUPPLIER_NIP, COMPANY_NIP, [
            Line("Licencja roczna", "23", "szt.", D(10), D("100.00"), net=D("1000.00"))], seller_name="Znany"))
        self.receive()
        bill = self.received_bills([number])
        self.assertEqual(len(bill), 1)
        return number, invoice, bill

    def test_correction_lowering_amount_is_refund_of_corrected_bill(self):
        original_number, original, original_bill = self.receive_original()
        [(number, _xml, correction)] = self.seed(self.make_correction(KNOWN_SUPPLIER_NIP, [
            Line("Licencja roczna - rabat", "23", "szt.", D(10), D("-20.00"), net=D("-200.00"))],
            [CorrectedInvoice(original.issue_date, original.number, original_number)]))
        self.receive()

        refund = self.received_bills([number])
        self.assertRecordValues(refund, [{
            'move_type': 'in_refund', 'state': 'draft', 'ref': correction.number,
            'partner_id': self.known_supplier.id, 'reversed_entry_id': original_bill.id,
            'amount_untaxed': 200.0, 'amount_total': 246.0,
        }])
        self.assertEqual(original_bill.reversal_move_ids, refund)
        messages = self.messages(refund)
        self.assertIn(original.number, messages)
        self.assertIn(original_number, messages)
        self.assertIn("found in Odoo as", messages)
        self.assertIn("Rabat po wystawieniu faktury", messages)

        # Once both are posted, the refund settles its part of the corrected bill, as Odoo's own reversals do.
        original_bill.action_post()
        refund.action_post()
        self.assertEqual(original_bill.amount_residual, 1230.0 - 246.0)
        self.assertEqual(refund.payment_state, 'paid')

    def test_correction_of_invoice_unknown_to_odoo(self):
        [(number, _xml, correction)] = self.seed(self.make_correction(KNOWN_SUPPLIER_NIP, [
            Line("Zwrot towaru", "23", "szt.", D(-2), D("50.00"), net=D("-100.00"))],
            [CorrectedInvoice(datetime.date(2025, 12, 10), "FV/POZA/%s" % uuid.uuid4().hex[:8])]))
        self.receive()

        refund = self.received_bills([number])
        self.assertRecordValues(refund, [{'move_type': 'in_refund', 'state': 'draft', 'reversed_entry_id': False,
                                          'amount_total': 123.0}])
        messages = self.messages(refund)
        self.assertIn(correction.correction.invoices[0].number, messages)
        self.assertIn("which is not in Odoo", messages)

    def test_correction_of_bill_entered_by_hand_is_found_by_reference(self):
        number_outside_ksef = "FV/RECZNA/%s" % uuid.uuid4().hex[:8]
        issue_date = datetime.date(2025, 12, 10)
        manual = self.env['account.move'].create({
            'move_type': 'in_invoice', 'company_id': self.company.id, 'partner_id': self.known_supplier.id,
            'ref': number_outside_ksef, 'invoice_date': issue_date,
            'invoice_line_ids': [fields.Command.create({
                'name': "Towar", 'quantity': 2, 'price_unit': 50.0,
                'tax_ids': [fields.Command.set(self.purchase_tax('vz_kraj_23').ids)]})],
        })
        [(number, _xml, _correction)] = self.seed(self.make_correction(KNOWN_SUPPLIER_NIP, [
            Line("Zwrot towaru", "23", "szt.", D(-1), D("50.00"), net=D("-50.00"))],
            [CorrectedInvoice(issue_date, number_outside_ksef)]))
        self.receive()

        refund = self.received_bills([number])
        self.assertRecordValues(refund, [{'move_type': 'in_refund', 'reversed_entry_id': manual.id}])
        self.assertIn("found in Odoo as", self.messages(refund))

    def test_correction_raising_amount_stays_vendor_bill(self):
        original_number, original, original_bill = self.receive_original()
        [(number, _xml, _correction)] = self.seed(self.make_correction(KNOWN_SUPPLIER_NIP, [
            Line("Licencja roczna - dopłata", "23", "szt.", D(2), D("100.00"), net=D("200.00"))],
            [CorrectedInvoice(original.issue_date, original.number, original_number)], reason="Dodatkowe licencje"))
        self.receive()

        bill = self.received_bills([number])
        self.assertRecordValues(bill, [{'move_type': 'in_invoice', 'state': 'draft', 'reversed_entry_id': False,
                                        'amount_untaxed': 200.0, 'amount_total': 246.0}])
        if 'debit_origin_id' in bill._fields:  # account_debit_note installed
            self.assertEqual(bill.debit_origin_id, original_bill)
        messages = self.messages(bill)
        self.assertIn(original.number, messages)
        self.assertIn(original_number, messages)
        self.assertIn("found in Odoo as", messages)
        self.assertFalse(original_bill.reversal_move_ids)
