"""Offline modes (tryby-offline.md): issue offline, print both QR codes, send later in offline mode.

Against the emulator over real HTTP: the XML KSeF receives is byte for byte the one frozen when
the invoice was issued (its hash is in KOD I), and KSeF registers it as an offline invoice.
"""
import base64
import datetime
import hashlib
import json
import urllib.request
from urllib.parse import urlsplit

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.ksef_protocol import sha256_b64
from odoo.addons.l10n_pl_ksef.ksef_protocol.qr import verify_kod_ii_url
from odoo.addons.l10n_pl_ksef.models.account_move_ksef_offline import add_business_days, offline_deadline
from odoo.addons.l10n_pl_ksef.models.ksef_secret_store import decrypt_secret

from .common import SELLER_NIP, KsefEmulatorCase


def b64url_sha256(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip('=')


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefOfflineModes(KsefEmulatorCase):

    # -- helpers --------------------------------------------------------------------------------
    def store_offline_certificate(self):
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type='EC', purpose='Offline')
        self.env['ksef.certificate']._create_from_objects(
            self.company, certificate, private_key, use_authentication=False, use_offline=True)
        return certificate

    def issue_offline_wizard(self, moves, **values):
        """What the "Issue offline" button opens, filled in as a user would."""
        action = moves.action_l10n_pl_ksef_issue_offline()
        self.assertEqual(action['res_model'], 'l10n_pl_ksef.offline.wizard')
        return self.env['l10n_pl_ksef.offline.wizard'].with_context(action['context']).create(values)

    def render_invoice_html(self, move):
        html, _kind = self.env['ir.actions.report']._render_qweb_html('account.account_invoices', move.ids)
        return html.decode()

    def outage(self):
        """KSeF answers every session call with a proxy's 503 page (after our client's retries)."""
        self.company._l10n_pl_ksef_get_client()  # authenticated before the outage
        self.emulator.admin('/faults', {'pathPattern': '/sessions', 'kind': 'html', 'status': 503, 'count': 50})

    def assert_registered_offline(self, move, frozen_xml):
        """KSeF holds exactly the frozen bytes, as an invoice sent in offline mode."""
        self.assertEqual(move.l10n_pl_ksef_xml_attachment_id.raw, frozen_xml, "the XML sent is the frozen one")
        self.assertEqual(move.l10n_pl_ksef_invoice_hash, sha256_b64(frozen_xml))
        [registered] = [invoice for invoice in self.session_invoices(move.l10n_pl_ksef_session_id)
                        if invoice.get('ksefNumber') == move.l10n_pl_ksef_number]
        self.assertEqual(registered['invoiceHash'], sha256_b64(frozen_xml))
        self.assertEqual(registered['invoicingMode'], 'Offline')
        self.assertEqual(move.l10n_pl_ksef_invoicing_mode, 'Offline')
        upo = etree.fromstring(move.l10n_pl_ksef_upo_attachment_id.raw)
        self.assertEqual(upo.findtext('.//{*}TrybWysylki'), 'Offline')
        self.assertEqual(upo.findtext('.//{*}SkrotDokumentu'), sha256_b64(frozen_xml))

    # -- issue offline, print, send -------------------------------------------------------------
    def test_issue_offline_print_both_codes_then_send_in_offline_mode(self):
        certificate = self.store_offline_certificate()
        # Issued today: KSeF would call it online, unless we declare the offline mode.
        move = self.create_invoice(invoice_date=self.polish_today())
        wizard = self.issue_offline_wizard(move, mode='offline24')
        self.assertFalse(wizard.blocker_text)
        self.assertEqual(wizard.deadline, add_business_days(move.invoice_date, 1))
        wizard.action_issue_offline()

        self.assertEqual(move.l10n_pl_ksef_state, 'offline_issued')
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'offline24')
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, add_business_days(move.invoice_date, 1))
        self.assertIn('Issued offline', move.l10n_pl_ksef_next_step)
        self.assertIn('Issued offline', ' '.join(move.message_ids.mapped('body')))
        frozen_xml = move._l10n_pl_ksef_frozen_offline_attachment().raw
        self.assertTrue(frozen_xml)

        # The printed invoice carries KOD I (OFFLINE) and KOD II (CERTYFIKAT), both for the frozen bytes.
        kod_i, kod_ii = move.l10n_pl_ksef_qr_url, move.l10n_pl_ksef_qr_certificate_url
        self.assertTrue(urlsplit(kod_i).path.endswith('/' + b64url_sha256(frozen_xml)))
        self.assertEqual(verify_kod_ii_url(kod_ii, certificate).invoice_hash, b64url_sha256(frozen_xml))
        html = self.render_invoice_html(move)
        self.assertIn('href="%s"' % kod_i, html)
        self.assertIn('href="%s"' % kod_ii, html)
        self.assertIn('>OFFLINE<', html)
        self.assertIn('>CERTYFIKAT<', html)

        self.assertEqual(move._l10n_pl_ksef_queue(), move)
        self.assertIn('offline mode', move.l10n_pl_ksef_next_step)
        self.process_until(move, ('accepted',))

        self.assertTrue(move.l10n_pl_ksef_number)
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'offline24', "kept for the record")
        self.assert_registered_offline(move, frozen_xml)
        # The codes printed before sending still describe the invoice KSeF holds.
        self.assertEqual(move.l10n_pl_ksef_qr_url, kod_i)
        self.assertEqual(move.l10n_pl_ksef_qr_label, move.l10n_pl_ksef_number)
        # KOD II (an ECDSA signature, different at each signing) still vouches for the same file.
        self.assertEqual(verify_kod_ii_url(move.l10n_pl_ksef_qr_certificate_url, certificate).invoice_hash,
                         b64url_sha256(frozen_xml))
        self.assertFalse(move.l10n_pl_ksef_offline_warning)

    def test_no_offline_certificate_is_explained(self):
        move = self.create_invoice()
        wizard = self.issue_offline_wizard(move, mode='offline24')
        self.assertIn('no valid Offline KSeF certificate', wizard.blocker_text)
        self.assertIn('Certificates', wizard.blocker_text)
        with self.assertRaisesRegex(UserError, 'no valid Offline KSeF certificate'):
            move._l10n_pl_ksef_issue_offline('offline24')
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')
        self.assertFalse(move.l10n_pl_ksef_offline_mode)
        self.assertFalse(move._l10n_pl_ksef_frozen_offline_attachment())

    def test_sent_invoice_cannot_be_issued_offline(self):
        self.store_offline_certificate()
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        with self.assertRaisesRegex(UserError, 'not sent to KSeF yet'):
            move._l10n_pl_ksef_issue_offline('offline24')

    # -- deadlines ------------------------------------------------------------------------------
    def test_deadlines_in_business_days(self):
        date = datetime.date
        # offline24: the next business day after the issue date; Friday -> Monday.
        self.assertEqual(offline_deadline('offline24', date(2026, 1, 9)), date(2026, 1, 12))
        self.assertEqual(offline_deadline('offline24', date(2026, 1, 7)), date(2026, 1, 8))
        # Polish public holidays are skipped: Good Friday -> Easter Monday is a holiday -> Tuesday.
        self.assertEqual(offline_deadline('offline24', date(2026, 4, 3)), date(2026, 4, 7))
        self.assertEqual(offline_deadline('offline24', date(2025, 12, 23)), date(2025, 12, 29))
        # KSeF unavailable: the next business day after the unavailability ended.
        self.assertEqual(offline_deadline('offline', date(2026, 1, 8), date(2026, 1, 9)), date(2026, 1, 12))
        # Emergency: 7 business days after the failure ended (the example of tryby-offline.md).
        self.assertEqual(offline_deadline('emergency', date(2025, 7, 8), date(2025, 7, 12)), date(2025, 7, 22))

    def test_deadline_of_an_invoice_issued_on_friday_and_a_later_failure(self):
        self.store_offline_certificate()
        friday = datetime.date(2026, 1, 9)
        move = self.create_invoice(invoice_date=friday)
        self.issue_offline_wizard(move, mode='offline24').action_issue_offline()
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, datetime.date(2026, 1, 12))
        frozen = move._l10n_pl_ksef_frozen_offline_attachment()
        # A KSeF failure announced meanwhile: the deadline counts 7 business days from its end.
        wizard = self.issue_offline_wizard(move, mode='emergency', outage_end=datetime.date(2026, 1, 13))
        self.assertEqual(wizard.deadline, datetime.date(2026, 1, 22))
        wizard.action_issue_offline()
        self.assertEqual((move.l10n_pl_ksef_offline_mode, move.l10n_pl_ksef_offline_deadline),
                         ('emergency', datetime.date(2026, 1, 22)))
        self.assertEqual(move.l10n_pl_ksef_offline_outage_end, datetime.date(2026, 1, 13))
        self.assertEqual(move._l10n_pl_ksef_frozen_offline_attachment(), frozen, "the printed bytes never change")
        self.assertIn('emergency', ' '.join(move.message_ids.mapped('body')))

    def test_overdue_offline_invoice_warns_and_reminds_once(self):
        self.store_offline_certificate()
        move = self.create_invoice(invoice_date=self.polish_today() - datetime.timedelta(days=10))
        move._l10n_pl_ksef_issue_offline('offline24')
        self.assertIn('passed', move.l10n_pl_ksef_offline_warning)
        self.env['account.move']._l10n_pl_ksef_schedule_offline_reminders()
        self.env['account.move']._l10n_pl_ksef_schedule_offline_reminders()
        reminders = move.activity_ids.filtered(lambda a: a.summary == "Send the offline invoice to KSeF")
        self.assertEqual(len(reminders), 1)
        self.assertEqual(reminders.date_deadline, move.l10n_pl_ksef_offline_deadline)

    # -- KSeF unreachable: offline24 automatically ----------------------------------------------
    def test_outage_issues_queued_invoice_offline24_then_sends_it(self):
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_outage = True
        move = self.create_invoice(invoice_date=self.polish_today())
        move._l10n_pl_ksef_queue()
        self.outage()
        result = self.process_queue()

        self.assertEqual(move.l10n_pl_ksef_state, 'offline_issued')
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'offline24')
        self.assertEqual(move.l10n_pl_ksef_offline_deadline, add_business_days(self.polish_today(), 1))
        self.assertIn('could not be reached', ' '.join(move.message_ids.mapped('body')))
        self.assertTrue(move.l10n_pl_ksef_qr_certificate_url, "printable at once with KOD II")
        frozen_xml = move._l10n_pl_ksef_frozen_offline_attachment().raw
        self.assertTrue(urlsplit(move.l10n_pl_ksef_qr_url).path.endswith('/' + b64url_sha256(frozen_xml)))
        self.assertTrue(result['retry_at'])

        # KSeF is back: the scheduled action queues it again, the queue sends it in offline mode.
        self.emulator.admin('/faults', method='DELETE')
        self.env['account.move']._l10n_pl_ksef_cron_offline()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.process_until(move, ('accepted',))
        self.assert_registered_offline(move, frozen_xml)

    def test_outage_never_touches_an_invoice_ksef_may_hold(self):
        self.store_offline_certificate()
        self.company.l10n_pl_ksef_offline_on_outage = True
        uncertain = self.create_invoice(amount=100)
        uncertain._l10n_pl_ksef_queue()
        client = self.company._l10n_pl_ksef_get_client()
        session = self.env['ksef.session']._get_or_open_session(self.company, client)
        xml = uncertain._l10n_pl_ksef_render_fa3()
        # KSeF received it, but the worker died before recording the answer.
        client.send_invoice(session.reference_number, session._get_session_key(), xml)
        uncertain.sudo().write({'l10n_pl_ksef_state': 'sending', 'l10n_pl_ksef_session_id': session.id,
                                'l10n_pl_ksef_invoice_hash': sha256_b64(xml), 'l10n_pl_ksef_invoice_size': len(xml)})
        waiting = self.create_invoice(amount=200)
        waiting._l10n_pl_ksef_queue()
        self.outage()
        self.process_queue()

        self.assertEqual(waiting.l10n_pl_ksef_state, 'offline_issued')
        self.assertEqual(uncertain.l10n_pl_ksef_state, 'sending')
        self.assertFalse(uncertain.l10n_pl_ksef_offline_mode)
        self.assertEqual(uncertain.l10n_pl_ksef_invoice_hash, sha256_b64(xml))
        self.assertFalse(uncertain._l10n_pl_ksef_frozen_offline_attachment())

        self.emulator.admin('/faults', method='DELETE')
        self.process_until(uncertain, ('accepted',))
        self.assertEqual(len(self.session_invoices(session)), 1, "reconciled by its hash, not sent again")
        self.assertEqual(uncertain.l10n_pl_ksef_invoicing_mode, 'Online')

    def test_outage_without_offline_certificate_keeps_waiting_and_says_why(self):
        self.company.l10n_pl_ksef_offline_on_outage = True
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.outage()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertFalse(move.l10n_pl_ksef_offline_mode)
        self.assertIn('not reachable', move.l10n_pl_ksef_error)
        self.assertIn('no valid Offline KSeF certificate', move.l10n_pl_ksef_error)

    def test_outage_with_the_option_off_only_waits(self):
        self.store_offline_certificate()
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.outage()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertFalse(move.l10n_pl_ksef_offline_mode)

    # -- Technical correction of a rejected offline invoice (offline/korekta-techniczna.md) ------
    def emulator_metadata(self, since):
        """The seller's invoices as KSeF describes them (``InvoiceMetadata``, read from the emulator directly)."""
        token = decrypt_secret(self.env, self.company.sudo().l10n_pl_ksef_access_token).decode()
        body = json.dumps({'subjectType': 'Subject1', 'dateRange': {
            'dateType': 'Invoicing', 'from': since.isoformat()}}).encode()
        request = urllib.request.Request(
            self.emulator.base_url + '/invoices/query/metadata?pageSize=100', data=body, method='POST',
            headers={'Authorization': 'Bearer ' + token, 'Accept': 'application/json',
                     'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())['invoices']

    def test_rejected_offline_invoice_is_sent_again_as_technical_correction(self):
        certificate = self.store_offline_certificate()
        since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        # A wrong issue date (tomorrow) passes our checks, but KSeF refuses a P_1 later than the day it
        # receives the invoice (450, semantic error).
        move = self.create_invoice(invoice_date=self.polish_today() + datetime.timedelta(days=1))
        self.issue_offline_wizard(move, mode='offline24').action_issue_offline()
        rejected_xml = move._l10n_pl_ksef_frozen_offline_attachment().raw
        first_kod_i = move.l10n_pl_ksef_qr_url
        self.assertTrue(urlsplit(first_kod_i).path.endswith('/' + b64url_sha256(rejected_xml)))
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted', 'rejected'))

        self.assertEqual(move.l10n_pl_ksef_state, 'rejected')
        self.assertEqual(move.l10n_pl_ksef_status_code, 450)
        self.assertEqual(move.l10n_pl_ksef_corrected_invoice_hash, sha256_b64(rejected_xml))
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'offline24')
        self.assertIn('technical correction', move.l10n_pl_ksef_next_step)
        # Sending the rejected file again is pointless: the user is told to fix the invoice first.
        self.assertIn('still the one KSeF rejected', ' '.join(move._l10n_pl_ksef_get_send_blockers()[move]))
        self.assertFalse(move._l10n_pl_ksef_queue())
        self.assertEqual(move.l10n_pl_ksef_state, 'rejected')

        # The user fixes the date and posts again: issued offline again, a new file for a new print.
        move.button_draft()
        move.invoice_date = self.polish_today()
        move.action_post()
        self.assertEqual(move.l10n_pl_ksef_state, 'offline_issued')
        self.assertEqual(move.l10n_pl_ksef_offline_mode, 'offline24', "the invoice keeps its offline mode")
        self.assertIn('Technical correction', move.l10n_pl_ksef_next_step)
        corrected_xml = move._l10n_pl_ksef_frozen_offline_attachment().raw
        self.assertTrue(corrected_xml)
        self.assertNotEqual(sha256_b64(corrected_xml), sha256_b64(rejected_xml))
        self.assertTrue(urlsplit(move.l10n_pl_ksef_qr_url).path.endswith('/' + b64url_sha256(corrected_xml)),
                        "the new print carries the new KOD I")
        self.assertEqual(verify_kod_ii_url(move.l10n_pl_ksef_qr_certificate_url, certificate).invoice_hash,
                         b64url_sha256(corrected_xml))
        self.assertEqual(move._l10n_pl_ksef_hash_of_corrected_invoice(), sha256_b64(rejected_xml))

        self.assertEqual(move._l10n_pl_ksef_queue(), move)
        self.process_until(move, ('accepted', 'rejected'))
        self.assertEqual(move.l10n_pl_ksef_state, 'accepted', move.l10n_pl_ksef_error)
        self.assertTrue(move.l10n_pl_ksef_number)
        self.assertTrue(move.l10n_pl_ksef_upo_attachment_id)
        self.assert_registered_offline(move, corrected_xml)
        # KSeF linked the correction to the rejected file: the buyer's first KOD I leads to it.
        [metadata] = [invoice for invoice in self.emulator_metadata(since)
                      if invoice['ksefNumber'] == move.l10n_pl_ksef_number]
        self.assertEqual(metadata['invoiceHash'], sha256_b64(corrected_xml))
        self.assertEqual(metadata['hashOfCorrectedInvoice'], sha256_b64(rejected_xml))
        self.assertEqual(move.l10n_pl_ksef_qr_label, move.l10n_pl_ksef_number)
        self.assertFalse(move._l10n_pl_ksef_hash_of_corrected_invoice(), "nothing left to correct")

    def test_rejected_offline_invoice_posted_again_is_queued_as_correction_when_sending_automatically(self):
        self.store_offline_certificate()
        move = self.create_invoice(invoice_date=self.polish_today() + datetime.timedelta(days=1))
        self.issue_offline_wizard(move, mode='offline24').action_issue_offline()
        rejected_hash = move.l10n_pl_ksef_invoice_hash
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted', 'rejected'))
        self.assertEqual(move.l10n_pl_ksef_corrected_invoice_hash, rejected_hash)

        self.company.l10n_pl_ksef_auto_send = True
        move.button_draft()
        move.invoice_date = self.polish_today()
        move.action_post()
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn('technical correction', move.l10n_pl_ksef_next_step)
        self.assertNotEqual(move.l10n_pl_ksef_invoice_hash, rejected_hash, "the corrected file is frozen")
        self.process_until(move, ('accepted', 'rejected'))
        self.assertEqual(move.l10n_pl_ksef_state, 'accepted', move.l10n_pl_ksef_error)
        self.assertEqual(move.l10n_pl_ksef_corrected_invoice_hash, rejected_hash)

    def test_second_technical_correction_is_refused_with_a_readable_message(self):
        move = self.env['account.move']
        self.assertIn('cannot be corrected a second time', move._l10n_pl_ksef_explain(21166, ''))
        self.assertIn('only for a rejected offline invoice', move._l10n_pl_ksef_explain(21167, 'x'))
