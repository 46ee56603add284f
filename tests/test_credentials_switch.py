"""Token login ends on TOKEN_LOGIN_SUNSET: the switch to certificate login against the emulator,
the sunset notice and reminders, and tokens revoked in KSeF becoming revoked in Odoo."""
import datetime

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import new_test_user
from odoo.tools import format_date

from odoo.addons.l10n_pl_ksef.models.ksef_token import TOKEN_LOGIN_SUNSET

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsSwitch(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        cls.token = cls.env['ksef.token'].search([('company_id', '=', cls.company.id)])

    def revoke_in_ksef(self):
        """Revoke the company's token in the emulator (its state outlives the test: restored after)."""
        path = '/tokens/%s/status' % self.token.reference_number
        self.emulator.admin(path, {'status': 'Revoked'})
        self.addCleanup(self.emulator.admin, path, {'status': 'Active'})

    def run_switch(self, **values):
        """Save the dialog as the web client does, then press the button on the saved record."""
        Wizard = self.env['ksef.certificate.switch'].with_company(self.company)
        saved = Wizard.web_save({'company_id': self.company.id, **values}, {'name': {}})[0]
        self.env.flush_all()
        self.env.invalidate_all()
        return Wizard.browse(saved['id']).action_switch()

    def test_token_company_switches_to_certificate_login_and_sends(self):
        self.assertEqual(self.company.l10n_pl_ksef_auth_method, 'token')
        self.assertFalse(self.env['ksef.certificate'].search([('company_id', '=', self.company.id)]))

        result = self.run_switch(name="Odoo KSeF switch", request_offline=True)

        self.assertEqual(result['params']['type'], 'success', result['params']['message'])
        self.assertEqual(self.company.l10n_pl_ksef_auth_method, 'certificate')
        issued = self.env['ksef.certificate'].search([
            ('company_id', '=', self.company.id), ('source', '=', 'enrolled')])
        self.assertEqual(sorted(issued.mapped(lambda c: (c.use_authentication, c.use_offline, c.ksef_status))),
                         [(False, True, 'active'), (True, False, 'active')])
        self.assertTrue(all(issued.mapped('has_private_key')), "the keys made in Odoo are stored (encrypted)")
        self.assertEqual(self.company._l10n_pl_ksef_get_offline_certificate(), issued.filtered('use_offline'))
        # The one-time self-signed login certificate is archived; the KSeF one logs in.
        self.assertEqual(self.company._l10n_pl_ksef_get_authentication_certificate(),
                         issued.filtered('use_authentication'))
        self.assertFalse(self.env['ksef.certificate'].search([
            ('company_id', '=', self.company.id), ('source', '=', 'generated')]))
        self.assertEqual(self.company._l10n_pl_ksef_get_auth_credentials()['method'], 'certificate')
        # And the company sends with it.
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        self.assertTrue(move.l10n_pl_ksef_number)
        self.assertFalse(self.company.l10n_pl_ksef_token_sunset_notice, "no sunset notice once on certificates")

    def test_refused_request_says_what_to_do_and_keeps_token_login(self):
        self.emulator.admin('/faults', {'pathPattern': '^/v2/certificates/enrollments$', 'method': 'POST',
                                        'kind': 'status', 'status': 403, 'count': 1})
        with self.assertRaisesRegex(UserError, 'CredentialsManage'):
            self.run_switch(name="Odoo KSeF refused")
        self.assertEqual(self.company.l10n_pl_ksef_auth_method, 'token')

    def test_production_without_qualified_certificate_explains_the_next_step(self):
        self.company.l10n_pl_ksef_environment = 'prod'
        self.env['ksef.token'].sudo().create({'name': 'Prod token', 'company_id': self.company.id,
                                              'environment': 'prod', 'token': 'prod-token-value'})
        # Refused before any call to KSeF: nothing to log in with.
        with self.assertRaisesRegex(UserError, 'qualified electronic signature.*Upload certificate'):
            self.run_switch(name="Odoo KSeF prod")
        self.assertEqual(self.company.l10n_pl_ksef_auth_method, 'token')

    def test_token_revoked_in_ksef_is_marked_revoked(self):
        self.revoke_in_ksef()
        result = self.run_switch(name="Odoo KSeF revoked")
        self.assertEqual(result['params']['type'], 'danger')
        self.assertIn('revoked', result['params']['message'])
        self.assertEqual((self.token.ksef_status, self.token.state, self.token.has_token),
                         ('Revoked', 'revoked', False))
        self.assertEqual(self.company.l10n_pl_ksef_auth_method, 'token')

    def test_tokens_api_status_is_mirrored_for_a_token_only_company(self):
        self.env['ksef.token']._l10n_pl_ksef_sync_from_ksef(self.company)
        self.assertEqual(self.token.ksef_status, 'Active')
        self.assertTrue(self.token.date_created, "the creation date KSeF reports is kept")
        self.assertEqual(self.token._permission_list(), ['InvoiceRead', 'InvoiceWrite'])
        self.revoke_in_ksef()
        self.env['res.config.settings'].create({'company_id': self.company.id}).action_l10n_pl_ksef_sync_tokens()
        self.assertEqual((self.token.state, self.token.has_token), ('revoked', False))
        self.assertIn('revoked', self.token.message_ids[0].body)

    def test_mark_revoked_is_callable_from_the_login_path(self):
        self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.assertTrue(self.company.sudo().l10n_pl_ksef_access_token)
        self.token.with_user(self.env.ref('base.user_root'))._l10n_pl_ksef_mark_revoked()
        self.assertEqual(self.token.state, 'revoked')
        self.assertFalse(self.company.sudo().l10n_pl_ksef_access_token, "sessions of the token are forgotten")
        with self.assertRaisesRegex(UserError, 'revoked'):
            self.company._l10n_pl_ksef_get_auth_credentials()

    def test_sunset_notice_and_daily_reminder(self):
        manager = new_test_user(self.env, login='ksef_sunset_manager', groups='l10n_pl_ksef.group_ksef_manager',
                                company_id=self.company.id, company_ids=[self.company.id])
        notice = self.company._l10n_pl_ksef_token_sunset_text(today=TOKEN_LOGIN_SUNSET - datetime.timedelta(days=29))
        self.assertIn(format_date(self.env, TOKEN_LOGIN_SUNSET), notice)
        self.assertIn('29 days left', notice)
        settings = self.env['res.config.settings'].create({'company_id': self.company.id})
        self.assertIn(format_date(self.env, TOKEN_LOGIN_SUNSET), settings.l10n_pl_ksef_token_sunset_notice)
        self.assertEqual(self.token.login_ends_on, TOKEN_LOGIN_SUNSET)

        Company = self.env['res.company']
        self.assertEqual(Company._l10n_pl_ksef_cron_token_sunset_reminder(
            today=TOKEN_LOGIN_SUNSET - datetime.timedelta(days=31)), 0, "nothing before the 30 days")
        reminder_day = TOKEN_LOGIN_SUNSET - datetime.timedelta(days=30)
        self.assertGreaterEqual(Company._l10n_pl_ksef_cron_token_sunset_reminder(today=reminder_day), 1)
        sunset_type = self.env.ref('l10n_pl_ksef.mail_activity_token_sunset')
        activity = self.token.activity_ids.filtered(
            lambda a: a.user_id == manager and a.activity_type_id == sunset_type)
        self.assertEqual(len(activity), 1)
        self.assertIn(format_date(self.env, TOKEN_LOGIN_SUNSET), str(activity.note))
        # Daily: no second open reminder for the same manager; a new one once it is done.
        self.assertEqual(Company._l10n_pl_ksef_cron_token_sunset_reminder(today=reminder_day), 0)
        activity.action_done()
        self.assertGreaterEqual(Company._l10n_pl_ksef_cron_token_sunset_reminder(
            today=reminder_day + datetime.timedelta(days=1)), 1)
        # A company on certificate login gets none.
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        self.token.activity_ids.unlink()
        self.assertEqual(Company._l10n_pl_ksef_cron_token_sunset_reminder(today=reminder_day), 0)
