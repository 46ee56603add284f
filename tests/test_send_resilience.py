"""KSeF asking to wait (429 Retry-After), tokens expiring mid-flow, invalid invoices, Send & Print."""
import datetime
import time
import urllib.error
import urllib.request

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.models.ksef_secret_store import decrypt_secret

from .common import KsefEmulatorCase, reset_ksef_rate_limits


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendRateLimited(KsefEmulatorCase):
    emulator_config = {'rateLimitsEnabled': True}

    def _exhaust_session_opening_limit(self):
        """Use up the per-minute limit (30) of the online-session group with direct HTTP calls
        (invalid opening requests: the limit counts them before validation; since API 2.9.0 closing
        has its own group, onlineSessionClose, so it cannot be used for this)."""
        self.company._l10n_pl_ksef_get_client()
        token = decrypt_secret(self.env, self.company.sudo().l10n_pl_ksef_access_token).decode()
        statuses = []
        for burst in range(3):
            for _call in range(10):
                request = urllib.request.Request(
                    self.emulator.base_url + '/sessions/online', data=b'{}', method='POST',
                    headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                except urllib.error.HTTPError as error:
                    statuses.append(error.code)
            # Stay under the per-second limit (10) without sleeping: move the emulator's clock.
            self.emulator.admin('/clock', {'advanceSeconds': 1.5})
        self.assertNotIn(429, statuses)

    def test_retry_after_is_honoured_by_retriggering_the_cron(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self._exhaust_session_opening_limit()
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]).unlink()

        before = fields.Datetime.now()
        self.env['account.move']._l10n_pl_ksef_cron_process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn('wait', move.l10n_pl_ksef_error)
        trigger = self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)], order='call_at desc', limit=1)
        self.assertTrue(trigger, "the cron re-triggers itself for when KSeF allows the next call")
        # KSeF said "retry after ~55 s": not sooner, and not the next regular run (5 minutes) either.
        self.assertGreaterEqual(trigger.call_at, before + datetime.timedelta(seconds=30))
        self.assertLessEqual(trigger.call_at, before + datetime.timedelta(seconds=65))
        self.assertFalse(self.env['ksef.session'].search([('company_id', '=', self.company.id)]))

        # The minute passes for KSeF and for the addon's limiter (it hands over instead of sleeping it out).
        self.emulator.admin('/clock', {'advanceSeconds': 61})
        reset_ksef_rate_limits(self.env)
        self.process_until(move, ('accepted',))


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendResilience(KsefEmulatorCase):

    def test_access_token_expired_on_ksef_side_is_renewed_mid_flow(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.company._l10n_pl_ksef_get_client()
        stored = self.company.sudo().l10n_pl_ksef_access_token
        # KSeF's clock passes the access token's 15 minutes; ours still believes it valid.
        self.emulator.admin('/clock', {'advanceSeconds': 1000})
        self.assertGreater(self.company.sudo().l10n_pl_ksef_access_token_valid_until, fields.Datetime.now())
        self.process_until(move, ('accepted',))
        self.assertNotEqual(self.company.sudo().l10n_pl_ksef_access_token, stored)

    def test_invalid_invoice_is_never_sent_and_the_field_is_named(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        # The customer's NIP is broken after queueing (e.g. an import): the check runs again before sending.
        self.env.cr.execute("UPDATE res_partner SET vat = 'PL1234567890' WHERE id = %s", [self.buyer.id])
        self.env.invalidate_all()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')
        self.assertIn('NIP', move.l10n_pl_ksef_error)
        self.assertFalse(move.l10n_pl_ksef_xml_attachment_id)
        self.assertFalse(move.l10n_pl_ksef_session_id)
        self.assertFalse(self.env['ksef.session'].search([('company_id', '=', self.company.id)]),
                         "no session is opened for an invoice that cannot be sent")
        self.assertIn('not valid', ' '.join(move.message_ids.mapped('body')))

    def test_invoice_with_findings_is_refused_by_the_wizard(self):
        move = self.create_invoice()
        self.env.cr.execute("UPDATE res_partner SET vat = 'PL1234567890' WHERE id = %s", [self.buyer.id])
        self.env.invalidate_all()
        wizard = self.env['l10n_pl_ksef.send.wizard'].create({'move_ids': [(6, 0, move.ids)]})
        self.assertEqual(wizard.blocked_move_ids, move)
        self.assertIn('NIP', wizard.blocker_text)
        self.assertFalse(move._l10n_pl_ksef_queue())

    def test_ksef_rejection_450_shows_the_details(self):
        # KSeF refuses an issue date (P_1) later than the day it receives the invoice. Odoo refuses to
        # send a future date itself, so KSeF's calendar is put 3 days back to make it see one.
        move = self.create_invoice()
        self.assertEqual(move._l10n_pl_ksef_check_fa3(), [])
        self.emulator.admin('/clock', {'offsetSeconds': -3 * 86400})
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted', 'rejected'))
        self.assertEqual(move.l10n_pl_ksef_state, 'rejected')
        self.assertEqual(move.l10n_pl_ksef_status_code, 450)
        self.assertIn('450', move.l10n_pl_ksef_error)
        self.assertIn('P_1', move.l10n_pl_ksef_error, "KSeF's details are kept for the user")
        self.assertFalse(move.l10n_pl_ksef_number)
        self.assertIn('Rejected by KSeF', ' '.join(move.message_ids.mapped('body')))
        # Once corrected it can be sent again.
        self.assertNotIn(move, move._l10n_pl_ksef_get_send_blockers())

    def test_upo_download_interrupted_by_outage_is_completed_later(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        # Both ways to the UPO fail: the pre-signed link of the status answer and the API endpoint.
        self.emulator.admin('/faults', {'pathPattern': '/upo$|/storage/upo/', 'kind': 'html', 'status': 503,
                                        'count': 30})
        self.process_until(move, ('accepted',))
        self.assertFalse(move.l10n_pl_ksef_upo_attachment_id)
        self.emulator.admin('/faults', method='DELETE')
        self.process_queue()
        self.assertTrue(move.l10n_pl_ksef_upo_attachment_id, "no accepted invoice is left without its UPO")
        self.assertTrue(move.l10n_pl_ksef_upo_attachment_id.raw.startswith(b'<?xml'))

    def test_buttons_turn_ksef_errors_into_readable_messages(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        move.sudo().l10n_pl_ksef_upo_attachment_id = False
        self.emulator.admin('/faults', {'pathPattern': '/upo$', 'kind': 'status', 'status': 404, 'count': 10})
        with self.assertRaisesRegex(UserError, 'UPO could not be downloaded'):
            move.action_l10n_pl_ksef_download_upo()

    def test_send_and_print_queues_instead_of_sending(self):
        move = self.create_invoice()
        wizard = self.env['account.move.send.wizard'].with_context(
            active_model='account.move', active_ids=move.ids).create({})
        self.assertIn('l10n_pl_ksef_send', wizard.extra_edis)
        wizard.sending_methods = []
        self.emulator.admin('/faults', {'pathPattern': '.*', 'kind': 'html', 'status': 502, 'count': 50})
        wizard.action_send_and_print()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertEqual(self.emulator.admin('/faults', method='GET')['active'][0]['remaining'], 50,
                         "Send & Print does not wait on KSeF")

    def test_refresh_button_polls_now(self):
        self.emulator.admin('/config', {'invoiceProcessingDelaySeconds': 1.0})
        self.addCleanup(self.emulator.admin, '/config', {'invoiceProcessingDelaySeconds': 0.0})
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'sent')
        for _attempt in range(50):
            move.action_l10n_pl_ksef_refresh_status()
            if move.l10n_pl_ksef_state == 'accepted':
                break
            time.sleep(0.1)  # the emulator verifies in real time (1 s here)
        self.assertEqual(move.l10n_pl_ksef_state, 'accepted')
        action = move.action_l10n_pl_ksef_download_upo()
        self.assertIn(str(move.l10n_pl_ksef_upo_attachment_id.id), action['url'])
