"""Outages KSeF announces through its status service ("Latarnia"), end to end with the emulator over HTTP.

The scheduled actions run as ir.cron runs them (``method_direct_trigger``: the job's own cursor and
user). The emulator counts every API call it receives and refuses (503) those made during an
announced outage, so "no wasted request" is measured on KSeF's side.
"""
import datetime

from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.models.account_move_ksef_offline import (POLAND, add_business_days, is_business_day,
                                                                       offline_deadline, polish_public_holidays)

from .common import SELLER_NIP, KsefEmulatorCase

UTC = datetime.timezone.utc


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefServiceOutage(KsefEmulatorCase):

    def setUp(self):
        super().setUp()
        # Scheduled actions open their own cursor: in test mode it wraps the test's transaction.
        self.registry_enter_test_mode()
        self.emulator.admin('/status-service', method='DELETE')
        self.addCleanup(self.emulator.admin, '/status-service', None, 'DELETE')

    # -- helpers --------------------------------------------------------------------------------
    def store_offline_certificate(self):
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type='EC', purpose='Offline')
        self.env['ksef.certificate']._create_from_objects(
            self.company, certificate, private_key, use_authentication=False, use_offline=True)

    def run_cron(self, xmlid):
        self.env.ref(xmlid).method_direct_trigger()
        self.env.invalidate_all()

    def run_status_cron(self):
        self.run_cron('l10n_pl_ksef.ir_cron_l10n_pl_ksef_service_status')

    def run_queue_cron(self):
        self.run_cron('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')

    def publish(self, category, kind, **values):
        return self.emulator.admin('/status-service/messages', dict(values, category=category, type=kind))['message']

    def counters(self):
        board = self.emulator.admin('/status-service', method='GET')
        return board['apiRequests'], board['apiRefused']

    @staticmethod
    def iso(moment):
        return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')

    @staticmethod
    def polish_day(moment):
        return moment.astimezone(POLAND).date()

    def send_until_accepted(self, moves):
        """Run the queue's scheduled action until KSeF accepted ``moves`` (it verifies asynchronously)."""
        for _run in range(40):
            self.run_queue_cron()
            if all(move.l10n_pl_ksef_state == 'accepted' for move in moves):
                return
            self.env.cr.execute('SELECT pg_sleep(0.1)')
        self.fail("KSeF states: %s (%s)" % (moves.mapped('l10n_pl_ksef_state'), moves.mapped('l10n_pl_ksef_error')))

    # -- the calendar the deadlines use ---------------------------------------------------------
    def test_polish_business_days(self):
        date = datetime.date
        holidays = polish_public_holidays(2026)
        for day in (date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 5), date(2026, 4, 6), date(2026, 5, 1),
                    date(2026, 5, 3), date(2026, 5, 24), date(2026, 6, 4), date(2026, 8, 15), date(2026, 11, 1),
                    date(2026, 11, 11), date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)):
            self.assertIn(day, holidays)
        self.assertNotIn(date(2024, 12, 24), polish_public_holidays(2024), "24 December is a day off from 2025")
        self.assertFalse(is_business_day(date(2026, 6, 4)), "Corpus Christi (Easter + 60 days)")
        # A failure ending on Tuesday 22 Dec 2026: 7 business days skip 24-27 Dec, the weekend and 1 Jan.
        self.assertEqual(offline_deadline('emergency', date(2026, 12, 21), date(2026, 12, 22)), date(2027, 1, 5))
        # Maintenance ending on Wednesday 23 Dec 2026: the next business day is Monday 28 Dec.
        self.assertEqual(offline_deadline('offline', date(2026, 12, 23), date(2026, 12, 23)), date(2026, 12, 28))

    # -- maintenance: pause, then resume, without a failed request ----------------------------------
    def test_maintenance_window_pauses_and_resumes_the_queue_without_a_failed_request(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        now = datetime.datetime.now(UTC)
        end = now + datetime.timedelta(hours=2)
        self.publish('MAINTENANCE', 'MAINTENANCE_ANNOUNCEMENT', title="Prace serwisowe KSeF",
                     start=self.iso(now - datetime.timedelta(minutes=5)), end=self.iso(end))
        self.emulator.admin('/status-service', {'status': 'MAINTENANCE'})
        self.run_status_cron()

        status = self.company._l10n_pl_ksef_service_status()
        self.assertEqual(status.status, 'maintenance')
        self.assertEqual(status.event_title, "Prace serwisowe KSeF")
        self.assertEqual(status.event_end, end.replace(tzinfo=None, microsecond=0))
        self.assertTrue(self.company._l10n_pl_ksef_service_paused())
        settings = self.env['res.config.settings'].create({})
        self.assertIn('Maintenance', settings.l10n_pl_ksef_service_summary)
        self.assertIn('Prace serwisowe KSeF', settings.l10n_pl_ksef_service_summary)

        before = self.counters()
        for _run in range(3):
            self.run_queue_cron()
        self.assertEqual(self.counters(), before, "no request reached KSeF during the maintenance window")
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn('maintenance window', move.l10n_pl_ksef_error)
        self.assertIn('sent automatically when KSeF is available again', move.l10n_pl_ksef_error)
        self.assertFalse(move.l10n_pl_ksef_offline_mode, "the company did not choose to issue offline")

        self.emulator.admin('/status-service', {'status': 'AVAILABLE'})
        self.run_status_cron()
        self.assertFalse(self.company._l10n_pl_ksef_service_paused())
        queue_cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        self.assertTrue(self.env['ir.cron.trigger'].search_count([('cron_id', '=', queue_cron.id)]),
                        "resuming triggers the queue")
        self.send_until_accepted(move)
        self.assertTrue(move.l10n_pl_ksef_number)
        requests_made, refused = self.counters()
        self.assertGreater(requests_made, before[0])
        self.assertEqual(refused, 0, "KSeF refused no request: none was made during the window")

    def test_stale_or_unknown_status_never_pauses(self):
        self.emulator.admin('/status-service', {'status': 'FAILURE'})
        self.run_status_cron()
        status = self.company._l10n_pl_ksef_service_status()
        self.assertTrue(self.company._l10n_pl_ksef_service_paused())
        status.checked_at = datetime.datetime.now() - datetime.timedelta(hours=1)
        self.assertFalse(self.company._l10n_pl_ksef_service_paused(), "an old answer does not pause sending")
        # The service itself is down: unknown, nothing pauses, the reason is kept.
        self.company.l10n_pl_ksef_custom_url = 'http://127.0.0.1:9/v2'
        self.run_status_cron()
        down = self.company._l10n_pl_ksef_service_status()
        self.assertEqual(down.status, 'unknown')
        self.assertIn('unreachable', down.error)
        self.assertFalse(self.company._l10n_pl_ksef_service_paused())

    # -- failure: emergency mode, deadline, sent after FAILURE_END -----------------------------------
    def test_failure_issues_queued_invoices_in_emergency_mode_then_sends_them_after_its_end(self):
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_service_outage = True
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        started = self.publish('FAILURE', 'FAILURE_START', title="Awaria KSeF",
                               start=self.iso(datetime.datetime.now(UTC) - datetime.timedelta(minutes=10)))
        self.run_status_cron()

        today = self.polish_today()
        self.assertEqual(move.l10n_pl_ksef_state, 'offline_issued')
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'emergency')
        self.assertEqual(move.l10n_pl_ksef_outage_event, str(started['eventId']))
        # The end is not known yet: the failure lasts at least until today.
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, add_business_days(today, 7))
        self.assertTrue(move.l10n_pl_ksef_qr_certificate_url, "printable at once with KOD II")
        self.assertIn('KSeF announced a failure', ' '.join(move.message_ids.mapped('body')))
        frozen_xml = move._l10n_pl_ksef_frozen_offline_attachment().raw

        # Posted during the failure: queued, then issued offline by the queue's own check (no request).
        later = self.create_invoice(amount=500)
        later._l10n_pl_ksef_queue()
        before = self.counters()
        self.run_queue_cron()
        self.assertEqual(self.counters(), before)
        self.assertEqual((later.l10n_pl_ksef_state, later.l10n_pl_ksef_offline_mode), ('offline_issued', 'emergency'))
        # The hourly offline action does not send anything during the failure either.
        self.run_cron('l10n_pl_ksef.ir_cron_l10n_pl_ksef_offline')
        self.run_queue_cron()
        self.assertEqual(self.counters(), before)

        end = datetime.datetime.now(UTC)
        self.publish('FAILURE', 'FAILURE_END', eventId=started['eventId'], end=self.iso(end))
        self.run_status_cron()
        moves = move | later
        self.assertEqual(moves.mapped('l10n_pl_ksef_state'), ['queued', 'queued'], "they go out by themselves")
        self.assertEqual(move.l10n_pl_ksef_offline_deadline,
                         offline_deadline('emergency', move.invoice_date, self.polish_day(end)))
        self.send_until_accepted(moves)
        self.assertEqual(moves.mapped('l10n_pl_ksef_invoicing_mode'), ['Offline', 'Offline'])
        self.assertEqual(move.l10n_pl_ksef_xml_attachment_id.raw, frozen_xml, "the printed bytes were sent")
        registered = {i['ksefNumber']: i for i in self.session_invoices(move.l10n_pl_ksef_session_id)}
        self.assertEqual(registered[move.l10n_pl_ksef_number]['invoicingMode'], 'Offline')
        self.assertEqual(self.counters()[1], 0, "no request was refused")

    def test_later_end_announcement_moves_the_deadlines_and_the_reminders(self):
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_service_outage = True
        today = self.polish_today()
        # Issued offline24 before the failure; its deadline is near, so it has a reminder.
        waiting = self.create_invoice(amount=300, invoice_date=today)
        waiting._l10n_pl_ksef_issue_offline('offline24')
        self.env['account.move']._l10n_pl_ksef_schedule_offline_reminders()
        reminder = waiting._l10n_pl_ksef_reminders()
        self.assertEqual(reminder.date_deadline, add_business_days(today, 1))
        queued = self.create_invoice(amount=400)
        queued._l10n_pl_ksef_queue()

        now = datetime.datetime.now(UTC)
        first_end = now + datetime.timedelta(days=3)
        started = self.publish('FAILURE', 'FAILURE_START', start=self.iso(now - datetime.timedelta(minutes=1)),
                               end=self.iso(first_end))
        self.run_status_cron()
        first_deadline = add_business_days(self.polish_day(first_end), 7)
        self.assertEqual((queued.l10n_pl_ksef_offline_mode, queued.l10n_pl_ksef_offline_deadline),
                         ('emergency', first_deadline))
        # The failure was announced while the offline24 invoice waited: 7 business days from its end.
        self.assertEqual((waiting.l10n_pl_ksef_offline_mode, waiting.l10n_pl_ksef_offline_deadline),
                         ('emergency', first_deadline))
        self.assertEqual(reminder.date_deadline, first_deadline, "the to-do follows the deadline")

        second_end = now + datetime.timedelta(days=10)
        self.publish('FAILURE', 'FAILURE_START', eventId=started['eventId'], end=self.iso(second_end))
        self.run_status_cron()
        second_deadline = add_business_days(self.polish_day(second_end), 7)
        self.assertEqual((waiting | queued).mapped('l10n_pl_ksef_offline_deadline'), [second_deadline] * 2)
        self.assertEqual(queued.l10n_pl_ksef_offline_outage_end, self.polish_day(second_end))
        self.assertEqual(reminder.date_deadline, second_deadline)
        self.assertIn('new end', ' '.join(queued.message_ids.mapped('body')))

        # A second failure announced within the 7 days restarts the count from its own end.
        self.emulator.admin('/status-service', {'status': 'AVAILABLE'})
        third_end = now + datetime.timedelta(days=12)
        self.publish('FAILURE', 'FAILURE_START', start=self.iso(now), end=self.iso(third_end))
        self.run_status_cron()
        self.assertEqual(queued.l10n_pl_ksef_offline_deadline, add_business_days(self.polish_day(third_end), 7))
        self.assertNotEqual(queued.l10n_pl_ksef_outage_event, str(started['eventId']))

    # -- total failure ---------------------------------------------------------------------------
    def test_total_failure_issues_outside_ksef_and_lifts_the_offline_deadlines(self):
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_service_outage = True
        offline = self.create_invoice(amount=700)
        offline._l10n_pl_ksef_issue_offline('offline24')
        offline_xml = offline._l10n_pl_ksef_frozen_offline_attachment().raw
        queued = self.create_invoice(amount=800)
        queued._l10n_pl_ksef_queue()
        started = self.publish('TOTAL_FAILURE', 'FAILURE_START',
                               start=self.iso(datetime.datetime.now(UTC) - datetime.timedelta(hours=1)))
        self.run_status_cron()

        # Issued during the total failure: outside KSeF, no FA(3) frozen, no QR code, nothing to send.
        self.assertEqual(queued.l10n_pl_ksef_state, 'outside_ksef')
        self.assertFalse(queued.l10n_pl_ksef_qr_url)
        self.assertFalse(queued.l10n_pl_ksef_qr_certificate_url)
        self.assertFalse(queued.l10n_pl_ksef_offline_mode)
        self.assertIn('outside KSeF', queued.l10n_pl_ksef_next_step)
        # Issued offline before it: the obligation to send is lifted.
        self.assertEqual(offline.l10n_pl_ksef_state, 'offline_issued')
        self.assertFalse(offline.l10n_pl_ksef_offline_deadline)
        self.assertIn('no longer has to be sent', ' '.join(offline.message_ids.mapped('body')))
        before = self.counters()
        self.run_queue_cron()
        self.assertEqual(self.counters(), before)

        self.publish('TOTAL_FAILURE', 'FAILURE_END', eventId=started['eventId'],
                     end=self.iso(datetime.datetime.now(UTC)))
        self.run_status_cron()
        self.send_until_accepted(offline)
        self.assertEqual(offline.l10n_pl_ksef_xml_attachment_id.raw, offline_xml)
        self.assertEqual(queued.l10n_pl_ksef_state, 'outside_ksef', "never sent to KSeF")
        self.assertEqual(len(self.session_invoices(offline.l10n_pl_ksef_session_id)), 1)
        self.assertEqual(self.counters()[1], 0)

    def test_total_failure_without_the_option_only_waits_and_says_why(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.emulator.admin('/status-service', {'status': 'TOTAL_FAILURE'})
        self.run_status_cron()
        self.run_queue_cron()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn('total failure', move.l10n_pl_ksef_error)
        self.assertEqual(self.counters(), (0, 0))

    def test_failure_without_offline_certificate_waits_and_says_why(self):
        self.company.l10n_pl_ksef_offline_on_service_outage = True
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.publish('FAILURE', 'FAILURE_START')
        self.run_status_cron()
        self.run_queue_cron()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertFalse(move.l10n_pl_ksef_offline_mode)
        self.assertIn('announced a failure', move.l10n_pl_ksef_error)
        self.assertIn('no valid Offline KSeF certificate', move.l10n_pl_ksef_error)
        self.assertEqual(self.counters(), (0, 0))

    # -- maintenance with the company option: offline mode, deadline from the announced end -----------
    def test_maintenance_issues_offline_with_the_next_business_day_after_its_end_in_polish(self):
        self.env['res.lang']._activate_lang('pl_PL')
        self.company.partner_id.lang = 'pl_PL'
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_service_outage = True
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        now = datetime.datetime.now(UTC)
        end = now + datetime.timedelta(days=1)
        window = self.publish('MAINTENANCE', 'MAINTENANCE_ANNOUNCEMENT', start=self.iso(now), end=self.iso(end))
        self.emulator.admin('/status-service', {'status': 'MAINTENANCE'})
        # What a user does: open the settings (saved record), click "Check KSeF status now".
        settings = self.env['res.config.settings'].create({})
        settings.action_l10n_pl_ksef_refresh_service_status()
        self.assertEqual(self.company._l10n_pl_ksef_service_status().status, 'maintenance')
        self.assertEqual((move.l10n_pl_ksef_state, move.l10n_pl_ksef_offline_mode), ('offline_issued', 'offline'))
        self.assertEqual(move.l10n_pl_ksef_offline_outage_end, self.polish_day(end))
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, add_business_days(self.polish_day(end), 1))

        # The window is extended: the scheduled action moves the deadline, and writes in the company's language.
        later_end = now + datetime.timedelta(days=4)
        self.publish('MAINTENANCE', 'MAINTENANCE_ANNOUNCEMENT', eventId=window['eventId'], start=self.iso(now),
                     end=self.iso(later_end))
        queued = self.create_invoice(amount=250, post=True)
        self.company.l10n_pl_ksef_offline_on_service_outage = False
        queued._l10n_pl_ksef_queue()
        self.run_status_cron()
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, add_business_days(self.polish_day(later_end), 1))
        self.assertIn('KSeF opublikował nowy koniec przerwy', ' '.join(move.message_ids.mapped('body')))
        self.assertIn('KSeF ogłosił prace serwisowe', queued.l10n_pl_ksef_error)

    def test_receiving_purchase_invoices_waits_during_maintenance(self):
        self.company.l10n_pl_ksef_receive_enabled = True
        self.emulator.admin('/status-service', {'status': 'MAINTENANCE'})
        self.run_status_cron()
        self.run_cron('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices')
        self.assertEqual(self.counters(), (0, 0), "no request for purchase invoices either")
        self.assertIn('maintenance window', self.company.l10n_pl_ksef_receive_error)
        self.assertIn('fetched when KSeF is available again', self.company.l10n_pl_ksef_receive_error)
