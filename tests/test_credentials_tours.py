"""Browser tours (Polish UI) of the certificate upload dialog, saved by the web client as a user
does: .crt + encrypted .key + password and .p12 + password, with a key that does not match and
wrong passwords first. Afterwards: one certificate stored, it logs in to the emulator, and no
clear secret is left in the wizard table."""
import unittest

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon
from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates

from .common import SELLER_NIP, KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsTours(KsefEmulatorCase, AccountTestInvoicingHttpCommon):

    tour_lang = 'pl_PL'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        cls.company.tax_exigibility = True  # no cash-basis warning on the settings page
        cls.env['res.lang']._activate_lang(cls.tour_lang)
        cls.env['ir.module.module'].sudo()._load_module_terms(
            ['base', 'web', 'mail', 'account', 'l10n_pl_ksef'], [cls.tour_lang], overwrite=True)
        cls.env.user.lang = cls.tour_lang

    def start_tour(self, url_path, tour_name, **kwargs):
        try:
            return super().start_tour(url_path, tour_name, login=self.env.user.login, **kwargs)
        except unittest.SkipTest as skip:
            self.fail("The KSeF browser tours need headless Chromium and websocket-client: %s" % skip)

    def provide_files(self, files):
        for name, data in files.items():
            self.env['ir.attachment'].create({'name': name, 'raw': data})

    def certificates(self):
        return self.env['ksef.certificate'].search([('company_id', '=', self.company.id)])

    def assert_stored_and_logs_in(self, certificate, key, typed_secrets):
        stored = self.certificates()
        self.assertEqual(len(stored), 1, "only the last, correct try stored a certificate")
        self.assertEqual(stored.fingerprint, ksef_certificates.fingerprint_sha256(certificate))
        self.assertEqual(stored._get_private_key().private_numbers(), key.private_numbers())
        client = self.company._l10n_pl_ksef_xades_client(certificate=stored)
        self.assertTrue(client.access_token, "the uploaded certificate logs in to KSeF (emulator)")
        self.assertIsInstance(client.get_rate_limits(), dict)
        self.env.flush_all()
        self.env.cr.execute("SELECT row_to_json(w)::text FROM ksef_certificate_upload w")
        rows = [row[0] for row in self.env.cr.fetchall()]
        self.assertTrue(rows, "the dialog was saved by the web client")
        for secret in typed_secrets:
            self.assertFalse([row for row in rows if secret in row], "%s left in the wizard table" % secret)

    def test_upload_crt_and_encrypted_key_through_the_dialog(self):
        certificate, key = ksef_certificates.generate_test_certificate(nip=SELLER_NIP, kind='seal', key_type='EC')
        _other, other_key = ksef_certificates.generate_test_certificate(nip=SELLER_NIP, kind='seal', key_type='EC')
        self.provide_files({
            'ksef-tour.crt': ksef_certificates.certificate_to_pem(certificate),
            'ksef-tour.key': ksef_certificates.private_key_to_pem(key, 'Tour-Key-Pass-9'),
            'ksef-tour-other.key': ksef_certificates.private_key_to_pem(other_key, 'Tour-Key-Pass-9'),
        })
        # The refused tries are UserErrors the server logs as warnings: expected here.
        with mute_logger('odoo.http'):
            self.start_tour('/odoo/action-account.action_account_config', 'l10n_pl_ksef_upload_crt_key')
        self.assert_stored_and_logs_in(certificate, key, ['Tour-Key-Pass-9', 'Not-The-Password-1'])

    def test_upload_p12_through_the_dialog(self):
        certificate, key = ksef_certificates.generate_test_certificate(nip=SELLER_NIP, kind='personal', key_type='RSA')
        self.provide_files({'ksef-tour.p12': ksef_certificates.to_pkcs12(certificate, key, 'Tour-P12-Pass-5')})
        with mute_logger('odoo.http'):
            self.start_tour('/odoo/action-account.action_account_config', 'l10n_pl_ksef_upload_p12')
        self.assert_stored_and_logs_in(certificate, key, ['Tour-P12-Pass-5', 'Wrong-P12-Pass'])
