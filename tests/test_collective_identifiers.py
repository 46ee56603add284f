"""KSeF numbers and collective identifiers (IZ) on payments, end to end against the emulator over HTTP."""
import datetime
import unittest
import uuid
from decimal import Decimal as D

from odoo import fields
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon

from ..ksef_protocol import Environment, KsefClient
from ..ksef_protocol.api_collective import is_valid_collective_identifier
from ..ksef_protocol.fa3 import build_fa3, compute_totals
from ..ksef_protocol.fa3.model import Address, Invoice, Line, Party, Totals
from ..ksef_protocol.validators import ksef_crc8
from .common import BUYER_NIP, SECOND_SELLER_NIP, SELLER_NIP, KsefEmulatorCase

SUPPLIER_NIP = SECOND_SELLER_NIP
OTHER_SUPPLIER_NIP = '1111111111'


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefCollectiveIdentifiers(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.supplier = cls.env['res.partner'].create({
            'name': "Dostawca IZ sp. z o.o.", 'is_company': True, 'vat': 'PL' + SUPPLIER_NIP,
            'country_id': cls.env.ref('base.pl').id,
        })

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def seed_purchase_invoices(self, count, seller=SUPPLIER_NIP, net=D('100.00')):
        """Invoices ``seller`` issued to the company, put into the emulator's KSeF; their KSeF numbers."""
        xmls = []
        for _index in range(count):
            invoice = Invoice(
                seller=Party(name="Dostawca IZ", nip=seller, address=Address('PL', "ul. Piękna 7", "00-549 Warszawa")),
                buyer=Party(name="Nasza Firma", nip=SELLER_NIP, address=Address('PL', "ul. Marszałkowska 1/2",
                                                                                 "00-624 Warszawa")),
                number="FZ/%s" % uuid.uuid4().hex[:10].upper(), issue_date=self.polish_today(),
                created_at=datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
                totals=Totals({}, D(0)), lines=[Line("Usługa", "23", "szt.", D(1), net, net=net)])
            invoice.totals = compute_totals(invoice)
            xmls.append(build_fa3(invoice).decode('utf-8'))
        answer = self.emulator.admin('/purchase-invoices', {'invoices': [{'xml': xml} for xml in xmls]})
        return [item['ksefNumber'] for item in answer['invoices']]

    def create_bill(self, ksef_number, amount=123.0, partner=None):
        bill = self.env['account.move'].create({
            'move_type': 'in_invoice', 'partner_id': (partner or self.supplier).id,
            'invoice_date': self.polish_today(), 'ref': "FZ/%s" % uuid.uuid4().hex[:6],
            'l10n_pl_ksef_number': ksef_number,
            'invoice_line_ids': [Command.create({'name': "Usługa", 'quantity': 1, 'price_unit': amount,
                                                 'tax_ids': [Command.clear()]})],
        })
        bill.action_post()
        return bill

    def pay(self, bills, **values):
        """What the web client does: save the register-payment dialog, then click its button."""
        env = bills.env
        wizard = env['account.payment.register'].with_context(
            active_model='account.move', active_ids=bills.ids).create(dict({'group_payment': True}, **values))
        action = env['account.payment.register'].browse(wizard.id).action_create_payments()
        return env['account.payment'].browse(action['res_id'])

    def ksef_client(self, nip):
        """A protocol client logged into ``nip``'s context, to see what KSeF holds."""
        client = KsefClient(Environment.custom(self.emulator.base_url), timeout=10.0)
        client.authenticate_with_ksef_token(nip, self.emulator.create_token(nip, ['InvoiceRead'])['token'])
        return client

    def identifiers_in_ksef(self, nip, ksef_number):
        return [info.number for info in self.ksef_client(nip).iter_collective_identifiers_for_invoice(ksef_number)]

    def accepted_invoices(self, count, amount=1000.0):
        moves = self.env['account.move']
        for _index in range(count):
            moves |= self.create_invoice(amount=amount)
        moves._l10n_pl_ksef_queue()
        self.process_until(moves, ('accepted',))
        return moves

    def statement_line(self, label, amount):
        journal = self.company_data['default_journal_bank']
        return self.env['account.bank.statement.line'].create({
            'journal_id': journal.id, 'date': fields.Date.today(), 'payment_ref': label, 'amount': amount,
        })

    # ------------------------------------------------------------------
    # Paying suppliers
    # ------------------------------------------------------------------
    def test_three_bills_paid_in_one_payment_get_one_collective_identifier(self):
        numbers = self.seed_purchase_invoices(3)
        bills = self.create_bill(numbers[0], 100.0) | self.create_bill(numbers[1], 200.0) \
            | self.create_bill(numbers[2], 300.0)

        payment = self.pay(bills)

        identifier = payment.l10n_pl_ksef_collective_identifier_id
        self.assertTrue(is_valid_collective_identifier(identifier.name))
        self.assertTrue(identifier.name.startswith(SUPPLIER_NIP + '-IZ'))
        self.assertEqual(payment.memo, identifier.name)
        self.assertEqual(sorted(identifier.line_ids.mapped('ksef_number')), sorted(numbers))
        self.assertEqual({line.move_id: line.amount for line in identifier.line_ids},
                         {bills[0]: 100.0, bills[1]: 200.0, bills[2]: 300.0})
        for bill in bills:
            self.assertEqual(bill.l10n_pl_ksef_collective_identifier_ids, identifier)
            self.assertIn(bill.payment_state, ('paid', 'in_payment'))
        self.assertEqual(payment.action_view_l10n_pl_ksef_collective_identifier()['res_id'], identifier.id)
        self.assertEqual(bills[0].action_view_l10n_pl_ksef_collective_identifiers()['res_id'], identifier.id)
        # KSeF holds exactly this IZ, with the amounts paid.
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[0]), [identifier.name])
        held = list(self.ksef_client(SELLER_NIP).iter_collective_identifier_invoices([identifier.name]))
        self.assertEqual(sorted((i.ksef_number, i.amount) for i in held),
                         sorted(zip(numbers, [D('100'), D('200'), D('300')])))

    def test_one_bill_quotes_its_ksef_number_and_payment_can_skip_the_iz(self):
        numbers = self.seed_purchase_invoices(3)
        bill = self.create_bill(numbers[0])
        payment = self.pay(bill)
        self.assertTrue(payment.memo.startswith(numbers[0]), payment.memo)
        self.assertIn(bill.ref, payment.memo)
        self.assertFalse(payment.l10n_pl_ksef_collective_identifier_id)
        # Two bills without an IZ: both KSeF numbers in the memo, nothing asked from KSeF.
        two = self.create_bill(numbers[1]) | self.create_bill(numbers[2])
        payment = self.pay(two, l10n_pl_ksef_use_collective_id=False)
        self.assertEqual(set(payment.memo.split(' ')) & set(numbers), set(numbers[1:]))
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[1]), [])

    def test_a_lost_answer_does_not_create_a_second_identifier(self):
        numbers = self.seed_purchase_invoices(4)
        # KSeF stores the IZ but the answer never arrives: Odoo looks it up and uses it.
        self.emulator.admin('/faults', {'pathPattern': '^/v2/collective-identifiers$', 'method': 'POST',
                                        'kind': 'drop', 'count': 1})
        payment = self.pay(self.create_bill(numbers[0]) | self.create_bill(numbers[1]))
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[0]),
                         [payment.l10n_pl_ksef_collective_identifier_id.name])
        # Two 500s (nothing stored): the user is told, and the next click creates exactly one.
        self.emulator.admin('/faults', {'pathPattern': '^/v2/collective-identifiers$', 'method': 'POST',
                                        'kind': 'status', 'status': 500, 'count': 2})
        bills = self.create_bill(numbers[2]) | self.create_bill(numbers[3])
        with self.assertRaisesRegex(UserError, "did not answer"):
            with self.cr.savepoint():
                self.pay(bills)
        payment = self.pay(bills)
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[2]),
                         [payment.l10n_pl_ksef_collective_identifier_id.name])
        # The same bills and amounts again (e.g. the payment was cancelled and redone): the same IZ.
        payment.action_draft()
        payment.action_cancel()
        again = self.pay(bills)
        self.assertEqual(again.l10n_pl_ksef_collective_identifier_id, payment.l10n_pl_ksef_collective_identifier_id)
        self.assertEqual(len(self.identifiers_in_ksef(SELLER_NIP, numbers[2])), 1)

    def test_each_refusal_says_what_to_do(self):
        numbers = self.seed_purchase_invoices(2)
        unknown = '%s-20261201-0100001AF629' % SUPPLIER_NIP
        unknown += '-' + ksef_crc8(unknown)
        bills = self.create_bill(numbers[0]) | self.create_bill(numbers[1])
        with self.assertRaisesRegex(UserError, r"does not find invoice %s .*71001.*try again later" % unknown):
            with self.cr.savepoint():
                self.pay(bills[0] | self.create_bill(unknown))
        fault_texts = {
            71002: r"already in 132 collective identifiers .*71002.*Reuse",
            71003: r"code 71003, which its documentation does not describe.*KSeF numbers instead",
            71004: r"another seller .*71004.*separately",
            71005: r"given twice \(error 71005\).*Correct the KSeF number",
        }
        descriptions = {71002: "Faktura jest już przypisana do maksymalnej liczby Identyfikatorów Zbiorczych.",
                        71003: "Nieznany błąd.", 71004: "Faktury mają różnych sprzedawców.",
                        71005: "Powtórzony numer KSeF w żądaniu."}
        for code, pattern in fault_texts.items():
            self.emulator.admin('/faults', {
                'pathPattern': '^/v2/collective-identifiers$', 'method': 'POST', 'kind': 'status', 'status': 400,
                'exceptionCode': code, 'exceptionDescription': descriptions[code],
                'details': ["Faktura o numerze KSeF %s ..." % numbers[1]]})
            with self.assertRaisesRegex(UserError, pattern):
                with self.cr.savepoint():
                    self.pay(bills)
        # Refused before asking KSeF: bills of two sellers in one payment.
        other = self.seed_purchase_invoices(1, seller=OTHER_SUPPLIER_NIP)
        mixed = bills[0] | self.create_bill(other[0])
        with self.assertRaisesRegex(UserError, "same seller"):
            with self.cr.savepoint():
                self.pay(mixed)
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[0]), [])

    def test_a_polish_user_reads_the_refusal_in_polish(self):
        self.env['res.lang']._activate_lang('pl_PL')
        self.env['ir.module.module'].sudo()._load_module_terms(['l10n_pl_ksef'], ['pl_PL'], overwrite=True)
        numbers = self.seed_purchase_invoices(1)
        unknown = '%s-20261201-0100001AF62B' % SUPPLIER_NIP
        unknown += '-' + ksef_crc8(unknown)
        bills = (self.create_bill(numbers[0]) | self.create_bill(unknown)).with_context(lang='pl_PL')
        with self.assertRaisesRegex(UserError, r"KSeF nie znajduje faktury %s .*błąd 71001.*spróbuj ponownie "
                                               r"później" % unknown):
            with self.cr.savepoint():
                self.pay(bills)

    def test_typed_ksef_number_is_checked(self):
        with self.assertRaisesRegex(Exception, "is not a KSeF number"):
            with self.cr.savepoint():
                self.create_bill('%s-20261201-0100001AF629-00' % SUPPLIER_NIP)

    # ------------------------------------------------------------------
    # Being paid
    # ------------------------------------------------------------------
    def test_statement_lines_quoting_an_iz_or_a_ksef_number_reconcile_the_invoices(self):
        invoices = self.accepted_invoices(4)
        for invoice in invoices:
            self.assertEqual(invoice.payment_reference, '%s %s' % (invoice.name, invoice.l10n_pl_ksef_number))
        three, one = invoices[:3], invoices[3]
        # The customer obtains an IZ in its own KSeF context and quotes it in its transfer.
        number, _created = self.ksef_client(BUYER_NIP).obtain_collective_identifier(three.mapped('l10n_pl_ksef_number'))
        line = self.statement_line("Przelew %s za faktury" % number, sum(three.mapped('amount_total')))
        self.assertTrue(line.is_reconciled)
        for invoice in three:
            self.assertIn(invoice.payment_state, ('paid', 'in_payment'))
        identifier = self.env['ksef.collective.identifier'].search([('name', '=', number)])
        self.assertRecordValues(identifier, [{'origin': 'bank', 'direction': 'inbound'}])
        self.assertEqual(identifier.line_ids.move_id, three)
        self.assertEqual(one.payment_state, 'not_paid')
        # A line quoting one KSeF number pays that invoice.
        line = self.statement_line("Zapłata za %s" % one.l10n_pl_ksef_number.lower(), one.amount_total)
        self.assertTrue(line.is_reconciled)
        self.assertIn(one.payment_state, ('paid', 'in_payment'))

    def test_an_iz_ksef_cannot_resolve_now_is_matched_by_the_scheduled_action(self):
        invoices = self.accepted_invoices(2, amount=100.0)
        number, _created = self.ksef_client(BUYER_NIP).obtain_collective_identifier(
            invoices.mapped('l10n_pl_ksef_number'))
        self.emulator.admin('/faults', {'pathPattern': '^/v2/collective-identifiers/invoices$', 'kind': 'status',
                                        'status': 403, 'count': 1})
        line = self.statement_line("IZ %s" % number, sum(invoices.mapped('amount_total')))
        self.assertFalse(line.is_reconciled, "the statement is imported even though KSeF refused to answer")
        self.assertFalse(self.env['ksef.collective.identifier'].search([('name', '=', number)]))
        with self.assertRaisesRegex(UserError, "may not use collective identifiers"):
            self.emulator.admin('/faults', {'pathPattern': '^/v2/collective-identifiers/invoices$',
                                            'kind': 'status', 'status': 403, 'count': 1})
            line.action_l10n_pl_ksef_match_references()
        self.env['account.bank.statement.line']._cron_l10n_pl_ksef_match_references()
        self.assertTrue(line.is_reconciled)
        self.assertEqual(set(invoices.mapped('payment_state')) - {'paid', 'in_payment'}, set())

    def test_customer_iz_list_action_and_payment_reference_choice(self):
        self.company.l10n_pl_ksef_payment_reference = 'ksef'
        invoices = self.accepted_invoices(2, amount=500.0)
        self.assertEqual(invoices.mapped('payment_reference'), invoices.mapped('l10n_pl_ksef_number'))
        action = invoices.action_l10n_pl_ksef_collective_identifier()
        identifier = self.env['ksef.collective.identifier'].search([('line_ids.move_id', '=', invoices[0].id)])
        # The report, or first Odoo's document-layout dialog that then prints it.
        report = action if action['type'] == 'ir.actions.report' else action['context']['report_action']
        self.assertEqual(report['report_name'], 'l10n_pl_ksef.report_ksef_collective_identifier')
        self.assertRecordValues(identifier, [{'origin': 'customer', 'direction': 'inbound',
                                              'partner_id': self.buyer.id}])
        self.assertTrue(identifier.name.startswith(SELLER_NIP + '-IZ'))
        html, _kind = self.env['ir.actions.report']._render_qweb_html(
            'l10n_pl_ksef.report_ksef_collective_identifier', identifier.ids)
        html = html.decode()
        self.assertIn(identifier.name, html)
        for invoice in invoices:
            self.assertIn(invoice.l10n_pl_ksef_number, html)
        # A payment quoting it reconciles both invoices (the IZ is known: no question to KSeF).
        line = self.statement_line(identifier.name, sum(invoices.mapped('amount_total')))
        self.assertTrue(line.is_reconciled)
        with self.assertRaisesRegex(UserError, "2 to 500"):
            invoices[:1].action_l10n_pl_ksef_collective_identifier()


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefCollectiveIdentifierTour(KsefEmulatorCase, AccountTestInvoicingHttpCommon):
    """The same payment walked in a real browser, in Polish."""

    tour_lang = 'pl_PL'
    seed_purchase_invoices = TestKsefCollectiveIdentifiers.seed_purchase_invoices
    create_bill = TestKsefCollectiveIdentifiers.create_bill
    ksef_client = TestKsefCollectiveIdentifiers.ksef_client
    identifiers_in_ksef = TestKsefCollectiveIdentifiers.identifiers_in_ksef

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.supplier = cls.env['res.partner'].create({
            'name': "Dostawca IZ sp. z o.o.", 'is_company': True, 'vat': 'PL' + SUPPLIER_NIP,
            'country_id': cls.env.ref('base.pl').id,
        })
        cls.env['res.lang']._activate_lang(cls.tour_lang)
        cls.env['ir.module.module'].sudo()._load_module_terms(
            ['base', 'web', 'mail', 'account', 'l10n_pl_ksef'], [cls.tour_lang], overwrite=True)
        cls.env.user.lang = cls.tour_lang

    def test_pay_three_bills_in_the_browser(self):
        numbers = self.seed_purchase_invoices(3)
        bills = self.create_bill(numbers[0], 10.0) | self.create_bill(numbers[1], 20.0) \
            | self.create_bill(numbers[2], 30.0)
        try:
            self.start_tour('/odoo/bills', 'l10n_pl_ksef_pay_bills_with_collective_identifier',
                            login=self.env.user.login)
        except unittest.SkipTest as skip:
            self.fail("The KSeF browser tours need headless Chromium: %s" % skip)
        payment = self.env['account.payment'].search([('partner_id', '=', self.supplier.id)])
        self.assertEqual(len(payment), 1, "one payment for the three bills")
        identifier = payment.l10n_pl_ksef_collective_identifier_id
        self.assertEqual(payment.memo, identifier.name)
        self.assertEqual(identifier.line_ids.move_id, bills)
        self.assertEqual(self.identifiers_in_ksef(SELLER_NIP, numbers[0]), [identifier.name])
