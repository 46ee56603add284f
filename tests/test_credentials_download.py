"""Downloading certificates and private keys over HTTP: keys for KSeF managers only, logged, never stored."""
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsDownload(HttpCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        company = cls.env.company
        cls.certificate, cls.key = ksef_certificates.generate_test_certificate(nip='5265877635', kind='seal')
        cls.record = cls.env['ksef.certificate']._create_from_objects(company, cls.certificate, cls.key)
        cls.manager = new_test_user(cls.env, login='dl_manager', groups='l10n_pl_ksef.group_ksef_manager')
        cls.accountant = new_test_user(cls.env, login='dl_accountant', groups='account.group_account_invoice')

    def test_manager_downloads_key_and_it_is_logged(self):
        self.authenticate('dl_manager', 'dl_manager')
        attachments_before = self.env['ir.attachment'].search_count([])
        response = self.url_open('/l10n_pl_ksef/certificate/%s/private_key' % self.record.id)
        self.assertEqual(response.status_code, 200)
        self.assertIn('attachment', response.headers['Content-Disposition'])
        self.assertEqual(response.headers['Cache-Control'], 'no-store')
        key = ksef_certificates.load_private_key(response.content)
        self.assertEqual(key.private_numbers(), self.key.private_numbers())
        self.assertIn('Private key downloaded by', self.record.message_ids[0].body)
        self.assertEqual(self.env['ir.attachment'].search_count([]), attachments_before,
                         "the clear key is streamed, never stored as an attachment")

    def test_accountant_gets_the_certificate_but_not_the_key(self):
        self.authenticate('dl_accountant', 'dl_accountant')
        response = self.url_open('/l10n_pl_ksef/certificate/%s/certificate' % self.record.id)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(ksef_certificates.load_certificate(response.content), self.certificate)
        with self.assertLogs('odoo.http', level='WARNING'):
            response = self.url_open('/l10n_pl_ksef/certificate/%s/private_key' % self.record.id)
        self.assertEqual(response.status_code, 403)
        self.assertNotIn(b'PRIVATE KEY', response.content)
        self.assertFalse(self.record.message_ids.filtered(lambda m: 'Private key downloaded' in (m.body or '')))
