"""Who may send, what may be sent, and coexistence with Odoo's own l10n_pl_edi."""
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendRules(KsefEmulatorCase):

    def test_user_without_accounting_rights_cannot_send(self):
        move = self.create_invoice()
        user = new_test_user(self.env, login='ksef_no_accounting', groups='base.group_user',
                             company_id=self.company.id, company_ids=[(6, 0, self.company.ids)])
        with self.assertRaises(UserError):
            move.with_user(user)._l10n_pl_ksef_queue()
        with self.assertRaises(UserError):
            move.with_user(user).action_l10n_pl_ksef_send()
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')

    def test_billing_user_queues_without_reading_secrets(self):
        move = self.create_invoice()
        user = new_test_user(self.env, login='ksef_billing', groups='account.group_account_invoice',
                             company_id=self.company.id, company_ids=[(6, 0, self.company.ids)])
        self.assertFalse(user.has_group('l10n_pl_ksef.group_ksef_manager'))
        queued = move.with_user(user)._l10n_pl_ksef_queue()
        self.assertEqual(queued, move)
        with self.assertRaises(AccessError):
            self.company.with_user(user).read(['l10n_pl_ksef_access_token'])

    def test_draft_invoice_is_not_queued_and_wizard_says_why(self):
        draft = self.create_invoice(post=False)
        posted = self.create_invoice()
        wizard = self.env['l10n_pl_ksef.send.wizard'].create({'move_ids': [(6, 0, (draft | posted).ids)]})
        self.assertEqual(wizard.blocked_move_ids, draft)
        self.assertIn('posted', wizard.blocker_text)
        self.assertEqual(wizard.ready_move_ids, posted)
        wizard.action_queue()
        self.assertEqual(posted.l10n_pl_ksef_state, 'queued')
        self.assertEqual(draft.l10n_pl_ksef_state, 'not_sent')
        # Queued twice? No: the second attempt is refused with the reason.
        self.assertFalse(posted._l10n_pl_ksef_queue())
        self.assertIn(posted, posted._l10n_pl_ksef_get_send_blockers())

    def test_queueing_makes_no_network_call_and_triggers_the_cron(self):
        move = self.create_invoice()
        self.emulator.admin('/faults', {'pathPattern': '.*', 'kind': 'html', 'status': 502, 'count': 50})
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        triggers_before = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
        move._l10n_pl_ksef_queue()
        self.assertEqual(self.emulator.admin('/faults', method='GET')['active'][0]['remaining'], 50)
        self.assertGreater(self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), triggers_before)

    def test_auto_send_on_post_queues(self):
        self.company.l10n_pl_ksef_auto_send = True
        move = self.create_invoice()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.company.l10n_pl_ksef_auto_send = False
        self.assertEqual(self.create_invoice().l10n_pl_ksef_state, 'not_sent')

    def test_ksef_number_unique_per_company(self):
        first, second = self.create_invoice(), self.create_invoice()
        number = '5260250009-20260202-0100000000AB-01'
        first.sudo().l10n_pl_ksef_number = number
        with self.assertRaises(IntegrityError), mute_logger('odoo.sql_db'):
            second.sudo().l10n_pl_ksef_number = number
            second.flush_recordset()

    def test_settings_save_makes_no_network_call(self):
        self.emulator.admin('/faults', {'pathPattern': '.*', 'kind': 'html', 'status': 502, 'count': 50})
        settings = self.env['res.config.settings'].with_company(self.company).create({})
        self.env['res.company'].search([]).l10n_pl_ksef_poll_interval = 9
        settings.l10n_pl_ksef_poll_interval = 7
        settings.execute()
        self.assertEqual(self.company.l10n_pl_ksef_poll_interval, 7)
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        self.assertEqual((cron.interval_number, cron.interval_type), (7, 'minutes'))
        self.assertEqual(self.emulator.admin('/faults', method='GET')['active'][0]['remaining'], 50)

    def test_settings_buttons_report_connection_and_keys(self):
        settings = self.env['res.config.settings'].with_company(self.company).create({})
        result = settings.action_l10n_pl_ksef_test_connection()
        self.assertEqual(result['params']['type'], 'success', result['params']['message'])
        result = settings.action_l10n_pl_ksef_download_public_keys()
        self.assertEqual(result['params']['type'], 'success', result['params']['message'])
        self.assertTrue(self.company.l10n_pl_ksef_public_keys['keys'])
        # A refused token is reported, not raised.
        self.emulator.admin('/faults', {'pathPattern': '/auth/', 'kind': 'html', 'status': 502, 'count': 50})
        result = settings.action_l10n_pl_ksef_test_connection()
        self.assertEqual(result['params']['type'], 'danger')
        self.assertIn('502', result['params']['message'])

    def test_banner_says_state_and_next_step(self):
        move = self.create_invoice()
        self.assertTrue(move.l10n_pl_ksef_applicable)
        self.assertIn('Send to KSeF', move.l10n_pl_ksef_next_step)
        move._l10n_pl_ksef_queue()
        self.assertIn('Queued', move.l10n_pl_ksef_next_step)
        draft = self.create_invoice(post=False)
        self.assertFalse(draft.l10n_pl_ksef_applicable, "no KSeF banner on drafts")

    def test_poll_interval_must_be_positive(self):
        with self.assertRaisesRegex(ValidationError, 'at least 1 minute'):
            self.company.l10n_pl_ksef_poll_interval = 0


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendCoexistencePlEdi(KsefEmulatorCase):
    """Odoo's ``l10n_pl_edi`` is not in this source tree: its fields are simulated on the classes."""

    def _simulate_pl_edi_move_fields(self, status):
        move_class = type(self.env['account.move'])
        fake_fields = dict(move_class._fields, l10n_pl_edi_status=move_class._fields['l10n_pl_ksef_error'])
        return [patch.object(move_class, '_fields', fake_fields),
                patch.object(move_class, 'l10n_pl_edi_status', property(lambda self: status), create=True)]

    def test_invoice_sent_by_l10n_pl_edi_is_never_queued(self):
        move = self.create_invoice()
        self.assertFalse(move._l10n_pl_ksef_handled_by_pl_edi(), "without l10n_pl_edi nothing is blocked")
        patches = self._simulate_pl_edi_move_fields('sent')
        for p in patches:
            p.start()
            self.addCleanup(p.stop)
        self.assertTrue(move._l10n_pl_ksef_handled_by_pl_edi())
        self.assertIn('l10n_pl_edi', ' '.join(move._l10n_pl_ksef_get_send_blockers()[move]))
        self.assertFalse(move._l10n_pl_ksef_queue())
        self.assertFalse(self.env['account.move.send']._l10n_pl_ksef_is_send_applicable(move))
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')

    def test_our_sending_switches_l10n_pl_edi_registration_off(self):
        company_class = type(self.env['res.company'])
        registered = {self.company.id: True}

        def getter(company):
            return registered.get(company.id, False)

        def setter(companies, value):
            for company in companies:
                registered[company.id] = value

        fake_fields = dict(company_class._fields, l10n_pl_edi_register=company_class._fields['l10n_pl_ksef_auto_send'])
        with patch.object(company_class, '_fields', fake_fields), \
                patch.object(company_class, 'l10n_pl_edi_register', property(getter, setter), create=True):
            self.create_invoice()._l10n_pl_ksef_queue()
        self.assertFalse(registered[self.company.id])



@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendViews(TransactionCase):
    """The invoice form shows the KSeF state, next step and buttons (views parse with the fields)."""

    def test_invoice_form_has_ksef_banner_and_buttons(self):
        arch = self.env['account.move'].get_view(self.env.ref('account.view_move_form').id, 'form')['arch']
        for name in ('action_l10n_pl_ksef_send', 'action_l10n_pl_ksef_refresh_status',
                     'action_l10n_pl_ksef_download_upo', 'l10n_pl_ksef_next_step', 'l10n_pl_ksef_number'):
            self.assertIn(name, arch)
        self.assertTrue(self.env.ref('l10n_pl_ksef.menu_ksef_session').active)
