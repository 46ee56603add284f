"""A long queue goes to the KSeF emulator in one batch session (ZIP package), over real HTTP."""
import json
import time
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import BatchArchive, is_valid_ksef_number, parse_upo, sha256_b64
from odoo.addons.l10n_pl_ksef.models import account_move_ksef_batch

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendBatch(KsefEmulatorCase):

    def setUp(self):
        super().setUp()
        self.company.l10n_pl_ksef_batch_threshold = 3

    # -- helpers ------------------------------------------------------------------------------------
    def _ksef_session_status(self, session):
        return json.loads(self.emulator_get('/sessions/%s' % session.reference_number))['status']['code']

    def _queue(self, count):
        moves = self.env['account.move']
        for index in range(count):
            moves |= self.create_invoice(amount=100 + index)
        self.assertEqual(moves._l10n_pl_ksef_queue(), moves)
        return moves

    def _sessions(self, kind):
        return self.env['ksef.session'].search([('company_id', '=', self.company.id), ('kind', '=', kind)])

    def _process_until_session(self, session, states=('done',), runs=30):
        for _run in range(runs):
            self.process_queue()
            if session.state in states:
                return
            time.sleep(0.1)
        self.fail("session state %s (%s %s)" % (session.state, session.status_code, session.status_text))

    def _render(self, moves):
        """``{file name: xml}`` of the package and ``{move: xml}``: each invoice rendered once (the
        FA(3) carries its creation time, so a second rendering would not be the same file)."""
        xmls = {move: move._l10n_pl_ksef_render_fa3() for move in moves}
        return {move._l10n_pl_ksef_fa3_filename(): xml for move, xml in xmls.items()}, xmls

    def _record_sending(self, xmls, session):
        """What the send step commits before uploading: each invoice 'sending' with its exact XML."""
        for move, xml in xmls.items():
            move.sudo().write({'l10n_pl_ksef_state': 'sending', 'l10n_pl_ksef_session_id': session.id,
                               'l10n_pl_ksef_invoice_hash': sha256_b64(xml),
                               'l10n_pl_ksef_invoice_size': len(xml)})

    # -- tests --------------------------------------------------------------------------------------
    def test_threshold_reached_sends_one_batch_session(self):
        moves = self._queue(4)
        # Small parts: the package travels in several encrypted parts, as a large one would.
        with patch.object(account_move_ksef_batch, 'BATCH_PART_SIZE', 2000):
            self.process_queue()
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(len(session), 1, "every invoice went in the same session")
        self.assertEqual(session.kind, 'batch')
        self.assertIn('-SB-', session.reference_number)
        self.assertGreater(session.batch_part_count, 1)
        self.assertNotEqual(session.state, 'open', "a batch session is closed right after its upload")
        self.assertLessEqual(set(moves.mapped('l10n_pl_ksef_state')), {'sent', 'accepted'})
        self.assertFalse(self._sessions('online'), "no invoice went one by one")

        self.process_until(moves, ('accepted',))
        registered = {item['invoiceHash']: item for item in self.session_invoices(session)}
        self.assertEqual(len(registered), 4, "KSeF holds each invoice exactly once")
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_status_code')), {200})
        for move in moves:
            self.assertTrue(is_valid_ksef_number(move.l10n_pl_ksef_number), move.l10n_pl_ksef_number)
            # The XML kept is exactly the file of the package KSeF registered.
            xml = move.l10n_pl_ksef_xml_attachment_id.raw
            self.assertEqual(sha256_b64(xml), move.l10n_pl_ksef_invoice_hash)
            self.assertEqual(len(xml), move.l10n_pl_ksef_invoice_size)
            item = registered[move.l10n_pl_ksef_invoice_hash]
            self.assertEqual(item['ksefNumber'], move.l10n_pl_ksef_number)
            self.assertEqual(item['referenceNumber'], move.l10n_pl_ksef_reference)
            self.assertEqual(item['invoiceFileName'], move.l10n_pl_ksef_xml_attachment_id.name)
            # The UPO attached is byte for byte the emulator's.
            upo = self.emulator_get('/sessions/%s/invoices/%s/upo' % (session.reference_number,
                                                                       move.l10n_pl_ksef_reference))
            self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.raw, upo)
            self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.res_id, move.id)
            bodies = ' '.join(move.message_ids.mapped('body'))
            for fragment in ('Sent to KSeF in batch session', session.reference_number, move.l10n_pl_ksef_number):
                self.assertIn(fragment, bodies)
            # One transmission per invoice in the KSeF register: a batch member with its UPO as received.
            self.assertRecordValues(move.l10n_pl_ksef_transmission_ids, [{
                'kind': 'batch', 'state': 'accepted', 'session_id': session.id, 'ksef_number': move.l10n_pl_ksef_number,
                'xml_hash': move.l10n_pl_ksef_invoice_hash, 'upo_attachment_id': move.l10n_pl_ksef_upo_attachment_id.id,
            }])

        # The session's collective UPO lists every invoice.
        self._process_until_session(session)
        self.assertEqual(session.successful_invoice_count, 4)
        upo = parse_upo(session.upo_attachment_ids[0].raw)
        self.assertEqual(sorted(doc.ksef_number for doc in upo.documents), sorted(moves.mapped('l10n_pl_ksef_number')))
        self.assertEqual(len(self._sessions('batch')), 1)

    def test_long_queue_is_split_into_batches_of_at_most_the_limit(self):
        self.company.l10n_pl_ksef_batch_threshold = 2
        moves = self._queue(5)
        with patch.object(account_move_ksef_batch, 'BATCH_MAX_INVOICES', 2):
            result = self.process_queue()
            self.assertEqual(len(moves.filtered(lambda move: move.l10n_pl_ksef_state == 'queued')), 3)
            self.assertLessEqual(result['retry_at'], fields.Datetime.now(), "the rest follows at once")
            self.process_until(moves, ('accepted',))
        # Oldest first: two batches of two, then the last one (below the threshold) alone online.
        self.assertEqual([session.kind for session in moves.l10n_pl_ksef_session_id.sorted('id')],
                         ['batch', 'batch', 'online'])
        self.assertEqual(moves[4].l10n_pl_ksef_session_id.kind, 'online')
        for session in moves.l10n_pl_ksef_session_id:
            self.assertEqual(len(self.session_invoices(session)), len(session.move_ids))

    def test_below_threshold_goes_online(self):
        moves = self._queue(2)
        self.process_until(moves, ('accepted',))
        self.assertEqual(set(moves.l10n_pl_ksef_session_id.mapped('kind')), {'online'})
        self.assertFalse(self._sessions('batch'))

    def test_threshold_zero_never_uses_batch(self):
        self.company.l10n_pl_ksef_batch_threshold = 0
        moves = self._queue(4)
        self.process_until(moves, ('accepted',))
        self.assertEqual(set(moves.l10n_pl_ksef_session_id.mapped('kind')), {'online'})
        self.assertFalse(self._sessions('batch'))

    def test_invalid_invoice_is_left_out_of_the_batch_and_never_sent(self):
        moves = self._queue(4)
        invalid = moves[1]
        # The bank account became unusable after queueing: FA(3) needs 10 to 34 characters (XSD).
        short = self.env['res.partner.bank'].create({'acc_number': '12345', 'partner_id': self.company.partner_id.id,
                                                     'allow_out_payment': True})
        self.env.cr.execute("UPDATE account_move SET partner_bank_id = %s WHERE id = %s", [short.id, invalid.id])
        self.env.invalidate_all()
        self.assertTrue(invalid._l10n_pl_ksef_check_fa3())

        self.process_queue()
        self.assertEqual(invalid.l10n_pl_ksef_state, 'not_sent')
        self.assertIn('NrRB', invalid.l10n_pl_ksef_error)
        self.assertFalse(invalid.l10n_pl_ksef_session_id)
        self.assertFalse(invalid.l10n_pl_ksef_xml_attachment_id)
        self.assertIn('not valid', ' '.join(invalid.message_ids.mapped('body')))

        valid = moves - invalid
        self.process_until(valid, ('accepted',))
        session = valid.l10n_pl_ksef_session_id
        self.assertEqual(session.kind, 'batch')
        registered = self.session_invoices(session)
        self.assertEqual(len(registered), 3)
        self.assertNotIn(invalid.name, [item.get('invoiceNumber') for item in registered])
        self.assertEqual(invalid.l10n_pl_ksef_state, 'not_sent', "never sent")

    def test_upload_outage_keeps_invoices_queued_and_next_run_sends_them(self):
        moves = self._queue(3)
        self.company._l10n_pl_ksef_get_client()  # authenticated before the outage
        self.emulator.admin('/faults', {'pathPattern': '^/storage/batch/', 'method': 'PUT', 'kind': 'html',
                                        'status': 503, 'count': 20})
        result = self.process_queue()
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'queued'}, "not lost")
        self.assertFalse(moves.l10n_pl_ksef_session_id)
        self.assertIn('not reachable', moves[0].l10n_pl_ksef_error)
        self.assertTrue(result['retry_at'])
        abandoned = self._sessions('batch')
        self.assertEqual(len(abandoned), 1)
        self.assertEqual(abandoned.state, 'failed')
        self.assertIn('abandoned', ' '.join(abandoned.message_ids.mapped('body')))
        # KSeF keeps the session open (it is cancelled when its time runs out) and never processes it.
        self.assertEqual(self._ksef_session_status(abandoned), 100)

        self.emulator.admin('/faults', method='DELETE')
        self.process_until(moves, ('accepted',))
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(len(session), 1)
        self.assertNotEqual(session, abandoned)
        self.assertEqual(len(self.session_invoices(session)), 3)
        self.assertEqual(self.session_invoices(abandoned), [], "not sent twice")
        self.assertEqual(abandoned.state, 'failed', "an abandoned session is never closed")
        self.assertEqual(len(set(moves.mapped('l10n_pl_ksef_number'))), 3)

    def test_close_refused_queues_the_invoices_again(self):
        moves = self._queue(3)
        self.emulator.admin('/faults', {'pathPattern': r'^/v2/sessions/batch/[^/]+/close$', 'method': 'POST',
                                        'kind': 'status', 'status': 400, 'count': 1})
        self.process_queue()
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'queued'})
        abandoned = self._sessions('batch')
        self.assertEqual(abandoned.state, 'failed')
        self.process_until(moves, ('accepted',))
        self.assertEqual(len(self._sessions('batch')), 2)
        self.assertEqual(self.session_invoices(abandoned), [])
        self.assertEqual(len(self.session_invoices(moves.l10n_pl_ksef_session_id)), 3)

    def test_lost_close_answer_is_reconciled_not_resent(self):
        moves = self._queue(3)
        # KSeF closes the session but its answer never arrives, and then KSeF is briefly unreachable:
        # the run cannot tell whether the package will be processed.
        self.emulator.admin('/faults', {'pathPattern': r'^/v2/sessions/batch/[^/]+/close$', 'method': 'POST',
                                        'kind': 'drop', 'count': 1})
        self.emulator.admin('/faults', {'pathPattern': r'^/v2/sessions/[0-9]{8}-SB-[^/]+$', 'method': 'GET',
                                        'kind': 'html', 'status': 503, 'count': 4})
        result = self.process_queue()
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'sending'})
        self.assertIn('did not confirm closing', moves[0].l10n_pl_ksef_error)
        self.assertTrue(result['retry_at'])
        session = moves.l10n_pl_ksef_session_id
        self.assertEqual(session.state, 'open')

        # The next run asks KSeF: the session was closed, so the invoices are followed, not sent again.
        self.process_until(moves, ('accepted',))
        self.assertEqual(moves.l10n_pl_ksef_session_id, session)
        self.assertEqual(len(self._sessions('batch')), 1)
        self.assertEqual(len(self.session_invoices(session)), 3)

    def test_worker_died_after_close_is_reconciled_from_session_list(self):
        moves = self._queue(3)
        client = self.company._l10n_pl_ksef_get_client()
        # A worker recorded the invoices, uploaded and closed the package, then died before recording it.
        files, xmls = self._render(moves)
        archive = BatchArchive.build(files)
        session, info, key = self.env['ksef.session']._open_batch_session(self.company, client, archive)
        self._record_sending(xmls, session)
        client.upload_batch_parts(info, key, archive)
        client.close_batch_session(session.reference_number)

        self.process_until(moves, ('accepted',))
        self.assertEqual(moves.l10n_pl_ksef_session_id, session)
        self.assertEqual(len(self._sessions('batch')), 1)
        self.assertEqual(len(self.session_invoices(session)), 3, "not sent twice")
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_status_code')), {200}, "no duplicate (440) either")
        self.assertTrue(all(moves.mapped('l10n_pl_ksef_upo_attachment_id')))

    def test_worker_died_before_close_queues_the_invoices_again(self):
        moves = self._queue(3)
        client = self.company._l10n_pl_ksef_get_client()
        # A worker recorded the invoices in a batch session it opened, then died during the upload.
        files, xmls = self._render(moves)
        orphan, _info, _key = self.env['ksef.session']._open_batch_session(
            self.company, client, BatchArchive.build(files))
        self._record_sending(xmls, orphan)

        self.process_until(moves, ('accepted',))
        self.assertEqual(orphan.state, 'failed')
        self.assertNotEqual(moves.l10n_pl_ksef_session_id, orphan)
        self.assertEqual(moves.l10n_pl_ksef_session_id.kind, 'batch')
        self.assertEqual(self.session_invoices(orphan), [])
        self.assertEqual(len(self.session_invoices(moves.l10n_pl_ksef_session_id)), 3)

    def test_refresh_button_follows_a_batch_session(self):
        moves = self._queue(3)
        # The package is sent, then KSeF refuses the status check of this run once.
        self.emulator.admin('/faults', {'pathPattern': r'^/v2/sessions/[0-9]{8}-SB-[^/]+$', 'method': 'GET',
                                        'kind': 'status', 'status': 400, 'count': 1})
        self.process_queue()
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'sent'})
        moves.action_l10n_pl_ksef_refresh_status()
        self.assertEqual(set(moves.mapped('l10n_pl_ksef_state')), {'accepted'})
        self.assertTrue(all(moves.mapped('l10n_pl_ksef_upo_attachment_id')))

    def test_threshold_setting(self):
        company = self.env['res.company'].create({'name': "Nowa Spółka"})
        self.assertEqual(company.l10n_pl_ksef_batch_threshold, 100)
        settings = self.env['res.config.settings'].create({})
        settings.l10n_pl_ksef_batch_threshold = 250
        settings.execute()
        self.assertEqual(settings.company_id.l10n_pl_ksef_batch_threshold, 250)
        with self.assertRaises(ValidationError):
            self.company.l10n_pl_ksef_batch_threshold = -1
