"""Every third-party FA(3) sample (tests/data/fa3_samples: the Ministry of Finance's examples and the
MIT-licensed ksef2 SDK's samples, see LICENSE-ksef2.md there) becomes a draft bill equal to its XML.

The expected figures are read from the XML here with plain XPath, independently of the addon's parser:
per rate group (P_13_x / P_14_x / P_14_xW) net and VAT in the invoice currency and in PLN, the total
P_15, type, partner, dates, reference, currency, links to corrected and advance bills, payment data.
"""
import datetime
import os
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from ..ksef_protocol.fa3 import build_fa3, compute_totals
from ..ksef_protocol.fa3.model import Annotations, Invoice, Line, Party, Totals

SAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'fa3_samples')
NS = {'f': 'http://crd.gov.pl/wzor/2025/06/25/13775/'}
BUCKETS = ('1', '2', '3', '4', '5', '6_1', '6_2', '6_3', '7', '8', '9', '10', '11')
CORRECTIONS = ('KOR', 'KOR_ZAL', 'KOR_ROZ')

#: Import order (an invoice before what corrects or settles it) and the KSeF number each sample gets:
#: the number its corrections / settlements quote where the samples agree, else a made-up one.
SAMPLES = [
    ('mf-example-1.xml', '9999999999-20230908-8BEF280C8D35-4D'),
    *[('mf-example-%s.xml' % n, 'TEST-MF-%s' % n) for n in (4, 8, 9, 15, 19, 20, 22, 23, 24, 25, 26, 14, 2, 3, 5, 6,
                                                            11, 13, 18)],
    ('sdk-01_VAT_STANDARD.xml', '9999999999-20251215-A1B2C3-D4E5F6-AB'),
    ('sdk-03_ZAL.xml', '9999999999-20251001-A1B2C3-D4E5F6-AB'),
    ('sdk-04_UPR.xml', 'TEST-SDK-04'),
    ('sdk-05_WDT.xml', 'TEST-SDK-05'),
    ('sdk-06_EXP.xml', 'TEST-SDK-06'),
    ('sdk-02_KOR.xml', 'TEST-SDK-02'),
    ('sdk-07_KOR_ZAL_A.xml', '9999999999-20251015-A1B2C3-D4E5F6-AB'),
    ('sdk-08_KOR_ZAL_B.xml', 'TEST-SDK-08'),
    ('sdk-09_ROZ_A.xml', '9999999999-20251115-A1B2C3-D4E5F6-AB'),
    ('sdk-10_ROZ_B.xml', '9999999999-20251220-A1B2C3-D4E5F6-AB'),
    ('sdk-11_KOR_ROZ_A.xml', 'TEST-SDK-11'),
    ('sdk-12_KOR_ROZ_B.xml', 'TEST-SDK-12'),
]
#: Links the data allows: (corrected bills, advance bills). A KSeF number quoted for a different invoice
#: number (the Ministry's examples reuse 8BEF280C8D35 for several invoices), a reference matching several
#: bills, or an "advance" that is not an advance bill is noted on the bill, never linked by guess.
LINKS = {
    'mf-example-2.xml': (['mf-example-1.xml'], []),
    'mf-example-3.xml': (['mf-example-1.xml'], []),
    'mf-example-5.xml': (['mf-example-1.xml'], []),
    'sdk-02_KOR.xml': (['sdk-01_VAT_STANDARD.xml'], []),
    'sdk-07_KOR_ZAL_A.xml': (['sdk-03_ZAL.xml'], []),
    'sdk-08_KOR_ZAL_B.xml': (['sdk-03_ZAL.xml', 'sdk-07_KOR_ZAL_A.xml'], []),
    'sdk-09_ROZ_A.xml': ([], ['sdk-03_ZAL.xml']),
    'sdk-10_ROZ_B.xml': ([], ['sdk-03_ZAL.xml']),
    'sdk-11_KOR_ROZ_A.xml': (['sdk-09_ROZ_A.xml'], ['sdk-03_ZAL.xml']),
    'sdk-12_KOR_ROZ_B.xml': (['sdk-10_ROZ_B.xml'], ['sdk-03_ZAL.xml']),
}
#: Buyer NIP (Podmiot2) -> company; the samples with a foreign buyer (mf-22: DE VAT number, mf-23: US) go to
#: the main company, which the bill then says is not named on the invoice.
MAIN_NIP, SECOND_NIP = '1111111111', '2222222222'


