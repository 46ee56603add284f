"""Browser tour of the "KSeF permissions" screen (headless Chromium, Polish UI) against the emulator:
the KSeF manager grants the accounting office through the dialog and revokes one permission on its row."""
import unittest

from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon

from ..ksef_protocol import Environment, KsefClient
from .common import SELLER_NIP, KsefEmulatorCase

OFFICE_NIP = '7740001454'


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefPermissionsTour(KsefEmulatorCase, AccountTestInvoicingHttpCommon):

    tour_lang = 'pl_PL'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        cls.env['res.lang']._activate_lang(cls.tour_lang)
        cls.env['ir.module.module'].sudo()._load_module_terms(
            ['base', 'web', 'mail', 'account', 'l10n_pl_ksef'], [cls.tour_lang], overwrite=True)
        cls.env.user.lang = cls.tour_lang
        # The company's own credential may manage its permissions.
        cls.owner_token = cls.emulator.create_token(SELLER_NIP, permissions=['CredentialsManage', 'CredentialsRead'])
        cls.env['ksef.token'].sudo().create({
            'name': "Właściciel", 'company_id': cls.company.id, 'environment': 'custom',
            'token': cls.owner_token['token'], 'reference_number': cls.owner_token['referenceNumber'],
            'permissions': 'CredentialsManage, CredentialsRead'})

    def test_grant_and_revoke_the_office_on_the_permissions_screen(self):
        try:
            self.start_tour('/odoo/action-l10n_pl_ksef.action_l10n_pl_ksef_permissions',
                            'l10n_pl_ksef_permissions_grant_revoke', login=self.env.user.login)
        except unittest.SkipTest as skip:
            self.fail("The KSeF browser tours need headless Chromium and websocket-client: %s" % skip)
        # What KSeF holds now: the office keeps exactly one of the two permissions granted.
        client = KsefClient(Environment.custom(self.emulator.base_url), timeout=10.0)
        client.authenticate_with_ksef_token(SELLER_NIP, self.owner_token['token'])
        scopes = [p['permissionScope'] for p in client.iter_person_permissions(authorized=('Nip', OFFICE_NIP))]
        self.assertEqual(len(scopes), 1)
        self.assertIn(scopes[0], ('InvoiceRead', 'InvoiceWrite'))
