"""Throughput behaviour (no timing): each FA(3) built once, UPOs from KSeF's pre-signed links, batch
statuses recorded by sets in chunks, the scheduled action re-triggered when work is due."""
import datetime
import re
import time
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import sha256_b64
from odoo.addons.l10n_pl_ksef.models import account_move_fa3, account_move_ksef_batch, account_move_ksef_queue

from .common import SECOND_SELLER_NIP, KsefEmulatorCase, reset_ksef_rate_limits

_PER_INVOICE_UPO = re.compile(r'"GET /v2/sessions/[^/ ]+/invoices/[^/ ]+/upo"')
_PRESIGNED_UPO = re.compile(r'"GET /storage/upo/[^/ ]+/invoice/')


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestThroughput(KsefEmulatorCase):

    def _queue(self, count):
        moves = self.env['account.move']
        for index in range(count):
            moves |= self.create_invoice(amount=200 + index)
        moves._l10n_pl_ksef_queue()
        return moves

    def _assert_upos_are_ksefs(self, moves):
        """Each invoice's UPO attachment holds the bytes KSeF's API gives for that invoice."""
        client = self.company._l10n_pl_ksef_get_client()
        for move in moves:
            upo = client.get_invoice_upo(move.l10n_pl_ksef_session_id.reference_number,
                                         invoice_reference=move.l10n_pl_ksef_reference)
            self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.raw, upo.content)

    def _log_count(self, pattern, since):
        return len(pattern.findall(self.emulator.log_text()[since:]))

    def test_online_builds_once_and_takes_upos_from_presigned_links(self):
        self.company.l10n_pl_ksef_batch_threshold = 0
        moves = self._queue(2)
        log_start = len(self.emulator.log_text())
        with patch.object(account_move_fa3, 'build_fa3', wraps=account_move_fa3.build_fa3) as build:
            self.process_until(moves, ('accepted',))
        self.assertEqual(build.call_count, 2, "one FA(3) build per invoice sent")
        self.assertTrue(all(moves.mapped('l10n_pl_ksef_upo_attachment_id')))
        self.assertEqual(self._log_count(_PER_INVOICE_UPO, log_start), 0,
                         "no UPO from the rate-limited per-invoice endpoint")
        self.assertEqual(self._log_count(_PRESIGNED_UPO, log_start), 2, "one pre-signed download per invoice")
        self._assert_upos_are_ksefs(moves)

    def test_batch_records_the_whole_package_by_chunks(self):
        self.company.l10n_pl_ksef_batch_threshold = 3
        moves = self._queue(5)
        log_start = len(self.emulator.log_text())
        # Chunks of two: the five invoices are recorded in three chunks of one run each time KSeF is done.
        with patch.object(account_move_ksef_batch, 'BATCH_COMMIT_CHUNK', 2):
            self.process_until(moves, ('accepted',))
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(len(session), 1)
        self.assertEqual(session.kind, 'batch')
        self.assertTrue(all(moves.mapped('l10n_pl_ksef_upo_attachment_id')))
        self.assertEqual(self._log_count(_PER_INVOICE_UPO, log_start), 0)
        self.assertEqual(self._log_count(_PRESIGNED_UPO, log_start), 5)
        for move in moves:
            bodies = move.message_ids.mapped('body')
            # One note tells the sending and the acceptance (a batch of thousands writes one message each).
            accepted = [body for body in bodies if 'Sent to KSeF in batch session' in body]
            self.assertEqual(len(accepted), 1, bodies)
            self.assertIn(move.l10n_pl_ksef_number, accepted[0])
            self.assertIn(move.l10n_pl_ksef_session_id.reference_number, accepted[0])
            # The register holds the transmission with its UPO: the chatter has no tracking line per change.
            self.assertFalse(move.message_ids.tracking_value_ids.filtered(
                lambda value: value.field_id.name in ('l10n_pl_ksef_state', 'l10n_pl_ksef_number')))
            self.assertRecordValues(move.l10n_pl_ksef_transmission_ids, [{
                'kind': 'batch', 'state': 'accepted', 'ksef_number': move.l10n_pl_ksef_number,
                'upo_attachment_id': move.l10n_pl_ksef_upo_attachment_id.id}])
        # Nothing left: no follow-up run is planned for this company.
        self.assertIsNone(self.env['account.move']._l10n_pl_ksef_next_run_at(self.company))

    def test_processed_batch_left_unrecorded_is_due_at_once(self):
        """A run whose time is used up leaves statuses to record: the next run is due now, not in a minute."""
        self.company.l10n_pl_ksef_batch_threshold = 3
        moves = self._queue(3)
        move_class = type(self.env['account.move'])
        poll = move_class._l10n_pl_ksef_batch_poll

        def poll_out_of_time(records, session, client):
            return poll(records.with_context({account_move_ksef_queue.RUN_DEADLINE: time.time() - 1}),
                        session, client)

        with patch.object(move_class, '_l10n_pl_ksef_batch_poll', poll_out_of_time), \
                patch.object(account_move_ksef_batch, 'BATCH_COMMIT_CHUNK', 1):
            # The send step closes the session; the poll step records one chunk (one invoice), then its
            # time is used up.
            for _run in range(20):
                result = self.process_queue()
                if moves.l10n_pl_ksef_session_id.state == 'done' and 'accepted' in moves.mapped('l10n_pl_ksef_state'):
                    break
        self.assertLessEqual(result['retry_at'], fields.Datetime.now() + datetime.timedelta(seconds=1),
                             "handed over to a run due at once")
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(session.state, 'done')
        self.assertEqual(sorted(moves.mapped('l10n_pl_ksef_state')), ['accepted', 'sent', 'sent'])
        before = fields.Datetime.now()
        next_run = self.env['account.move']._l10n_pl_ksef_next_run_at(self.company)
        self.assertLessEqual(next_run, before + account_move_ksef_batch.datetime.timedelta(seconds=1))
        self.process_until(moves, ('accepted',))

    def test_batch_upo_links_failing_lose_nothing(self):
        """UPOs downloaded in the background: links that fail (and the API's UPO endpoint with them) leave the
        invoices accepted without a UPO, and a later run attaches KSeF's UPO to each; nothing is lost."""
        self.company.l10n_pl_ksef_batch_threshold = 3
        moves = self._queue(3)
        self.emulator.admin('/faults', {'pathPattern': '/upo$|/storage/upo/', 'kind': 'html', 'status': 503,
                                        'count': 1000})
        self.process_until(moves, ('accepted',))
        self.assertFalse(moves.l10n_pl_ksef_upo_attachment_id)
        self.assertTrue(all(moves.mapped('l10n_pl_ksef_number')))
        self.emulator.admin('/faults', method='DELETE')
        self.process_queue()
        self._assert_upos_are_ksefs(moves)

    def test_closed_batch_is_read_every_second_at_first_then_every_few_seconds(self):
        """Just after the close KSeF is read again in a second (a package takes seconds), not after a fixed
        idle delay; a package still processing later is read every few seconds (within KSeF's 1,200 an hour)."""
        self.company.l10n_pl_ksef_batch_threshold = 3
        moves = self._queue(3)
        move_class = type(self.env['account.move'])
        with patch.object(move_class, '_l10n_pl_ksef_batch_poll', lambda records, session, client: None):
            self.process_queue()  # sends and closes; the invoices' statuses are not read in this run
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(moves.mapped('l10n_pl_ksef_state'), ['sent'] * 3)
        # The emulator processes a package of three at once: as Odoo last read it, KSeF is still at it.
        now = fields.Datetime.now()
        session.sudo().write({'state': 'closing', 'status_code': 150, 'last_used': now})
        next_run = self.env['account.move']._l10n_pl_ksef_next_run_at(self.company)
        self.assertGreater(next_run, now)
        self.assertLessEqual(next_run, now + datetime.timedelta(seconds=2))
        session.sudo().last_used = now - datetime.timedelta(
            seconds=account_move_ksef_batch.BATCH_FIRST_FOLLOW_UPS_SECONDS + 1)
        next_run = self.env['account.move']._l10n_pl_ksef_next_run_at(self.company)
        self.assertGreaterEqual(next_run, now + datetime.timedelta(
            seconds=account_move_ksef_batch.BATCH_FOLLOW_UP_SECONDS - 1))
        self.process_until(moves, ('accepted',))

    # ------------------------------------------------------------------
    # Every run within its time: hand over, never sleep the run out
    # ------------------------------------------------------------------
    def test_rate_limit_hands_over_instead_of_sleeping(self):
        """KSeF's 30 sends a minute are used up: the run does not sleep until the limit frees; it returns,
        and the scheduled action is triggered for when the limit frees."""
        self.company.l10n_pl_ksef_batch_threshold = 0
        moves = self._queue(2)
        limiter = self.company._l10n_pl_ksef_rate_limiter()
        sent_at = time.time() - 5
        with limiter._store.locked('invoiceSend') as state:
            state.history = [sent_at + index * 0.001 for index in range(30)]
        due = limiter.delay_for('invoiceSend')
        self.assertGreater(due, account_move_ksef_queue.RUN_BUDGET_SECONDS, "later than one run may last")
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)]).unlink()
        before = fields.Datetime.now()
        self.env['account.move']._l10n_pl_ksef_cron_process_queue()
        self.assertEqual(moves.mapped('l10n_pl_ksef_state'), ['queued', 'queued'], "nothing sent over the limit")
        self.assertEqual(moves.mapped('l10n_pl_ksef_retry_count'), [0, 0], "waiting for the limit is not a fault")
        self.assertEqual(moves.mapped('l10n_pl_ksef_error'), [False, False])
        self.assertFalse(moves.l10n_pl_ksef_session_id)
        trigger = self.env['ir.cron.trigger'].search([('cron_id', '=', cron.id)], order='call_at', limit=1)
        self.assertGreaterEqual(trigger.call_at, before + datetime.timedelta(seconds=int(due) - 2))
        self.assertLessEqual(trigger.call_at, before + datetime.timedelta(seconds=int(due) + 5))
        reset_ksef_rate_limits(self.env)  # the minute has passed
        self.process_until(moves, ('accepted',))

    def test_queue_prepared_over_several_runs_goes_in_one_batch_session(self):
        """A queue larger than one run prepares is kept prepared between runs and sent as one package."""
        self.company.l10n_pl_ksef_batch_threshold = 2
        moves = self._queue(5)
        runs = 1
        with patch.object(account_move_ksef_queue, 'RUN_BUDGET_SECONDS', 0.0), \
                patch.object(account_move_ksef_queue, 'MIN_COMPANY_SECONDS', 0.0), \
                patch.object(account_move_ksef_batch, 'BATCH_PREPARE_CHUNK', 2):
            result = self.process_queue()
            # One chunk in a run whose time is used up: kept on the invoices, still queued, nothing sent.
            self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'queued'})
            prepared = moves.filtered('l10n_pl_ksef_batch_xml_hash')
            self.assertEqual(prepared, moves[:2])
            kept = prepared.mapped('l10n_pl_ksef_batch_xml_id')
            self.assertEqual(kept.mapped('res_id'), prepared.ids)
            self.assertFalse(self.env['ksef.session'].search([('company_id', '=', self.company.id),
                                                              ('kind', '=', 'batch')]))
            self.assertLessEqual(result['retry_at'], fields.Datetime.now(), "handed over to a run due at once")
            while 'queued' in moves.mapped('l10n_pl_ksef_state') and runs < 10:
                self.process_queue()
                runs += 1
        self.assertGreaterEqual(runs, 3, "prepared over several runs")
        self.process_until(moves, ('accepted',))
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(len(session), 1, "one session for the whole queue")
        self.assertEqual(session.kind, 'batch')
        self.assertEqual(prepared.mapped('l10n_pl_ksef_xml_attachment_id'), kept, "the files kept are the files sent")
        self.assertFalse(moves.filtered('l10n_pl_ksef_batch_xml_hash'), "what was prepared is now what was sent")
        for move in moves:
            self.assertEqual(len(move.l10n_pl_ksef_transmission_ids), 1)

    def _prepare_first_chunk(self, moves):
        """One run whose time is used up: the first two queued invoices are prepared for the batch, not sent."""
        with patch.object(account_move_ksef_queue, 'RUN_BUDGET_SECONDS', 0.0), \
                patch.object(account_move_ksef_queue, 'MIN_COMPANY_SECONDS', 0.0), \
                patch.object(account_move_ksef_batch, 'BATCH_PREPARE_CHUNK', 2):
            self.process_queue()
        prepared = moves.filtered('l10n_pl_ksef_batch_xml_hash')
        self.assertEqual(prepared, moves[:2])
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'queued'})
        return prepared

    def _assert_sent_with_their_files(self, moves):
        for move in moves:
            sent = move.l10n_pl_ksef_xml_attachment_id
            self.assertTrue(sent.exists())
            self.assertEqual(move.l10n_pl_ksef_transmission_ids.xml_attachment_id, sent)
            self.assertEqual(move.l10n_pl_ksef_invoice_hash, sha256_b64(sent.raw))

    def test_prepared_file_of_an_invoice_taken_out_of_the_queue_is_deleted(self):
        """The user takes a prepared invoice out of the queue ("Cancel KSeF sending", then "Reset to Draft"):
        the file prepared for the batch goes with it; the invoices sent keep theirs as the file sent."""
        self.company.l10n_pl_ksef_batch_threshold = 2
        moves = self._queue(4)
        taken_out, staying = self._prepare_first_chunk(moves)
        dropped_file = taken_out.l10n_pl_ksef_batch_xml_id
        kept_file = staying.l10n_pl_ksef_batch_xml_id
        user = self.env.user  # the web client's user (invoicing rights)
        taken_out.with_user(user).action_l10n_pl_ksef_cancel_sending()
        taken_out.with_user(user).button_draft()
        self.assertEqual((taken_out.state, taken_out.l10n_pl_ksef_state), ('draft', 'not_sent'))
        self.assertFalse(taken_out.l10n_pl_ksef_batch_xml_id)
        self.assertFalse(dropped_file.exists(), "the prepared file is not left behind")
        self.assertTrue(kept_file.exists())
        others = moves - taken_out
        self.process_until(others, ('accepted',))
        self.assertEqual(len(others.l10n_pl_ksef_session_id), 1)
        self.assertEqual(others.l10n_pl_ksef_session_id.kind, 'batch')
        self.assertEqual(staying.l10n_pl_ksef_xml_attachment_id, kept_file, "the file kept is the file sent")
        self._assert_sent_with_their_files(others)
        self.assertFalse(taken_out.l10n_pl_ksef_xml_attachment_id or taken_out.l10n_pl_ksef_transmission_ids)

    def test_prepared_file_found_changed_is_deleted_and_prepared_again(self):
        """A kept file that no longer matches its hash is not sent: it is deleted and the invoice goes with a
        file rendered again."""
        self.company.l10n_pl_ksef_batch_threshold = 2
        moves = self._queue(3)
        changed, _other = self._prepare_first_chunk(moves)
        changed_file = changed.l10n_pl_ksef_batch_xml_id
        changed_file.raw += b'\n<!-- changed -->'
        self.process_until(moves, ('accepted',))
        self.assertFalse(changed_file.exists(), "the file found changed is not left behind")
        self.assertNotIn(b'changed', changed.l10n_pl_ksef_xml_attachment_id.raw)
        self._assert_sent_with_their_files(moves)
        self.assertFalse(moves.filtered('l10n_pl_ksef_batch_xml_id'))

    def test_a_long_queue_of_one_company_does_not_starve_another(self):
        other = self.setup_other_company(name="Druga Spółka")['company']
        self.change_company_country(other, self.env.ref('base.pl'))
        self.configure_ksef_company(other, SECOND_SELLER_NIP)
        (self.company | other).write({'l10n_pl_ksef_batch_threshold': 0})
        mine = self._queue(4)
        theirs = self.create_invoice(company=other)
        theirs.with_context(allowed_company_ids=other.ids)._l10n_pl_ksef_queue()
        companies = self.company | other
        # The company with the long queue was served least recently: it goes first.
        self.company.l10n_pl_ksef_queue_turn = 0
        other.l10n_pl_ksef_queue_turn = 1
        Move = self.env['account.move']
        with patch.object(account_move_ksef_queue, 'RUN_BUDGET_SECONDS', 0.0), \
                patch.object(account_move_ksef_queue, 'MIN_COMPANY_SECONDS', 0.0):
            result = Move._l10n_pl_ksef_process_queue(companies=companies)
            # Its share of the run used up, it handed over; the other company comes first in the next run.
            self.assertEqual(len(mine.filtered(lambda move: move.l10n_pl_ksef_state == 'queued')), 3)
            self.assertEqual(theirs.l10n_pl_ksef_state, 'queued')
            self.assertLessEqual(result['retry_at'], fields.Datetime.now())
            Move._l10n_pl_ksef_process_queue(companies=companies)
            self.assertIn(theirs.l10n_pl_ksef_state, ('sent', 'accepted'), "served though the other queue is long")
            self.assertEqual(len(mine.filtered(lambda move: move.l10n_pl_ksef_state == 'queued')), 3)
            self.assertLess(self.company.l10n_pl_ksef_queue_turn, other.l10n_pl_ksef_queue_turn)
            Move._l10n_pl_ksef_process_queue(companies=companies)
            self.assertEqual(len(mine.filtered(lambda move: move.l10n_pl_ksef_state == 'queued')), 2,
                             "then the long queue again")
        self.process_until(mine | theirs, ('accepted',))