def D(text):
    return Decimal(text) if text is not None else None


def cents(value):
    return value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestReceivedSamples(AccountTestInvoicingCommon):

    @classmethod
    @AccountTestInvoicingCommon.setup_country('pl')
    def setUpClass(cls):
        super().setUpClass()
        cls.main_company = cls.company_data['company']
        cls.main_company.write({'vat': 'PL' + MAIN_NIP, 'name': "F.H.U. Jan Kowalski"})
        cls.second_company = cls.setup_other_company(name="Jan Kowalski", vat='PL' + SECOND_NIP)['company']

    def xml(self, name):
        with open(os.path.join(SAMPLES_DIR, name), 'rb') as handle:
            raw = handle.read()
        return raw, etree.fromstring(raw)

    def company_of(self, root):
        nip = root.findtext('f:Podmiot2/f:DaneIdentyfikacyjne/f:NIP', namespaces=NS)
        return self.second_company if nip == SECOND_NIP else self.main_company

    def test_every_sample_becomes_an_exact_bill(self):
        Move = self.env['account.move']
        bills = {}
        for name, ksef_number in SAMPLES:
            raw, root = self.xml(name)
            company = self.company_of(root)
            bills[name] = Move._l10n_pl_ksef_import_received_invoice(company, ksef_number, raw)
        self.assertEqual(sorted(bills), sorted(f for f in os.listdir(SAMPLES_DIR) if f.endswith('.xml')),
                         "every sample is imported")
        for name, _ksef_number in SAMPLES:
            with self.subTest(sample=name):
                self.check_bill(name, bills[name], bills)

    def check_bill(self, name, bill, bills):
        _raw, root = self.xml(name)
        fa = root.find('f:Fa', NS)

        def text(path):
            return fa.findtext(path, namespaces=NS)

        kind, currency, total = text('f:RodzajFaktury'), text('f:KodWaluty'), D(text('f:P_15'))
        refund = kind in CORRECTIONS and total < 0
        sign = -1 if refund else 1
        # Type, partner, dates, reference, currency.
        self.assertEqual(bill.move_type, 'in_refund' if refund else 'in_invoice')
        self.assertEqual(bill.state, 'draft')
        self.assertEqual(bill.company_id, self.company_of(root))
        self.assertEqual(bill.partner_id.vat, 'PL' + root.findtext('f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP',
                                                                   namespaces=NS))
        self.assertEqual(bill.ref, text('f:P_2'))
        self.assertEqual(bill.invoice_date, datetime.date.fromisoformat(text('f:P_1')))
        delivery = text('f:P_6') or text('f:OkresFa/f:P_6_Do')
        if delivery and 'delivery_date' in bill._fields:
            self.assertEqual(bill.delivery_date, datetime.date.fromisoformat(delivery))
        self.assertEqual(bill.currency_id.name, currency)
        self.assertEqual(bill.l10n_pl_ksef_invoice_kind, kind)

        # The invoice's own exchange rate: KursWalutyZ (advance) or the lines' KursWaluty.
        rate = D(text('f:KursWalutyZ')) or D(fa.findtext('f:FaWiersz/f:KursWaluty', namespaces=NS))
        if currency != 'PLN' and rate:
            self.assertAlmostEqual(bill.invoice_currency_rate, 1 / float(rate), places=12)
        base_lines = bill.invoice_line_ids
        tax_lines = bill.line_ids.filtered(lambda line: line.display_type == 'tax')
        for key in BUCKETS:
            net, tax, tax_pln = D(text('f:P_13_%s' % key)), D(text('f:P_14_%s' % key)), D(text('f:P_14_%sW' % key))
            lines = base_lines.filtered(lambda line: line.l10n_pl_ksef_bucket == key)
            if net is None:
                self.assertFalse(sum(lines.mapped('amount_currency')), "rate group %s is not on the invoice" % key)
                continue
            # Net per rate group in the invoice currency (amount_currency carries the invoice's sign).
            self.assertEqual(cents(Decimal(str(sum(lines.mapped('amount_currency'))))), cents(net),
                             "net of rate group P_13_%s" % key)
            self.assertTrue(all(line.tax_ids for line in lines), "every line of rate group %s has a tax" % key)
            bucket_taxes = lines.tax_ids
            bucket_tax_lines = tax_lines.filtered(lambda line: line.tax_line_id in bucket_taxes)
            vat = cents(Decimal(str(sum(bucket_tax_lines.mapped('amount_currency')))))
            self.assertEqual(vat, cents(tax if tax is not None else Decimal(0)), "VAT of rate group P_14_%s" % key)
            # In PLN: the invoice's own P_14_xW, else its rate; the net at the invoice's rate line by line.
            vat_pln = cents(Decimal(str(sum(bucket_tax_lines.mapped('balance')))))
            if currency == 'PLN':
                self.assertEqual(vat_pln, vat)
                self.assertEqual(sum(lines.mapped('balance')), sum(lines.mapped('amount_currency')))
            elif rate:
                expected = tax_pln if tax_pln is not None else cents((tax or Decimal(0)) * rate)
                self.assertEqual(vat_pln, expected, "VAT in PLN of rate group P_14_%sW" % key)
                for line in lines:
                    self.assertEqual(cents(Decimal(str(line.balance))),
                                     cents(Decimal(str(line.amount_currency)) * rate), "net in PLN at the invoice's rate")
        # Total: P_15, in the invoice currency and in PLN (the sum of the PLN lines).
        self.assertEqual(cents(Decimal(str(bill.amount_total))), cents(abs(total)))
        self.assertEqual(cents(Decimal(str(-bill.amount_total_signed))), cents(Decimal(str(
            sum(bill.line_ids.filtered(lambda line: line.display_type != 'payment_term').mapped('balance'))))))
        untaxed = base_lines.filtered(lambda line: not line.tax_ids)
        for line in untaxed:
            self.assertFalse(line.l10n_pl_ksef_bucket, "only the P_15 rounding line is without tax")
            self.assertIn("P_15", self.messages(bill))

        # Links to corrected and advance bills.
        corrected, advances = LINKS.get(name, ([], []))
        self.assertEqual(bill.l10n_pl_ksef_corrected_move_ids, self.env['account.move'].union(
            *[bills[other] for other in corrected]), "corrected bills")
        self.assertEqual(bill.l10n_pl_ksef_advance_move_ids, self.env['account.move'].union(
            *[bills[other] for other in advances]), "advance bills")
        if refund and len(corrected) == 1:
            self.assertEqual(bill.reversed_entry_id, bills[corrected[0]])
        for reference in fa.findall('f:DaneFaKorygowanej', NS):
            self.assertIn(reference.findtext('f:NrFaKorygowanej', namespaces=NS), self.messages(bill))
        for reference in fa.findall('f:FakturaZaliczkowa', NS):
            self.assertIn(reference.findtext('f:NrKSeFFaZaliczkowej', namespaces=NS), self.messages(bill))

        # Payment data.
        self.check_payment(fa, bill, sign)

    def check_payment(self, fa, bill, sign):
        payment = fa.find('f:Platnosc', NS)
        dates = sorted(datetime.date.fromisoformat(node.text)
                       for node in fa.findall('f:Platnosc/f:TerminPlatnosci/f:Termin', NS))
        issue = datetime.date.fromisoformat(fa.findtext('f:P_1', namespaces=NS))
        for described in fa.findall('f:Platnosc/f:TerminPlatnosci/f:TerminOpis', NS):
            dates.append(issue + datetime.timedelta(days=int(described.findtext('f:Ilosc', namespaces=NS))))
        paid = payment is not None and payment.findtext('f:Zaplacono', namespaces=NS) == '1'
        paid_date = payment.findtext('f:DataZaplaty', namespaces=NS) if payment is not None else None
        if dates:
            self.assertEqual(bill.invoice_date_due, min(dates), "due date from TerminPlatnosci")
        elif paid and paid_date:
            self.assertEqual(bill.invoice_date_due, datetime.date.fromisoformat(paid_date))
        self.assertEqual(bill.l10n_pl_ksef_paid, paid)
        if paid:
            self.assertEqual(bill.l10n_pl_ksef_paid_date, datetime.date.fromisoformat(paid_date))
            self.assertIn("do not pay it again", self.messages(bill))
        partial = [D(node.text) for node in fa.findall('f:Platnosc/f:ZaplataCzesciowa/f:KwotaZaplatyCzesciowej', NS)]
        if partial:
            self.assertEqual(cents(Decimal(str(bill.l10n_pl_ksef_paid_amount))), cents(sum(partial)))
        factor = fa.findtext('f:Platnosc/f:RachunekBankowyFaktora/f:NrRB', namespaces=NS)
        account = factor or fa.findtext('f:Platnosc/f:RachunekBankowy/f:NrRB', namespaces=NS)
        self.assertEqual(bill.partner_bank_id.sanitized_acc_number or None, account)
        self.assertEqual(bill.l10n_pl_ksef_factor_bank, bool(factor))
        if factor:
            self.assertIn("factor", self.messages(bill))
        amount_due = D(fa.findtext('f:Rozliczenie/f:DoZaplaty', namespaces=NS))
        if amount_due is not None:
            self.assertEqual(cents(Decimal(str(bill.l10n_pl_ksef_amount_due))), cents(amount_due * sign))

    def messages(self, bill):
        return ' '.join(bill.message_ids.mapped('body'))

    def test_a_paid_invoice_warns_before_paying(self):
        raw, _root = self.xml('sdk-03_ZAL.xml')
        bill = self.env['account.move']._l10n_pl_ksef_import_received_invoice(self.main_company, 'TEST-PAID', raw)
        bill.action_post()
        action = bill.action_register_payment()
        self.assertEqual(action['tag'], 'display_notification', "paying a bill paid already warns first")
        self.assertEqual(action['params']['type'], 'warning')
        anyway = bill.action_l10n_pl_ksef_register_payment_anyway()
        self.assertEqual(anyway['res_model'], 'account.payment.register')


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestReceivedPurchaseTaxes(AccountTestInvoicingCommon):
    """A purchase tax for every FA(3) rate, from the company's chart, configurable per company."""

    @classmethod
    @AccountTestInvoicingCommon.setup_country('pl')
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data['company']
        cls.company.vat = 'PL' + MAIN_NIP

    def chart_tax(self, template_id, company=None):
        return self.env['account.chart.template'].with_company(company or self.company).ref(template_id)

    def test_every_rate_has_a_purchase_tax(self):
        Map = self.env['l10n_pl_ksef.purchase.tax']
        expected = {'23': 23, '22': 22, '8': 8, '7': 7, '5': 5, '4': 4, '3': 3, '0 KR': 0, '0 WDT': 0, '0 EX': 0,
                    'zw': 0, 'oo': 23, 'np I': 0, 'np II': 0, 'margin': 0, 'oss': 0}
        self.assertEqual(sorted(expected), sorted(key for key, _label in Map._fields['rate'].selection))
        for rate, amount in expected.items():
            tax = Map._tax_for_rate(self.company, rate)
            self.assertEqual(len(tax), 1, "rate %s has a tax" % rate)
            self.assertEqual((tax.type_tax_use, tax.amount, tax.company_id), ('purchase', amount, self.company), rate)
            self.assertEqual(Map._tax_for_rate(self.company, rate), tax, "the same tax every time")
        self.assertEqual(Map._tax_for_rate(self.company, '23'), self.chart_tax('vz_kraj_23'))
        # The reverse charge self-assesses: VAT deductible and VAT due, net zero.
        reverse = Map._tax_for_rate(self.company, 'oo')
        self.assertEqual(reverse, self.chart_tax('vz_stal'))
        factors = sorted(reverse.invoice_repartition_line_ids.filtered(
            lambda line: line.repartition_type == 'tax').mapped('factor_percent'))
        self.assertEqual(factors, [-100.0, 100.0])

    def test_company_setting_wins_and_odd_rates_keep_the_invoice_vat(self):
        services = self.chart_tax('vz_kraj_usl_23')
        self.env['l10n_pl_ksef.purchase.tax'].create({'company_id': self.company.id, 'rate': '23',
                                                      'tax_id': services.id})
        invoice = Invoice(
            seller=Party(name="Dostawca", nip='9999999999'), buyer=Party(name="My", nip=MAIN_NIP),
            number="FV/ODD/1", issue_date=datetime.date(2026, 3, 2),
            created_at=datetime.datetime(2026, 3, 2, tzinfo=datetime.timezone.utc), totals=Totals({}, Decimal(0)),
            lines=[Line("Usługa", "23", "h", Decimal(1), Decimal("100.00"), net=Decimal("100.00")),
                   Line("Stara stawka", "22", "szt.", Decimal(3), Decimal("33.33"), net=Decimal("99.99")),
                   Line("Stara obniżona", "7", "szt.", Decimal(1), Decimal("10.01"), net=Decimal("10.01")),
                   Line("Stal", "oo", "t", Decimal(2), Decimal("500.00"), net=Decimal("1000.00"))],
            annotations=Annotations(reverse_charge=True))
        invoice.totals = compute_totals(invoice)
        bill = self.env['account.move']._l10n_pl_ksef_import_received_invoice(
            self.company, 'TEST-ODD-1', build_fa3(invoice))
        lines = bill.invoice_line_ids.sorted('id')
        self.assertEqual(lines[0].tax_ids, services, "the company's own setting for 23%")
        self.assertEqual(lines.mapped('tax_ids.amount'), [23.0, 22.0, 7.0, 23.0])
        self.assertEqual(lines[3].tax_ids, self.chart_tax('vz_stal'))
        by_tax = {tax: sum(bill.line_ids.filtered(lambda l: l.tax_line_id == tax).mapped('amount_currency'))
                  for tax in lines.tax_ids}
        self.assertAlmostEqual(by_tax[lines[1].tax_ids], float(invoice.totals.buckets['1'].tax) - 23.0)
        self.assertAlmostEqual(by_tax[lines[2].tax_ids], float(invoice.totals.buckets['2'].tax))
        self.assertAlmostEqual(by_tax[lines[3].tax_ids], 0.0, msg="self-assessed VAT nets to zero")
        self.assertEqual(len(bill.line_ids.filtered(lambda l: l.tax_line_id == lines[3].tax_ids)), 2)
        self.assertAlmostEqual(bill.amount_total, float(invoice.totals.total))
        self.assertIn("Reverse charge", ' '.join(bill.message_ids.mapped('body')))
        # Another company keeps the chart's tax.
        other = self.setup_other_company(name="Inna")['company']
        self.assertEqual(self.env['l10n_pl_ksef.purchase.tax']._tax_for_rate(other, '23'),
                         self.chart_tax('vz_kraj_23', other))

    def test_visual_pdf_of_a_received_invoice(self):
        """The visual is a real PDF (wkhtmltopdf) whose text holds the invoice's parties, lines and totals."""
        if not shutil.which('pdftotext') or not shutil.which('wkhtmltopdf'):
            self.skipTest("pdftotext/wkhtmltopdf missing: scripts/bootstrap.sh installs them")
        with open(os.path.join(SAMPLES_DIR, 'mf-example-20.xml'), 'rb') as handle:
            raw = handle.read()
        # Debian's wkhtmltopdf (unpatched Qt) warns that it ignores header/footer switches: not our concern.
        with mute_logger('odoo.addons.base.models.ir_actions_report'):
            bill = self.env['account.move'].with_context(
                force_report_rendering=True)._l10n_pl_ksef_import_received_invoice(self.company, 'TEST-VISUAL-20', raw)
        attachment = self.env['ir.attachment'].search([('res_model', '=', 'account.move'), ('res_id', '=', bill.id),
                                                       ('mimetype', '=', 'application/pdf')])
        self.assertEqual(attachment.name, 'TEST-VISUAL-20.pdf')
        self.assertTrue(attachment.raw.startswith(b'%PDF'))
        text = subprocess.run(['pdftotext', '-layout', '-', '-'], input=attachment.raw, capture_output=True,
                              check=True).stdout.decode()
        for expected in ("FV2026/02/150", "TEST-VISUAL-20", "ABC AGD sp. z o. o.", "9999999999", "CDE sp. j.",
                         "lodówka Zimnotech mk1", "zmywarka Bryza 100", "13,560.00 EUR", "3,118.80 EUR",
                         "14,036.16 PLN", "16,678.80 EUR", "73111111111111111111111111", "2026-03-15"):
            self.assertIn(expected, text)
