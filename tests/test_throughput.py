"""Throughput behaviour (no timing): each FA(3) built once, UPOs from KSeF's pre-signed links, batch
statuses recorded by sets in chunks, the scheduled action re-triggered when work is due."""
import re
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.models import account_move_fa3, account_move_ksef_batch

from .common import KsefEmulatorCase

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
        # The bytes are KSeF's UPO of that invoice.
        client = self.company._l10n_pl_ksef_get_client()
        for move in moves:
            upo = client.get_invoice_upo(move.l10n_pl_ksef_session_id.reference_number,
                                         invoice_reference=move.l10n_pl_ksef_reference)
            self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.raw, upo.content)

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
            accepted = [body for body in bodies if 'Accepted by KSeF with number' in body]
            self.assertEqual(len(accepted), 1, bodies)
            self.assertIn(move.l10n_pl_ksef_number, accepted[0])
            self.assertEqual(len([body for body in bodies if 'Sent to KSeF in batch session' in body]), 1)
            # The register holds the transmission with its UPO: the chatter has no tracking line per change.
            self.assertFalse(move.message_ids.tracking_value_ids.filtered(
                lambda value: value.field_id.name in ('l10n_pl_ksef_state', 'l10n_pl_ksef_number')))
            self.assertRecordValues(move.l10n_pl_ksef_transmission_ids, [{
                'kind': 'batch', 'state': 'accepted', 'ksef_number': move.l10n_pl_ksef_number,
                'upo_attachment_id': move.l10n_pl_ksef_upo_attachment_id.id}])
        # Nothing left: no follow-up run is planned for this company.
        self.assertIsNone(self.env['account.move']._l10n_pl_ksef_next_run_at(self.company))

    def test_processed_batch_left_unrecorded_is_due_at_once(self):
        """A run stopped by its time budget leaves statuses to record: the next run is due now, not in a minute."""
        self.company.l10n_pl_ksef_batch_threshold = 3
        moves = self._queue(3)
        with patch.object(account_move_ksef_batch, 'BATCH_POLL_SECONDS', -1.0):
            # The send step closes the session; the poll step records nothing (budget spent).
            for _run in range(20):
                self.process_queue()
                if moves.l10n_pl_ksef_session_id.state == 'done':
                    break
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(session.state, 'done')
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'sent'})
        before = fields.Datetime.now()
        next_run = self.env['account.move']._l10n_pl_ksef_next_run_at(self.company)
        self.assertLessEqual(next_run, before + account_move_ksef_batch.datetime.timedelta(seconds=1))
        self.process_until(moves, ('accepted',))
