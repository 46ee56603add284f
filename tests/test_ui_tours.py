"""Browser tours of the KSeF screens (headless Chromium), with the KSeF outcome checked in Python.

The tours (static/tests/tours/l10n_pl_ksef_tours.js) click through the invoice form, the
settings and the invoice list as a user would; the server they talk to is the test's own,
configured against the project's KSeF emulator, so "Test connection" and the sending after
the tour are real HTTP exchanges with it.
"""
import unittest

from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefUiTours(KsefEmulatorCase, AccountTestInvoicingHttpCommon):

    #: The tours select by technical names, never by labels: they run in Polish, the language of
    #: the addon's users, which also proves they do not depend on the English texts.
    tour_lang = 'pl_PL'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The tours run as the test user; the credentials section is for KSeF managers.
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        # The shared test data include cash-basis taxes: without this the settings page opens
        # on Odoo's "You cannot disable this setting" warning about cash basis.
        cls.company.tax_exigibility = True
        cls.env['res.lang']._activate_lang(cls.tour_lang)
        cls.env['ir.module.module'].sudo()._load_module_terms(
            ['base', 'web', 'mail', 'account', 'l10n_pl_ksef'], [cls.tour_lang], overwrite=True)
        cls.env.user.lang = cls.tour_lang

    def start_tour(self, url_path, tour_name, **kwargs):
        # Odoo skips browser tests when Chromium (or websocket-client) is missing or does not
        # start; here a missing browser is a failure, never a silently skipped test.
        try:
            return super().start_tour(url_path, tour_name, login=self.env.user.login, **kwargs)
        except unittest.SkipTest as skip:
            self.fail("The KSeF browser tours need headless Chromium (Debian package 'chromium', "
                      "installed by scripts/bootstrap.sh) and websocket-client: %s" % skip)

    def test_invoice_form_send_to_ksef(self):
        invoice = self.create_invoice()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'not_sent')

        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_invoice_form_send')

        invoice.invalidate_recordset()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'queued', "the wizard queued the invoice")
        self.process_until(invoice, ('accepted',))
        self.assertTrue(invoice.l10n_pl_ksef_number, "KSeF gave the invoice its number")
        self.assertTrue(invoice.l10n_pl_ksef_upo_attachment_id, "the UPO is attached")

    def test_settings_test_connection(self):
        self.start_tour('/odoo/action-account.action_account_config', 'l10n_pl_ksef_settings_test_connection')
        # The settings were saved as they were shown: still pointing at the emulator.
        self.assertEqual(self.company.l10n_pl_ksef_environment, 'custom')
        self.assertEqual(self.company.l10n_pl_ksef_custom_url, self.emulator.base_url)

    def test_invoice_list_send_two_to_ksef(self):
        buyer_a = self.buyer.copy({'name': "KSeF tour buyer A"})
        buyer_b = self.buyer.copy({'name': "KSeF tour buyer B"})
        buyer_c = self.buyer.copy({'name': "KSeF tour buyer C"})
        invoice_a = self.create_invoice(partner=buyer_a, amount=100.0)
        invoice_b = self.create_invoice(partner=buyer_b, amount=200.0)
        invoice_c = self.create_invoice(partner=buyer_c, amount=300.0)

        self.start_tour('/odoo/customer-invoices', 'l10n_pl_ksef_invoice_list_send')

        (invoice_a + invoice_b + invoice_c).invalidate_recordset()
        self.assertEqual((invoice_a + invoice_b).mapped('l10n_pl_ksef_state'), ['queued', 'queued'])
        self.assertEqual(invoice_c.l10n_pl_ksef_state, 'not_sent', "an invoice left unselected stays unsent")
