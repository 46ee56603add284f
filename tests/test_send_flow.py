"""Invoices go to the KSeF emulator over real HTTP: queue, session, acceptance, UPO, duplicates."""
import time

from odoo import fields
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import is_valid_ksef_number, parse_upo, sha256_b64

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendFlow(KsefEmulatorCase):

    # -- tests ----------------------------------------------------------------------------------
    def test_post_send_accepted_with_ksef_number_and_upo(self):
        move = self.create_invoice()
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')
        self.assertEqual(move._l10n_pl_ksef_queue(), move)
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.process_until(move, ('accepted',))

        self.assertTrue(is_valid_ksef_number(move.l10n_pl_ksef_number), move.l10n_pl_ksef_number)
        self.assertIn(move.company_id.vat[2:], move.l10n_pl_ksef_number)
        self.assertTrue(move.l10n_pl_ksef_reference)
        self.assertTrue(move.l10n_pl_ksef_sent_date and move.l10n_pl_ksef_accepted_date)
        self.assertEqual(move.l10n_pl_ksef_invoicing_mode, 'Online', "issued and sent the same day")
        # The XML kept is exactly what was sent: its hash is the one KSeF registered.
        xml = move.l10n_pl_ksef_xml_attachment_id.raw
        self.assertEqual(sha256_b64(xml), move.l10n_pl_ksef_invoice_hash)
        self.assertEqual(len(xml), move.l10n_pl_ksef_invoice_size)
        self.assertIn('/', move.name)
        self.assertEqual(move.l10n_pl_ksef_xml_attachment_id.name, 'FA3-%s.xml' % move.name.replace('/', '_'))
        [registered] = self.session_invoices(move.l10n_pl_ksef_session_id)
        self.assertEqual(registered['invoiceHash'], move.l10n_pl_ksef_invoice_hash)
        self.assertEqual(registered['ksefNumber'], move.l10n_pl_ksef_number)
        # The UPO attached is byte for byte the emulator's.
        upo = self.emulator_get('/sessions/%s/invoices/%s/upo' % (
            move.l10n_pl_ksef_session_id.reference_number, move.l10n_pl_ksef_reference))
        self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.raw, upo)
        self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.res_id, move.id)
        # The user's action and KSeF's verdict are in the chatter; the sending itself is in the KSeF register.
        bodies = ' '.join(move.message_ids.mapped('body'))
        for fragment in ('Queued for sending', move.l10n_pl_ksef_number):
            self.assertIn(fragment, bodies)
        [transmission] = move.l10n_pl_ksef_transmission_ids
        self.assertEqual(move.l10n_pl_ksef_transmission_id, transmission)
        self.assertRecordValues(transmission, [{
            'kind': 'online', 'state': 'accepted', 'ksef_number': move.l10n_pl_ksef_number,
            'reference': move.l10n_pl_ksef_reference, 'session_id': move.l10n_pl_ksef_session_id.id,
            'xml_hash': move.l10n_pl_ksef_invoice_hash, 'xml_size': len(xml), 'status_code': 200,
            'xml_attachment_id': move.l10n_pl_ksef_xml_attachment_id.id,
            'upo_attachment_id': move.l10n_pl_ksef_upo_attachment_id.id,
        }])
        self.assertTrue(transmission.sent_date and transmission.answered_date)

    def test_session_opened_reused_closed_with_collective_upo(self):
        first, second = self.create_invoice(amount=100), self.create_invoice(amount=200)
        first._l10n_pl_ksef_queue()
        self.process_until(first, ('accepted',))
        session = first.l10n_pl_ksef_session_id
        self.assertEqual(session.state, 'open')
        self.assertTrue(session.reference_number)
        self.assertTrue(session.sudo().key_material.startswith('fernet:'))

        second._l10n_pl_ksef_queue()
        self.process_until(second, ('accepted',))
        self.assertEqual(second.l10n_pl_ksef_session_id, session, "an open, valid session is re-used")
        self.assertEqual(self.env['ksef.session'].search_count([('company_id', '=', self.company.id)]), 1)

        # Nothing sent for a while: the session is closed and its collective UPO attached.
        session.sudo().last_used = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
        for _run in range(10):
            self.process_queue()
            if session.state == 'done':
                break
            time.sleep(0.2)
        self.assertEqual(session.state, 'done')
        self.assertEqual(session.invoice_count, 2)
        self.assertEqual(session.successful_invoice_count, 2)
        self.assertTrue(session.upo_attachment_ids)
        upo = parse_upo(session.upo_attachment_ids[0].raw)
        self.assertEqual(sorted(doc.ksef_number for doc in upo.documents),
                         sorted((first | second).mapped('l10n_pl_ksef_number')))

        # A new invoice opens a new session.
        third = self.create_invoice(amount=300)
        third._l10n_pl_ksef_queue()
        self.process_until(third, ('accepted',))
        self.assertNotEqual(third.l10n_pl_ksef_session_id, session)

    def test_near_expiry_session_is_not_reused(self):
        first = self.create_invoice(amount=100)
        first._l10n_pl_ksef_queue()
        self.process_until(first, ('accepted',))
        session = first.l10n_pl_ksef_session_id
        session.sudo().valid_until = fields.Datetime.add(fields.Datetime.now(), minutes=10)
        second = self.create_invoice(amount=200)
        second._l10n_pl_ksef_queue()
        self.process_until(second, ('accepted',))
        self.assertNotEqual(second.l10n_pl_ksef_session_id, session)
        self.assertIn(session.state, ('closing', 'done'), "a session near expiry is closed")

    def test_duplicate_440_adopts_original_ksef_number(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        original = move.l10n_pl_ksef_number
        original_upo = move.l10n_pl_ksef_upo_attachment_id.raw
        # Odoo lost track of the sending (e.g. a database restored from an older backup).
        move.sudo().write({'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_number': False,
                           'l10n_pl_ksef_session_id': False, 'l10n_pl_ksef_reference': False,
                           'l10n_pl_ksef_upo_attachment_id': False})
        self.process_until(move, ('accepted', 'rejected'))
        self.assertEqual(move.l10n_pl_ksef_state, 'accepted', move.l10n_pl_ksef_error)
        self.assertEqual(move.l10n_pl_ksef_number, original)
        self.assertEqual(move.l10n_pl_ksef_status_code, 440)
        self.assertIn('440', move.l10n_pl_ksef_error)
        # Its receipt is the UPO of the original sending.
        self.assertEqual(move.l10n_pl_ksef_upo_attachment_id.raw, original_upo)

    def test_uncertain_send_is_reconciled_by_hash_not_resent(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        # KSeF accepts the POST but the answer never arrives.
        self.emulator.admin('/faults', {'pathPattern': r'/sessions/online/[^/]+/invoices$', 'method': 'POST',
                                        'kind': 'drop', 'count': 1})
        self.process_until(move, ('accepted',))
        invoices = self.session_invoices(move.l10n_pl_ksef_session_id)
        self.assertEqual(len(invoices), 1, "the invoice reached KSeF exactly once")

    def test_crash_after_send_is_reconciled_from_session_list(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        client = self.company._l10n_pl_ksef_get_client()
        session = self.env['ksef.session']._get_or_open_session(self.company, client)
        xml = move._l10n_pl_ksef_render_fa3()
        # A worker sent the invoice, then died before recording KSeF's answer.
        client.send_invoice(session.reference_number, session._get_session_key(), xml)
        move.sudo().write({'l10n_pl_ksef_state': 'sending', 'l10n_pl_ksef_session_id': session.id,
                           'l10n_pl_ksef_invoice_hash': sha256_b64(xml), 'l10n_pl_ksef_invoice_size': len(xml)})
        self.process_until(move, ('accepted',))
        self.assertEqual(len(self.session_invoices(session)), 1)
        self.assertEqual(move.l10n_pl_ksef_session_id, session)

    def test_sending_that_never_arrived_is_sent_again(self):
        move = self.create_invoice()
        client = self.company._l10n_pl_ksef_get_client()
        session = self.env['ksef.session']._get_or_open_session(self.company, client)
        move.sudo().write({'l10n_pl_ksef_state': 'sending', 'l10n_pl_ksef_session_id': session.id,
                           'l10n_pl_ksef_invoice_hash': sha256_b64(b'never sent')})
        self.process_until(move, ('accepted',))
        self.assertEqual(len(self.session_invoices(move.l10n_pl_ksef_session_id)), 1)

    def test_outage_keeps_invoice_queued_with_readable_message(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.company._l10n_pl_ksef_get_client()  # authenticated before the outage
        self.emulator.admin('/faults', {'pathPattern': '/sessions', 'kind': 'html', 'status': 503, 'count': 20})
        result = self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn('not reachable', move.l10n_pl_ksef_error)
        self.assertTrue(result['retry_at'])
        self.assertFalse(self.env['ksef.session'].search([('company_id', '=', self.company.id)]))
        self.emulator.admin('/faults', method='DELETE')
        self.process_until(move, ('accepted',))

    def test_emulator_restarted_in_the_middle_of_the_flow(self):
        self.emulator.admin('/config', {'invoiceProcessingDelaySeconds': 1.0})
        self.addCleanup(self.emulator.admin, '/config', {'invoiceProcessingDelaySeconds': 0.0})
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'sent')
        self.emulator.restart()
        self.process_until(move, ('accepted',))
        self.assertTrue(move.l10n_pl_ksef_upo_attachment_id)

    def test_two_companies_in_one_database(self):
        other = self.setup_other_company(name="Druga Spółka")['company']
        self.change_company_country(other, self.env.ref('base.pl'))
        self.configure_ksef_company(other, '5265877635')
        mine = self.create_invoice()
        theirs = self.create_invoice(company=other)
        both = (mine | theirs).with_context(allowed_company_ids=(self.company | other).ids)
        both._l10n_pl_ksef_queue()
        self.env['account.move']._l10n_pl_ksef_process_queue()
        for _run in range(10):
            if set((mine | theirs).mapped('l10n_pl_ksef_state')) == {'accepted'}:
                break
            time.sleep(0.2)
            self.env['account.move']._l10n_pl_ksef_process_queue()
        self.assertEqual(set((mine | theirs).mapped('l10n_pl_ksef_state')), {'accepted'})
        self.assertNotEqual(mine.l10n_pl_ksef_session_id, theirs.l10n_pl_ksef_session_id)
        self.assertEqual(theirs.l10n_pl_ksef_session_id.company_id, other)
        self.assertIn('5265877635', theirs.l10n_pl_ksef_number)
        self.assertIn('5260250009', mine.l10n_pl_ksef_number)
        # Record rules: a user of the first company does not see the other company's sessions.
        sessions = self.env['ksef.session'].with_company(self.company).with_context(
            allowed_company_ids=[self.company.id]).search([])
        self.assertNotIn(theirs.l10n_pl_ksef_session_id, sessions)
