"""FA(3) built from real account.move records of a Polish company, compared
node by node with reviewed golden files and validated against the XSD."""
import os
import re
from unittest.mock import patch

from lxml import etree

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .fa3_common import GOLDEN_DIR, Fa3OdooCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestFa3Invoices(Fa3OdooCase):

    def test_fa3_standard_rates_and_five_percent_trap(self):
        move = self.invoice(self.buyer_pl, [
            ("Usługa doradcza", 10, 150.0, 'vs_kraj_23'),
            ("Catering", 20, 35.5, 'vs_kraj_8'),
            ("Książka", 3, 49.99, 'vs_kraj_5'),
        ], taxable_supply_date='2026-01-30', ref='ZAM/2026/0042', narration='<p>Dziękujemy za współpracę.</p>')
        root = self.assert_golden(move, 'vat_basic')
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_12'), ['23', '8', '5'])
        self.assertEqual(self.xpath(root, '//f:P_13_3'), ['149.97'])
        self.assertEqual(self.xpath(root, '//f:P_14_3'), ['7.50'])
        self.assertEqual(self.xpath(root, '//f:P_15'), ['%.2f' % move.amount_total])
        self.assertFalse(root.xpath('//f:P_13_7', namespaces={'f': root.nsmap[None]}))
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19N'), ['1'])
        self.assertEqual(self.xpath(root, '//f:P_6'), ['2026-01-30'])

    def test_fa3_correction_of_ksef_invoice_price(self):
        invoice = self.invoice(self.buyer_pl, [("Usługa doradcza", 5, 150.0, 'vs_kraj_23')])
        invoice.l10n_pl_ksef_number = '5260250009-20260115-0100001AF629-2B'
        refund = self.credit_note(invoice, [("Obniżka ceny", 5, 20.0, 'vs_kraj_23')], "Rabat po wystawieniu",
                                  l10n_pl_ksef_correction_method='price', l10n_pl_ksef_correction_type='2')
        root = self.assert_golden(refund, 'correction_ksef')
        self.assertEqual(self.xpath(root, '//f:RodzajFaktury'), ['KOR'])
        self.assertEqual(self.xpath(root, '//f:NrKSeF'), ['1'])
        self.assertEqual(self.xpath(root, '//f:PrzyczynaKorekty'), ['Rabat po wystawieniu'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_8B'), ['5'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_9A'), ['-20.00'])
        self.assertEqual(self.xpath(root, '//f:P_15'), ['-123.00'])

    def test_fa3_correction_outside_ksef_quantity(self):
        invoice = self.invoice(self.buyer_pl, [("Monitor", 5, 899.0, 'vs_kraj_23')])
        refund = self.credit_note(invoice, [("Monitor", 2, 899.0, 'vs_kraj_23')], "Zwrot towaru",
                                  l10n_pl_ksef_correction_type='1')
        root = self.assert_golden(refund, 'correction_outside_ksef')
        self.assertEqual(self.xpath(root, '//f:NrKSeFN'), ['1'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_8B'), ['-2'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_9A'), ['899.00'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_11'), ['-1798.00'])
        self.assertEqual(self.xpath(root, '//f:P_14_1'), ['-413.54'])

    def test_fa3_advance_settlement_and_their_corrections(self):
        advance = self.invoice(self.buyer_pl, [("Zaliczka na regały magazynowe", 1, 10000.0, 'vs_kraj_23')],
                               l10n_pl_ksef_fa3_kind='advance', l10n_pl_ksef_order_total=24600.0)
        root = self.assert_golden(advance, 'advance')
        self.assertEqual(self.xpath(root, '//f:RodzajFaktury'), ['ZAL'])
        self.assertEqual(self.xpath(root, '//f:WartoscZamowienia'), ['24600.00'])
        self.assertEqual(self.xpath(root, '//f:P_11NettoZ'), ['20000.00'])
        self.assertFalse(root.xpath('//f:FaWiersz', namespaces={'f': root.nsmap[None]}))

        settlement = self.invoice(self.buyer_pl, [
            ("Regał magazynowy", 40, 500.0, 'vs_kraj_23'),
            ("Zaliczka FZ", -1, 10000.0, 'vs_kraj_23'),
        ], l10n_pl_ksef_fa3_kind='settlement', l10n_pl_ksef_advance_invoice_ids=[Command.set(advance.ids)])
        root = self.assert_golden(settlement, 'settlement')
        self.assertEqual(self.xpath(root, '//f:RodzajFaktury'), ['ROZ'])
        self.assertEqual(self.xpath(root, '//f:P_13_1'), ['10000.00'])
        self.assertEqual(self.xpath(root, '//f:P_15'), ['12300.00'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_11'), ['20000.00'])
        self.assertEqual(self.xpath(root, '//f:FakturaZaliczkowa/f:NrFaZaliczkowej'), [advance.name])

        advance_refund = self.credit_note(advance, [("Korekta zaliczki", 1, 5000.0, 'vs_kraj_23')],
                                          "Błędna kwota zaliczki")
        root = self.assert_golden(advance_refund, 'advance_correction')
        self.assertEqual(self.xpath(root, '//f:RodzajFaktury'), ['KOR_ZAL'])
        self.assertEqual(self.xpath(root, '//f:P_15ZK'), ['12300.00'])
        self.assertEqual(self.xpath(root, '//f:P_13_1'), ['-5000.00'])
        # the order is the corrected advance's order, not scaled from the correction amount
        self.assertEqual(self.xpath(root, '//f:P_11NettoZ'), ['20000.00'])

        settlement_refund = self.credit_note(settlement, [("Regał magazynowy", 1, 500.0, 'vs_kraj_23')],
                                             "Zwrot jednego regału")
        root = self.assert_golden(settlement_refund, 'settlement_correction')
        self.assertEqual(self.xpath(root, '//f:RodzajFaktury'), ['KOR_ROZ'])

    def test_fa3_reverse_charge(self):
        root = self.assert_golden(self.invoice(self.buyer_pl, [("Pręty stalowe", 2, 4000.0, 'vs_stal')]),
                                  'reverse_charge')
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_12'), ['oo'])
        self.assertEqual(self.xpath(root, '//f:P_13_10'), ['8000.00'])
        self.assertEqual(self.xpath(root, '//f:Adnotacje/f:P_18'), ['1'])

    def test_fa3_intra_eu_supply_with_prefixes(self):
        root = self.assert_golden(self.invoice(self.buyer_de, [("Maszyna pakująca", 1, 45000.0, 'vs_unia')]),
                                  'intra_eu_supply')
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:KodUE'), ['DE'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:NrVatUE'), ['811907980'])
        self.assertEqual(self.xpath(root, '//f:Podmiot1/f:PrefiksPodatnika'), ['PL'])
        self.assertEqual(self.xpath(root, '//f:P_13_6_2'), ['45000.00'])

    def test_fa3_export_to_non_eu_buyer(self):
        root = self.assert_golden(self.invoice(self.buyer_us, [("Części zamienne", 12, 250.0, 'vs_eksp_tow')]),
                                  'export')
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:NrID'), ['12-3456789'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:KodKraju'), ['US', 'US'])
        self.assertEqual(self.xpath(root, '//f:P_13_6_3'), ['3000.00'])
        self.assertFalse(root.xpath('//f:Podmiot1/f:PrefiksPodatnika', namespaces={'f': root.nsmap[None]}))

    def test_fa3_services_outside_poland(self):
        root = self.assert_golden(self.invoice(self.buyer_de, [
            ("Usługa programistyczna", 80, 55.0, 'vs_dostu'),
            ("Usługa poza UE", 1, 1200.0, 'vs_ekspu'),
        ]), 'services_outside_poland')
        self.assertEqual(self.xpath(root, '//f:P_13_9'), ['4400.00'])
        self.assertEqual(self.xpath(root, '//f:P_13_8'), ['1200.00'])
        self.assertEqual(self.xpath(root, '//f:Adnotacje/f:P_18'), ['1'])

    def test_fa3_advance_for_eu_services_uses_p_13_9(self):
        move = self.invoice(self.buyer_de, [("Zaliczka na wdrożenie", 1, 5000.0, 'vs_dostu')],
                            l10n_pl_ksef_fa3_kind='advance', l10n_pl_ksef_order_total=10000.0)
        root = self.assert_golden(move, 'advance_services_np')
        self.assertEqual(self.xpath(root, '//f:P_13_9'), ['5000.00'])
        self.assertFalse(root.xpath('//f:P_13_8', namespaces={'f': root.nsmap[None]}))
        self.assertEqual(self.xpath(root, '//f:P_12Z'), ['np II'])

    def test_fa3_oss(self):
        oss_tax = self.taxes['vs_kraj_23'].copy({'name': '19% DE OSS', 'amount': 19.0,
                                                 'l10n_pl_ksef_fa3_rate': 'oss'})
        person_de = self.env['res.partner'].create({'name': 'Max Mustermann', 'street': 'Hauptstraße 3',
                                                    'zip': '80331', 'city': 'München',
                                                    'country_id': self.env.ref('base.de').id})
        root = self.assert_golden(self.invoice(person_de, [("Ekspres do kawy", 1, 300.0, oss_tax)]), 'oss')
        self.assertEqual(self.xpath(root, '//f:P_12_XII'), ['19'])
        self.assertEqual(self.xpath(root, '//f:P_13_5'), ['300.00'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:BrakID'), ['1'])

    def test_fa3_exemption_basis_from_tax(self):
        self.taxes['vs_kraj_zw'].write({'l10n_pl_ksef_exemption_kind': 'A',
                                        'l10n_pl_ksef_exemption_basis': 'art. 43 ust. 1 pkt 29 lit. c ustawy o VAT'})
        root = self.assert_golden(self.invoice(self.buyer_pl, [
            ("Szkolenie zawodowe", 4, 800.0, 'vs_kraj_zw'),
            ("Materiały szkoleniowe", 4, 50.0, 'vs_kraj_23'),
        ]), 'exempt_act')
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19A'), ['art. 43 ust. 1 pkt 29 lit. c ustawy o VAT'])
        self.assertEqual(self.xpath(root, '//f:P_13_7'), ['3200.00'])

    def test_fa3_exemption_basis_from_fiscal_position(self):
        position = self.env['account.fiscal.position'].create({
            'name': 'Zwolnienie podmiotowe', 'l10n_pl_ksef_exemption_kind': 'C',
            'l10n_pl_ksef_exemption_basis': 'zwolnienie podmiotowe, art. 113 ust. 1'})
        root = self.assert_golden(self.invoice(self.buyer_pl, [("Naprawa roweru", 1, 250.0, 'vs_kraj_zw')],
                                               fiscal_position_id=position.id), 'exempt_other')
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19C'), ['zwolnienie podmiotowe, art. 113 ust. 1'])

    def test_fa3_exemption_basis_from_directive(self):
        financial = self.taxes['vs_kraj_zw'].copy({
            'name': 'zw - usługi finansowe', 'l10n_pl_ksef_fa3_rate': 'zw', 'l10n_pl_ksef_exemption_kind': 'B',
            'l10n_pl_ksef_exemption_basis': 'art. 135 ust. 1 lit. d dyrektywy 2006/112/WE'})
        self.assertEqual(financial._l10n_pl_ksef_fa3_rate(), 'zw')
        root = self.assert_golden(self.invoice(self.buyer_pl, [("Usługa finansowa", 1, 1000.0, financial)]),
                                  'exempt_directive')
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Zwolnienie/f:P_19B'), ['art. 135 ust. 1 lit. d dyrektywy 2006/112/WE'])
        self.assertFalse(root.xpath('//f:Zwolnienie/f:P_19A', namespaces={'f': root.nsmap[None]}))
        self.assertEqual(self.xpath(root, '//f:P_13_7'), ['1000.00'])

    def test_fa3_exempt_line_without_basis_is_not_sendable(self):
        move = self.invoice(self.buyer_pl, [("Naprawa roweru", 1, 250.0, 'vs_kraj_zw')])
        findings = move._l10n_pl_ksef_check_fa3()
        self.assertEqual(len(findings), 1)
        self.assertIn('P_19A', findings[0])

    def test_fa3_split_payment_over_15000_with_annex_15(self):
        laptop = self.env['product.product'].create({'name': 'Laptop', 'l10n_pl_ksef_annex_15': True,
                                                     'l10n_pl_vat_gtu': 'GTU_06'})
        move = self.invoice(self.buyer_pl, [("Laptop", 10, 4000.0, 'vs_kraj_23', {'product_id': laptop.id})])
        root = self.assert_golden(move, 'split_payment')
        self.assertEqual(self.xpath(root, '//f:Adnotacje/f:P_18A'), ['1'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_12_Zal_15'), ['1'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:GTU'), ['GTU_06'])
        small = self.invoice(self.buyer_pl, [("Laptop", 1, 4000.0, 'vs_kraj_23', {'product_id': laptop.id})])
        self.assertEqual(self.xpath(etree.fromstring(self.render(small)), '//f:Adnotacje/f:P_18A'), ['2'])

    def test_fa3_gtu_and_procedure(self):
        service = self.env['product.product'].create({'name': 'Doradztwo prawne', 'l10n_pl_vat_gtu': 'GTU_12'})
        self.buyer_pl.l10n_pl_links_with_customer = True
        move = self.invoice(self.buyer_pl, [("Doradztwo prawne", 12, 400.0, 'vs_kraj_23',
                                             {'product_id': service.id})], l10n_pl_vat_b_spv=True)
        root = self.assert_golden(move, 'gtu_and_procedures')
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:Procedura'), ['B_SPV'])
        self.assertEqual(self.xpath(root, '//f:Fa/f:TP'), ['1'])

    def test_fa3_discount_negative_and_zero_lines(self):
        root = self.assert_golden(self.invoice(self.buyer_pl, [
            ("Farba biała 10 l", 10, 120.0, 'vs_kraj_23', {'discount': 10.0}),
            ("Zwrot kaucji za palety", -2, 50.0, 'vs_kraj_23'),
            ("Próbka gratis", 1, 0.0, 'vs_kraj_23'),
        ]), 'discounts_and_special_lines')
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_10'), ['120.00'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_11'), ['1080.00', '-100.00', '0.00'])
        self.assertEqual(self.xpath(root, '//f:P_13_1'), ['980.00'])

    def test_fa3_gross_prices(self):
        gross_23 = self.taxes['vs_kraj_23'].copy({'name': '23% brutto', 'price_include_override': 'tax_included'})
        root = self.assert_golden(self.invoice(self.person, [("Kurtka", 2, 123.0, gross_23)]), 'gross_prices')
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_9B'), ['123.00'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:P_11A'), ['246.00'])
        self.assertEqual(self.xpath(root, '//f:P_13_1'), ['200.00'])
        self.assertEqual(self.xpath(root, '//f:P_14_1'), ['46.00'])

    def test_fa3_foreign_currency_rate_and_pln_vat(self):
        eur = self.setup_other_currency('EUR', rates=[('2026-01-29', 1 / 4.215)])
        move = self.invoice(self.buyer_pl, [("Licencja roczna", 5, 200.0, 'vs_kraj_23')], currency_id=eur.id)
        root = self.assert_golden(move, 'foreign_currency')
        self.assertEqual(self.xpath(root, '//f:KodWaluty'), ['EUR'])
        self.assertEqual(self.xpath(root, '//f:FaWiersz/f:KursWaluty'), ['4.215'])
        self.assertEqual(self.xpath(root, '//f:P_14_1'), ['230.00'])
        self.assertEqual(self.xpath(root, '//f:P_14_1W'), ['969.45'])
        self.assertIn('2026-01-29', self.xpath(root, '//f:DodatkowyOpis/f:Wartosc')[0])

    def test_fa3_pln_invoice_for_foreign_buyer_and_private_person(self):
        root = self.assert_golden(self.invoice(self.buyer_us, [("Nocleg", 3, 300.0, 'vs_kraj_8')]),
                                  'pln_foreign_buyer')
        self.assertEqual(self.xpath(root, '//f:KodWaluty'), ['PLN'])
        self.assertFalse(root.xpath('//f:P_14_2W', namespaces={'f': root.nsmap[None]}))
        root = self.assert_golden(self.invoice(self.person, [("Rower miejski", 1, 1500.0, 'vs_kraj_23')]),
                                  'private_person')
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:BrakID'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2//f:Nazwa'), ['Jan Kowalski'])

    def test_fa3_cash_accounting_self_billing_and_margin(self):
        self.company.l10n_pl_ksef_cash_accounting = True
        root = self.assert_golden(self.invoice(self.buyer_pl, [("Skup surowca", 2.5, 1200.0, 'vs_kraj_23')],
                                               l10n_pl_ksef_self_billing=True), 'cash_accounting_self_billing')
        self.assertEqual(self.xpath(root, '//f:Adnotacje/f:P_16'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Adnotacje/f:P_17'), ['1'])
        self.company.l10n_pl_ksef_cash_accounting = False
        margin_tax = self.taxes['vs_kraj_0'].copy({'name': 'Marża - towary używane',
                                                   'l10n_pl_ksef_margin_scheme': 'used_goods'})
        root = self.assert_golden(self.invoice(self.person, [("Samochód używany", 1, 35000.0, margin_tax)]),
                                  'margin_scheme')
        self.assertEqual(self.xpath(root, '//f:PMarzy/f:P_PMarzy_3_1'), ['1'])
        self.assertEqual(self.xpath(root, '//f:P_13_11'), ['35000.00'])

    def test_fa3_third_parties(self):
        school = self.env['res.partner'].create({'name': 'Szkoła Podstawowa nr 1', 'vat': '7770000005',
                                                 'is_company': True, 'country_id': self.env.ref('base.pl').id,
                                                 'street': 'ul. Szkolna 1', 'zip': '00-950', 'city': 'Warszawa'})
        payer = self.env['res.partner'].create({'name': 'Bank Płatnik S.A.', 'vat': '5841110008', 'is_company': True,
                                                'country_id': self.env.ref('base.pl').id})
        move = self.invoice(self.buyer_pl, [("Dostawa mebli", 2, 2500.0, 'vs_kraj_23')], post=False)
        move.l10n_pl_ksef_fa3_party_ids = [Command.create({'partner_id': school.id, 'role': '8'}),
                                           Command.create({'partner_id': payer.id, 'role': '6'})]
        move.action_post()
        root = self.assert_golden(move, 'third_parties')
        self.assertEqual(self.xpath(root, '//f:Podmiot3/f:Rola'), ['8', '6'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2/f:JST'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Podmiot2/f:GV'), ['2'])

    def pay(self, move, **values):
        """Register a payment on ``move`` with Odoo's payment wizard."""
        self.env['account.payment.register'].with_context(active_model='account.move', active_ids=move.ids).create(
            values)._create_payments()

    def test_fa3_payment_partly_paid_and_due_dates(self):
        terms = self.env['account.payment.term'].create({'name': '50/50', 'line_ids': [
            Command.create({'value': 'percent', 'value_amount': 50.0, 'nb_days': 14}),
            Command.create({'value': 'percent', 'value_amount': 50.0, 'nb_days': 44})]})
        move = self.invoice(self.buyer_pl, [("Linia produkcyjna", 1, 30000.0, 'vs_kraj_23')],
                            invoice_payment_term_id=terms.id, invoice_date_due=False)
        self.pay(move, amount=10000.0, payment_date='2026-02-03')
        root = self.assert_golden(move, 'partly_paid_many_due_dates')
        self.assertEqual(self.xpath(root, '//f:ZnacznikZaplatyCzesciowej'), ['1'])
        self.assertEqual(self.xpath(root, '//f:KwotaZaplatyCzesciowej'), ['10000.00'])
        self.assertEqual(self.xpath(root, '//f:ZaplataCzesciowa/f:FormaPlatnosci'), ['6'])
        self.assertEqual(self.xpath(root, '//f:TerminPlatnosci/f:Termin'), ['2026-02-16', '2026-03-18'])

    def test_fa3_payment_paid_by_transfer(self):
        paid = self.invoice(self.buyer_pl, [("Serwis", 1, 600.0, 'vs_kraj_23')])
        self.pay(paid, payment_date='2026-02-02')
        self.assertIn(paid.payment_state, ('paid', 'in_payment'))
        root = self.assert_golden(paid, 'paid_transfer')
        self.assertEqual(self.xpath(root, '//f:Zaplacono'), ['1'])
        self.assertEqual(self.xpath(root, '//f:DataZaplaty'), ['2026-02-02'])
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['6'])
        self.assertFalse(root.xpath('//f:TerminPlatnosci', namespaces={'f': root.nsmap[None]}))

    def test_fa3_payment_without_journal_entry_counts_as_paid(self):
        # With Odoo's bank reconciliation app (account_accountant) installed, a payment method without
        # an outstanding account creates no journal entry: the payment is only matched to the invoice.
        self.inbound_payment_method_line.payment_account_id = False
        move = self.invoice(self.buyer_pl, [("Serwis", 1, 600.0, 'vs_kraj_23')])
        with patch.object(type(self.env['account.move']), '_get_invoice_in_payment_state',
                          lambda self: 'in_payment'):
            self.pay(move, amount=200.0, payment_date='2026-02-03')
            self.assertTrue(move.matched_payment_ids)
            self.assertFalse(move.matched_payment_ids.move_id)
            root = etree.fromstring(self.render(move))
            self.assertEqual(self.xpath(root, '//f:KwotaZaplatyCzesciowej'), ['200.00'])
            self.assertEqual(self.xpath(root, '//f:DataZaplatyCzesciowej'), ['2026-02-03'])
            self.pay(move, amount=538.0, payment_date='2026-02-05')
            root = etree.fromstring(self.render(move))
        self.assertEqual(self.xpath(root, '//f:Zaplacono'), ['1'])
        self.assertEqual(self.xpath(root, '//f:DataZaplaty'), ['2026-02-05'])

    def test_fa3_payment_paid_in_cash(self):
        move = self.invoice(self.person, [("Rower miejski", 1, 1500.0, 'vs_kraj_23')])
        self.pay(move, journal_id=self.company_data['default_journal_cash'].id, payment_date='2026-02-02')
        root = self.assert_golden(move, 'paid_cash')
        self.assertEqual(self.xpath(root, '//f:Zaplacono'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['1'])
        self.assertFalse(root.xpath('//f:RachunekBankowy', namespaces={'f': root.nsmap[None]}))

    def test_fa3_payment_form_set_on_the_journal(self):
        # A bank journal that receives card terminal settlements reports its payments as card (2).
        bank_journal = self.company_data['default_journal_bank']
        bank_journal.l10n_pl_ksef_payment_form = '2'
        paid = self.invoice(self.buyer_pl, [("Serwis", 1, 600.0, 'vs_kraj_23')])
        self.pay(paid, journal_id=bank_journal.id, payment_date='2026-02-02')
        root = etree.fromstring(self.render(paid))
        self.assertEqual(self.xpath(root, '//f:Zaplacono'), ['1'])
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['2'])
        self.assertFalse(root.xpath('//f:RachunekBankowy', namespaces={'f': root.nsmap[None]}))

        partly = self.invoice(self.buyer_pl, [("Serwis", 1, 600.0, 'vs_kraj_23')])
        self.pay(partly, journal_id=bank_journal.id, amount=200.0, payment_date='2026-02-03')
        self.pay(partly, journal_id=self.company_data['default_journal_cash'].id, amount=100.0,
                 payment_date='2026-02-04')
        root = etree.fromstring(self.render(partly))
        self.assertEqual(self.xpath(root, '//f:ZaplataCzesciowa/f:KwotaZaplatyCzesciowej'), ['200.00', '100.00'])
        self.assertEqual(self.xpath(root, '//f:ZaplataCzesciowa/f:FormaPlatnosci'), ['2', '1'])
        # The rest is still expected by transfer to the invoice's bank account.
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['6'])
        self.assertTrue(self.xpath(root, '//f:RachunekBankowy/f:NrRB'))

    def test_fa3_unpaid_invoice_payment_form_from_preferred_payment_method(self):
        bank_journal = self.company_data['default_journal_bank']
        move = self.invoice(self.buyer_pl, [("Serwis", 1, 600.0, 'vs_kraj_23')],
                            preferred_payment_method_line_id=self.inbound_payment_method_line.id)
        self.assertEqual(self.inbound_payment_method_line.journal_id, bank_journal)
        # Without a payment form on the journal, an invoice with a bank account asks for a transfer.
        root = etree.fromstring(self.render(move))
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['6'])
        bank_journal.l10n_pl_ksef_payment_form = '7'
        root = etree.fromstring(self.render(move))
        self.assertEqual(self.xpath(root, '//f:Platnosc/f:FormaPlatnosci'), ['7'])
        self.assertEqual(self.xpath(root, '//f:TerminPlatnosci/f:Termin'), ['2026-02-16'])
        self.assertFalse(root.xpath('//f:Zaplacono | //f:ZaplataCzesciowa', namespaces={'f': root.nsmap[None]}))

    def test_fa3_credit_note_is_not_a_payment(self):
        move = self.invoice(self.buyer_pl, [("Monitor", 5, 899.0, 'vs_kraj_23')])
        self.credit_note(move, [("Monitor", 1, 899.0, 'vs_kraj_23')], "Zwrot towaru")
        self.assertEqual(move.payment_state, 'partial')
        root = etree.fromstring(self.render(move))
        self.assertFalse(root.xpath('//f:ZaplataCzesciowa | //f:Zaplacono', namespaces={'f': root.nsmap[None]}))
        self.assertEqual(self.xpath(root, '//f:TerminPlatnosci/f:Termin'), ['2026-02-16'])

    def test_fa3_notes_contract_order_and_footer(self):
        move = self.invoice(self.buyer_pl, [("Serwis klimatyzacji", 1, 600.0, 'vs_kraj_23')], post=False,
                            taxable_supply_date='2026-01-31', ref='ZAM/2026/0042', invoice_origin='S00042',
                            l10n_pl_ksef_contract_number='UM/2025/17', l10n_pl_ksef_contract_date='2025-06-01',
                            narration='<p>Dziękujemy za współpracę.</p><p>Kapitał zakładowy 50 000 zł.</p>')
        move.invoice_line_ids = [Command.create({
            'display_type': 'line_note', 'name': 'Serwis wykonano zgodnie z protokołem nr 12/2026'})]
        move.action_post()
        root = self.assert_golden(move, 'notes_orders_footer')
        self.assertEqual(self.xpath(root, '//f:P_6'), ['2026-01-31'])
        self.assertEqual(self.xpath(root, '//f:DodatkowyOpis/f:Klucz'), ['Dokument źródłowy', 'Uwagi'])
        self.assertEqual(self.xpath(root, '//f:DodatkowyOpis/f:Wartosc'),
                         ['S00042', 'Serwis wykonano zgodnie z protokołem nr 12/2026'])
        self.assertEqual(self.xpath(root, '//f:Umowy/f:NrUmowy'), ['UM/2025/17'])
        self.assertEqual(self.xpath(root, '//f:Umowy/f:DataUmowy'), ['2025-06-01'])
        self.assertEqual(self.xpath(root, '//f:Zamowienia/f:NrZamowienia'), ['ZAM/2026/0042'])
        self.assertEqual(len(root.xpath('//f:FaWiersz', namespaces={'f': root.nsmap[None]})), 1)
        footer = self.xpath(root, '//f:StopkaFaktury')[0]
        self.assertIn('Dziękujemy za współpracę.', footer)
        self.assertIn('Kapitał zakładowy 50 000 zł.', footer)
        # The contract is not copied to a duplicate; a long note continues in further entries.
        self.assertFalse(move.copy().l10n_pl_ksef_contract_number)
        long_note = self.invoice(self.buyer_pl, [("Serwis", 1, 100.0, 'vs_kraj_23')], post=False)
        long_note.invoice_line_ids = [Command.create({'display_type': 'line_note', 'name': 'słowo ' * 100})]
        long_note.action_post()
        values = self.xpath(etree.fromstring(self.render(long_note)), '//f:DodatkowyOpis/f:Wartosc')
        self.assertEqual(len(values), 3)
        self.assertTrue(all(len(v) <= 256 for v in values))
        self.assertEqual(' '.join(values), ('słowo ' * 100).strip())

    def test_fa3_every_golden_file_has_a_test(self):
        # Each golden file is built by a test of this class from a real invoice (assert_golden).
        with open(__file__, encoding='utf-8') as handle:
            used = set(re.findall(r"'(\w+)'\)\n", handle.read()))
        files = {name[:-4] for name in os.listdir(GOLDEN_DIR) if name.endswith('.xml')}
        self.assertFalse(files - used, "golden files that no test builds")

    def test_fa3_company_and_buyer_problems_are_reported(self):
        move = self.invoice(self.buyer_pl, [("Usługa", 1, 100.0, 'vs_kraj_23')])
        # Data imported without Odoo's VAT check (e.g. by a script) can still be wrong.
        self.buyer_pl.with_context(no_vat_validation=True).vat = 'PL1234567890'
        self.company.vat = False
        findings = move._l10n_pl_ksef_check_fa3()
        self.assertEqual(len(findings), 2, findings)
        self.assertTrue(any('NIP' in f and 'company' in f.lower() for f in findings))
        self.assertTrue(any('1234567890' in f for f in findings))
        no_rate = self.taxes['vs_kraj_0'].copy({'name': '0% bez oznaczenia', 'amount': 0.0})
        self.company.vat = '5260250009'
        self.buyer_pl.vat = 'PL1234560007'
        findings = self.invoice(self.buyer_pl, [("Usługa", 1, 100.0, no_rate)])._l10n_pl_ksef_check_fa3()
        self.assertEqual(len(findings), 1)
        self.assertIn('FA(3) tax rate', findings[0])

    def test_fa3_xsd_finding_names_the_field(self):
        # Odoo accepts any bank account number; FA(3) needs 10 to 34 characters (TNrRB).
        short = self.env['res.partner.bank'].create({'acc_number': '12345', 'partner_id': self.company.partner_id.id,
                                                     'allow_out_payment': True})
        move = self.invoice(self.buyer_pl, [("Usługa", 1, 100.0, 'vs_kraj_23')], partner_bank_id=short.id)
        findings = move._l10n_pl_ksef_check_fa3()
        self.assertEqual(len(findings), 1, findings)
        self.assertIn('Fa/Platnosc/RachunekBankowy/NrRB', findings[0])
        self.assertIn('line', findings[0])
        with self.assertRaisesRegex(UserError, 'NrRB'):
            move._l10n_pl_ksef_render_fa3()
