"""Receiving end to end through the emulator for every role the company can have on an invoice:
buyer (Podmiot2), third party (Podmiot3 with role and share) and authorized subject
(PodmiotUpowazniony); one bill per invoice however it was found; review activity, "KSeF: to review"
filter, and the invoice's visual (drawn from the XML) for received and sent invoices."""
import datetime
import uuid
from decimal import Decimal as D

from lxml import etree

from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from ..ksef_protocol.fa3 import FA3_NAMESPACE, build_fa3, compute_totals
from ..ksef_protocol.fa3.model import Address, Invoice, Line, Party, Totals
from .common import BUYER_NIP, SECOND_SELLER_NIP, SELLER_NIP, KsefEmulatorCase

COMPANY_NIP = SELLER_NIP
SUPPLIER_NIP = SECOND_SELLER_NIP
OTHER_BUYER_NIP = '1111111111'


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestReceivingSubjects(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.l10n_pl_ksef_receive_enabled = True
        cls.reviewer = cls.env['res.users'].create({
            'name': "Księgowa", 'login': 'ksef_reviewer', 'lang': 'en_US',
            'group_ids': [(4, cls.env.ref('account.group_account_invoice').id)],
            'company_id': cls.company.id, 'company_ids': [(6, 0, cls.company.ids)],
        })
        cls.company.l10n_pl_ksef_receive_user_id = cls.reviewer

    def setUp(self):
        super().setUp()
        moment = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='microseconds')
        self.company.write({'l10n_pl_ksef_receive_checkpoint': moment,
                            'l10n_pl_ksef_receive_env_key': self.company._l10n_pl_ksef_environment_key()})

    def make_invoice(self, buyer_nip, third_parties=(), lines=None):
        invoice = Invoice(
            seller=Party(name="Dostawca Trzeci S.A.", nip=SUPPLIER_NIP,
                         address=Address('PL', "ul. Piękna 7", "00-549 Warszawa")),
            buyer=Party(name="Nabywca", nip=buyer_nip, address=Address('PL', "ul. Długa 5", "80-001 Gdańsk")),
            third_parties=list(third_parties),
            number="FS/%s" % uuid.uuid4().hex[:10].upper(),
            issue_date=self.polish_today(),
            created_at=datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
            totals=Totals({}, D(0)),
            lines=lines or [Line("Wspólny zakup", "23", "szt.", D(2), D("500.00"), net=D("1000.00")),
                            Line("Dostawa", "8", "usł.", D(1), D("100.00"), net=D("100.00"))])
        invoice.totals = compute_totals(invoice)
        return invoice

    def with_authorized(self, xml, nip):
        """The FA(3) XML with a PodmiotUpowazniony (the builder does not write one)."""
        root = etree.fromstring(xml)
        ns = '{%s}' % FA3_NAMESPACE
        element = etree.Element(ns + 'PodmiotUpowazniony')
        ids = etree.SubElement(element, ns + 'DaneIdentyfikacyjne')
        etree.SubElement(ids, ns + 'NIP').text = nip
        etree.SubElement(ids, ns + 'Nazwa').text = "Przedstawiciel podatkowy"
        address = etree.SubElement(element, ns + 'Adres')
        etree.SubElement(address, ns + 'KodKraju').text = 'PL'
        etree.SubElement(address, ns + 'AdresL1').text = "ul. Krótka 1, 00-001 Warszawa"
        etree.SubElement(element, ns + 'RolaPU').text = '3'
        root.find(ns + 'Fa').addprevious(element)
        return etree.tostring(root, xml_declaration=True, encoding='UTF-8')

    def seed_xml(self, *xmls):
        answer = self.emulator.admin('/purchase-invoices', {'invoices': [{'xml': x.decode('utf-8')} for x in xmls]})
        return [item['ksefNumber'] for item in answer['invoices']]

    def bills(self, numbers):
        return self.env['account.move'].search([('company_id', '=', self.company.id),
                                                ('l10n_pl_ksef_number', 'in', list(numbers))])

    def messages(self, move):
        return ' '.join(move.message_ids.mapped('body'))

    def test_third_party_authorized_and_buyer_each_give_one_bill(self):
        as_third = self.make_invoice(OTHER_BUYER_NIP, [Party(name="Nasza Firma", nip=COMPANY_NIP, role=4,
                                                             share=D(50))])
        as_authorized = self.make_invoice(OTHER_BUYER_NIP)
        as_both = self.make_invoice(COMPANY_NIP, [Party(name="Nasza Firma", nip=COMPANY_NIP, role=2)])
        not_ours = self.make_invoice(OTHER_BUYER_NIP, [Party(name="Inny", nip=BUYER_NIP, role=4, share=D(50))])
        third_number, authorized_number, both_number, foreign_number = self.seed_xml(
            build_fa3(as_third), self.with_authorized(build_fa3(as_authorized), COMPANY_NIP), build_fa3(as_both),
            build_fa3(not_ours))

        self.env['res.company']._l10n_pl_ksef_cron_receive_invoices()

        bills = self.bills([third_number, authorized_number, both_number, foreign_number])
        self.assertEqual(sorted(bills.mapped('l10n_pl_ksef_number')),
                         sorted([third_number, authorized_number, both_number]),
                         "the company's invoices arrive whatever its role; others' do not")
        third = bills.filtered(lambda bill: bill.l10n_pl_ksef_number == third_number)
        self.assertRecordValues(third, [{'move_type': 'in_invoice', 'state': 'draft', 'ref': as_third.number,
                                         'amount_untaxed': 1100.0, 'amount_tax': 238.0, 'amount_total': 1338.0}])
        self.assertIn("role 4", third.l10n_pl_ksef_company_role)
        self.assertIn("50", third.l10n_pl_ksef_company_role)
        self.assertIn("book only the company's part", self.messages(third))
        authorized = bills.filtered(lambda bill: bill.l10n_pl_ksef_number == authorized_number)
        self.assertIn("authorized subject", authorized.l10n_pl_ksef_company_role)
        both = bills.filtered(lambda bill: bill.l10n_pl_ksef_number == both_number)
        self.assertTrue(both.l10n_pl_ksef_company_role.startswith("buyer"))
        self.assertEqual(self.env['account.move'].search_count([('l10n_pl_ksef_number', '=', both_number),
                                                                ('company_id', '=', self.company.id)]), 1,
                         "found as buyer and as third party, imported once")
        # The exports asked for all three roles, each from its own checkpoint.
        log = self.emulator.log_text()
        self.assertTrue(self.company.l10n_pl_ksef_receive_checkpoints.get('Subject3'))
        self.assertTrue(self.company.l10n_pl_ksef_receive_checkpoints.get('SubjectAuthorized'))
        self.assertIn('POST /v2/invoices/exports', log)

        # A second run imports nothing again.
        self.env['res.company']._l10n_pl_ksef_cron_receive_invoices()
        self.assertEqual(len(self.bills([third_number, authorized_number, both_number])), 3)

        # The reviewer has one to-do per new bill, and "KSeF: to review" lists them until posted.
        for bill in bills:
            activity = bill.activity_ids
            self.assertEqual(len(activity), 1)
            self.assertEqual(activity.user_id, self.reviewer)
            self.assertEqual(activity.summary, "Review the bill received from KSeF")
        to_review = self.search_with_filter('l10n_pl_ksef_to_review')
        self.assertLessEqual(bills, to_review)
        third.action_post()
        self.assertNotIn(third, self.search_with_filter('l10n_pl_ksef_to_review'))

        # The visual drawn from the received XML: parties, lines, totals per rate, KSeF number, KOD I.
        html = self.render_visual(third)
        for text in ("Dostawca Trzeci S.A.", SUPPLIER_NIP, "Nasza Firma", COMPANY_NIP, "50", "Wspólny zakup",
                     "Dostawa", third_number, as_third.number, "1,000.00", "230.00", "8.00", "1,338.00",
                     "/invoice/%s/" % SUPPLIER_NIP):
            self.assertIn(text, html)
        attachment = self.env['ir.attachment'].search([('res_model', '=', 'account.move'), ('res_id', '=', third.id),
                                                       ('name', '=like', third_number + '.%'),
                                                       ('name', '!=', third_number + '.xml')])
        self.assertEqual(len(attachment), 1, "the visual is attached to the bill")
        self.assertIn(third_number, attachment.raw.decode())

    def search_with_filter(self, name):
        """Bills the search view's filter ``name`` shows, its domain taken from the view as the web client does."""
        arch = self.env['account.move'].get_views([(False, 'search')])['views']['search']['arch']
        node = etree.fromstring(arch).find(".//filter[@name='%s']" % name)
        self.assertIsNotNone(node, "the search view has the filter %s" % name)
        return self.env['account.move'].search(safe_eval(node.get('domain')))

    def render_visual(self, move):
        html, _kind = self.env['ir.actions.report']._render_qweb_html(
            'l10n_pl_ksef.action_report_ksef_invoice_visual', move.ids)
        return html.decode()

    def test_visual_of_a_sent_invoice(self):
        move = self.create_invoice(amount=1234.5)
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        html = self.render_visual(move)
        for text in (move.l10n_pl_ksef_number, move.name, "Odbiorca S.A.", BUYER_NIP, "1,234.50", "283.94",
                     "1,518.44", "/invoice/%s/" % COMPANY_NIP):
            self.assertIn(text, html)
