"""Expiry: activities at 30 and 7 days, the settings warning, and sending blocked once expired."""
import datetime

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.tests.credentials_common import KsefCredentialsCommon


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsExpiry(KsefCredentialsCommon):

    def _activities(self, record):
        return self.env['mail.activity'].search([('res_model', '=', record._name), ('res_id', '=', record.id)])

    def _run_cron(self):
        self.env['res.company']._l10n_pl_ksef_cron_check_credential_expiry()

    def test_certificate_warned_at_30_then_7_days_once_each(self):
        certificate, key = self.make_certificate(valid_days=20)
        record = self.store_certificate(certificate, key, name='Seal 20 days')
        far_certificate, far_key = self.make_certificate(valid_days=200)
        far = self.store_certificate(far_certificate, far_key, name='Seal 200 days')
        self.assertEqual(record.state, 'expiring')
        self.assertEqual(far.state, 'valid')

        self._run_cron()
        activities = self._activities(record)
        self.assertEqual(len(activities), 1)
        self.assertIn('Seal 20 days expires in', activities.summary)
        self.assertEqual(activities.user_id, self.env.user, "the manager who stored it is asked to renew it")
        self.assertFalse(self._activities(far))
        self._run_cron()
        self.assertEqual(len(self._activities(record)), 1, "no second warning within the same threshold")

        # Within 7 days: a second, more urgent reminder.
        record.date_end = fields.Datetime.now() + datetime.timedelta(days=5)
        self._run_cron()
        self.assertEqual(len(self._activities(record)), 2)
        self._run_cron()
        self.assertEqual(len(self._activities(record)), 2)

    def test_token_with_renewal_date_is_warned(self):
        token = self.env['ksef.token'].create({
            'name': 'Policy token', 'company_id': self.company.id, 'token': 'abc',
            'valid_until': fields.Datetime.now() + datetime.timedelta(days=6)})
        self.assertEqual(token.state, 'expiring')
        self._run_cron()
        self.assertIn('Policy token expires in', self._activities(token).summary)

    def test_settings_warning_lists_what_to_renew(self):
        certificate, key = self.make_certificate(valid_days=10)
        self.store_certificate(certificate, key, name='Short seal')
        expired_certificate, expired_key = self.expired_certificate()
        self.store_certificate(expired_certificate, expired_key, name='Dead seal')
        certificates = self.env['ksef.certificate']
        self.assertEqual(certificates.search([('state', '=', 'expiring')]).mapped('name'), ['Short seal'])
        self.assertEqual(certificates.search([('state', 'in', ('expired',))]).mapped('name'), ['Dead seal'])
        self.assertFalse(certificates.search([('state', '=', 'valid')]))
        settings = self.env['res.config.settings'].with_company(self.company).create({})
        warning = settings.l10n_pl_ksef_credentials_warning
        self.assertIn('Short seal expires in', warning)
        self.assertIn('Dead seal expired on', warning)
        self.assertTrue(settings.l10n_pl_ksef_encryption_configured)
        self.assertEqual(settings.l10n_pl_ksef_certificate_count, 2)

    def test_no_warning_when_everything_is_fine(self):
        certificate, key = self.make_certificate(valid_days=365)
        self.store_certificate(certificate, key)
        settings = self.env['res.config.settings'].with_company(self.company).create({})
        self.assertFalse(settings.l10n_pl_ksef_credentials_warning)

    def test_expired_credential_blocks_sending(self):
        """Sending asks for credentials; an expired one stops it with a message naming what to renew."""
        certificate, key = self.expired_certificate()
        self.store_certificate(certificate, key, name='Seal 2024')
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        with self.assertRaisesRegex(UserError, 'Seal 2024.*expired.*new certificate'):
            self.company._l10n_pl_ksef_get_client(authenticated=True)
