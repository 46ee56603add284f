"""Browser tours of the KSeF screens (headless Chromium), with the KSeF outcome checked in Python.

The tours (static/tests/tours/l10n_pl_ksef_tours.js) click through the invoice form, the
settings and the invoice list as a user would; the server they talk to is the test's own,
configured against the project's KSeF emulator, so "Test connection" and the sending after
the tour are real HTTP exchanges with it.
"""
import datetime
import shutil
import subprocess
import tempfile
import threading
import unittest
import uuid
from decimal import Decimal as D
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.ksef_protocol.fa3 import build_fa3, compute_totals
from odoo.addons.l10n_pl_ksef.ksef_protocol.fa3.model import Address, Invoice, Line, Party, Totals

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon

from .common import SECOND_SELLER_NIP, SELLER_NIP, KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefUiTours(KsefEmulatorCase, AccountTestInvoicingHttpCommon):

    #: The tours select by technical names, never by labels: they run in Polish, the language of
    #: the addon's users, which also proves they do not depend on the English texts.
    tour_lang = 'pl_PL'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The tours run as the test user; the credentials section is for KSeF managers.
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        # The shared test data include cash-basis taxes: without this the settings page opens
        # on Odoo's "You cannot disable this setting" warning about cash basis.
        cls.company.tax_exigibility = True
        cls.env['res.lang']._activate_lang(cls.tour_lang)
        cls.env['ir.module.module'].sudo()._load_module_terms(
            ['base', 'web', 'mail', 'account', 'l10n_pl_ksef'], [cls.tour_lang], overwrite=True)
        cls.env.user.lang = cls.tour_lang
        # Odoo asks to choose the document layout before the first Send or Print: chosen already.
        cls.company.external_report_layout_id = cls.env.ref('web.external_layout_standard')

    def start_tour(self, url_path, tour_name, **kwargs):
        # Odoo skips browser tests when Chromium (or websocket-client) is missing or does not
        # start; here a missing browser is a failure, never a silently skipped test.
        try:
            return super().start_tour(url_path, tour_name, login=self.env.user.login, **kwargs)
        except unittest.SkipTest as skip:
            self.fail("The KSeF browser tours need headless Chromium (Debian package 'chromium', "
                      "installed by scripts/bootstrap.sh) and websocket-client: %s" % skip)

    def test_invoice_form_send_to_ksef(self):
        invoice = self.create_invoice()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'not_sent')

        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_invoice_form_send')

        invoice.invalidate_recordset()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'queued', "the wizard queued the invoice")
        self.process_until(invoice, ('accepted',))
        self.assertTrue(invoice.l10n_pl_ksef_number, "KSeF gave the invoice its number")
        self.assertTrue(invoice.l10n_pl_ksef_upo_attachment_id, "the UPO is attached")

    def test_form_updates_by_itself(self):
        """Send to KSeF from the form and keep it open: once the scheduled action has sent the invoice
        and KSeF accepted it, the form shows it (static/src/js/ksef_form_refresh.js) with no click."""
        invoice = self.create_invoice()
        # The tour reads "Accepted" in the user's language: Polish here.
        states = dict(self.env['account.move']._fields['l10n_pl_ksef_state']._description_selection(
            self.env(context=dict(self.env.context, lang=self.env.user.lang))))
        self.assertEqual(states['accepted'], "Przyjęta")
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue')
        shown_queued = threading.Event()
        stop = threading.Event()
        seen = {'runs': 0, 'error': None}
        move_class = type(self.env['account.move'])
        web_read = move_class.web_read

        def web_read_watched(records, *args, **kwargs):
            # The form loads its record by web_read: once it was given "queued", any later "accepted" on
            # the page comes from a reload the form made by itself (the tour clicks nothing more).
            result = web_read(records, *args, **kwargs)
            if any(row.get('id') == invoice.id and row.get('l10n_pl_ksef_state') == 'queued' for row in result):
                shown_queued.set()
            return result

        def scheduler():
            # Odoo's cron worker, beside the browser: "Run manually" of the scheduled action, each run in
            # cursors of its own (in test mode the registry hands out cursors on the test's transaction,
            # one at a time, as to the HTTP workers). It starts once the form was given the queued
            # invoice, and ends once KSeF accepted it.
            shown_queued.wait(300)
            while not stop.wait(1.0):
                try:
                    with self.registry.cursor() as cr:
                        env = api.Environment(cr, SUPERUSER_ID, {})
                        invoice_there = env['account.move'].browse(invoice.id)
                        if invoice_there.l10n_pl_ksef_state in ('queued', 'sending', 'sent'):
                            env['ir.cron'].browse(cron.id).method_direct_trigger()
                            seen['runs'] += 1
                            invoice_there.invalidate_recordset()
                        if invoice_there.l10n_pl_ksef_state == 'accepted':
                            return
                except Exception as error:  # noqa: BLE001 -- reported by the test below
                    if not stop.is_set():
                        seen['error'] = error
                    return

        worker = threading.Thread(target=scheduler, name='ksef-cron-beside-the-tour', daemon=True)
        worker.start()
        try:
            with patch.object(move_class, 'web_read', web_read_watched):
                self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_form_updates_by_itself',
                                timeout=240)
        finally:
            stop.set()
            shown_queued.set()
            worker.join(60)
        self.assertIsNone(seen['error'])
        self.assertGreaterEqual(seen['runs'], 1, "the scheduled action, not the browser, sent the invoice")
        invoice.invalidate_recordset()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'accepted')
        self.assertTrue(invoice.l10n_pl_ksef_number)

    def test_settings_test_connection(self):
        self.start_tour('/odoo/action-account.action_account_config', 'l10n_pl_ksef_settings_test_connection')
        # The settings were saved as they were shown: still pointing at the emulator.
        self.assertEqual(self.company.l10n_pl_ksef_environment, 'custom')
        self.assertEqual(self.company.l10n_pl_ksef_custom_url, self.emulator.base_url)

    def test_invoice_list_send_two_to_ksef(self):
        buyer_a = self.buyer.copy({'name': "KSeF tour buyer A"})
        buyer_b = self.buyer.copy({'name': "KSeF tour buyer B"})
        buyer_c = self.buyer.copy({'name': "KSeF tour buyer C"})
        invoice_a = self.create_invoice(partner=buyer_a, amount=100.0)
        invoice_b = self.create_invoice(partner=buyer_b, amount=200.0)
        invoice_c = self.create_invoice(partner=buyer_c, amount=300.0)

        self.start_tour('/odoo/customer-invoices', 'l10n_pl_ksef_invoice_list_send')

        (invoice_a + invoice_b + invoice_c).invalidate_recordset()
        self.assertEqual((invoice_a + invoice_b).mapped('l10n_pl_ksef_state'), ['queued', 'queued'])
        self.assertEqual(invoice_c.l10n_pl_ksef_state, 'not_sent', "an invoice left unselected stays unsent")

    # ------------------------------------------------------------------
    # The accountant's first day
    # ------------------------------------------------------------------
    def real_pdf(self, move):
        """The invoice as wkhtmltopdf renders it (Odoo renders HTML in tests unless forced): a real PDF
        whose QR codes are images. Returns ``(html, number of images in the PDF)``; the PDF's text is not
        read: wkhtmltopdf draws Odoo's web fonts as shapes that pdftotext cannot extract."""
        self.assertTrue(shutil.which('pdfimages'), "pdfimages (Debian poppler-utils) reads the PDF")
        report = self.env['ir.actions.report'].with_context(force_report_rendering=True)
        html = report._render_qweb_html('account.account_invoices', move.ids)[0].decode()
        pdf, kind = report._render_qweb_pdf('account.account_invoices', move.ids)
        self.assertEqual(kind, 'pdf')
        self.assertTrue(pdf.startswith(b'%PDF'), "wkhtmltopdf made a real PDF")
        with tempfile.NamedTemporaryFile(suffix='.pdf') as handle:
            handle.write(pdf)
            handle.flush()
            listing = subprocess.run(['pdfimages', '-list', handle.name], check=True,
                                     capture_output=True, text=True).stdout
        return html, len(listing.splitlines()[2:])

    def test_settings_setup(self):
        self.company.write({'l10n_pl_ksef_environment': 'test', 'l10n_pl_ksef_auto_send': False})
        self.start_tour('/odoo/action-account.action_account_config', 'l10n_pl_ksef_settings_setup')
        self.assertEqual(self.company.l10n_pl_ksef_environment, 'custom')
        self.assertEqual(self.company.l10n_pl_ksef_custom_url, self.emulator.base_url)
        self.assertTrue(self.company.l10n_pl_ksef_auto_send)

    def test_post_send_then_pdf_and_mail_with_kod_i(self):
        self.buyer.email = 'faktury@odbiorca.example.com'
        invoice = self.create_invoice(post=False)
        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_post_and_send')

        invoice.invalidate_recordset()
        self.assertEqual(invoice.state, 'posted')
        self.assertEqual(invoice.l10n_pl_ksef_state, 'queued', "Send queued the invoice for KSeF")
        self.assertFalse(invoice.invoice_pdf_report_id, "no PDF without the KSeF number was made")
        self.assertFalse(self.env['mail.mail'].search([('model', '=', 'account.move'), ('res_id', '=', invoice.id)]),
                         "nothing was e-mailed before KSeF gave the number")
        self.assertTrue(invoice.sudo().l10n_pl_ksef_pending_send)

        self.process_until(invoice, ('accepted',))
        self.assertTrue(invoice.sending_data, "KSeF's number hands the waiting Send to Odoo's sending")
        # What Odoo's "Send invoices" scheduled action does (without its commit, not allowed in tests).
        waiting = self.env['account.move'].search([('sending_data', '!=', False), ('state', '=', 'posted')])
        self.assertEqual(waiting, invoice)
        self.env['account.move.send']._generate_and_send_invoices(waiting, from_cron=True)
        invoice.invalidate_recordset()

        number = invoice.l10n_pl_ksef_number
        self.assertTrue(number)
        self.assertFalse(invoice.sending_data)
        # The stored invoice document (HTML in test mode) carries KOD I and the number under it.
        stored = invoice.invoice_pdf_report_id.raw.decode()
        self.assertIn('href="%s"' % invoice.l10n_pl_ksef_qr_url, stored)
        self.assertIn(number, stored)
        mail = self.env['mail.message'].search([('model', '=', 'account.move'), ('res_id', '=', invoice.id),
                                                ('message_type', '=', 'comment'),
                                                ('attachment_ids', '!=', False)], limit=1)
        self.assertTrue(mail, "the e-mail to the buyer went out once KSeF gave the number")
        # The e-mail carries the invoice document with KOD I and the number (a copy of it).
        self.assertTrue(mail.attachment_ids.filtered(
            lambda attachment: attachment.raw == invoice.invoice_pdf_report_id.raw), mail.attachment_ids.mapped('name'))
        self.assertIn(self.buyer, mail.partner_ids)
        # Print gives a real PDF with KOD I and the number under it.
        html, images = self.real_pdf(invoice)
        self.assertIn('href="%s"' % invoice.l10n_pl_ksef_qr_url, html)
        self.assertIn('>%s<' % number, html)
        self.assertGreaterEqual(images, 1, "KOD I is drawn in the PDF")

        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_accepted_invoice')

    def test_credit_note_reason_and_send(self):
        invoice = self.create_invoice()
        invoice._l10n_pl_ksef_queue()
        self.process_until(invoice, ('accepted',))

        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_credit_note')

        credit_note = self.env['account.move'].search([('reversed_entry_id', '=', invoice.id)])
        self.assertEqual(credit_note.move_type, 'out_refund')
        self.assertEqual(credit_note.l10n_pl_ksef_correction_reason, "Zwrot towaru")
        self.assertEqual(credit_note.l10n_pl_ksef_state, 'queued')
        self.process_until(credit_note, ('accepted',))
        xml = credit_note.l10n_pl_ksef_xml_attachment_id.raw.decode()
        self.assertIn('<PrzyczynaKorekty>Zwrot towaru</PrzyczynaKorekty>', xml)
        self.assertIn(invoice.l10n_pl_ksef_number, xml)

    def test_receive_bills_and_open_one(self):
        self.company.l10n_pl_ksef_receive_enabled = True
        moment = datetime.datetime.now(datetime.timezone.utc)
        self.company.write({'l10n_pl_ksef_receive_checkpoint': moment.isoformat(timespec='microseconds'),
                            'l10n_pl_ksef_receive_env_key': self.company._l10n_pl_ksef_environment_key()})
        document = Invoice(
            seller=Party(name="Hurtownia Biurowa Sp. z o.o.", nip=SECOND_SELLER_NIP,
                         address=Address('PL', "ul. Piękna 7", "00-549 Warszawa")),
            buyer=Party(name=self.company.name, nip=SELLER_NIP, address=Address('PL', "ul. Marszałkowska 1/2",
                                                                                 "00-624 Warszawa")),
            number="FZ/%s" % uuid.uuid4().hex[:10].upper(), issue_date=self.polish_today(),
            created_at=moment.replace(microsecond=0), totals=Totals({}, D(0)),
            lines=[Line("Papier A4", "23", "szt.", D(20), D("21.50"), net=D("430.00"))])
        document.totals = compute_totals(document)
        self.emulator.admin('/purchase-invoices', {'invoices': [{'xml': build_fa3(document).decode()}]})

        self.start_tour('/odoo/customer-invoices', 'l10n_pl_ksef_receive_bills')

        bill = self.env['account.move'].search([('company_id', '=', self.company.id), ('ref', '=', document.number)])
        self.assertEqual(bill.move_type, 'in_invoice')
        self.assertTrue(bill.l10n_pl_ksef_number)

    def test_issue_offline_pdf_has_both_codes(self):
        invoice = self.create_invoice()
        self.assertFalse(invoice.l10n_pl_ksef_can_issue_offline, "no Offline certificate: no Issue offline")
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type='EC', purpose='Offline')
        self.env['ksef.certificate']._create_from_objects(
            self.company, certificate, private_key, use_authentication=False, use_offline=True)
        invoice.invalidate_recordset()
        self.assertTrue(invoice.l10n_pl_ksef_can_issue_offline)

        self.start_tour('/odoo/customer-invoices/%d' % invoice.id, 'l10n_pl_ksef_issue_offline')

        invoice.invalidate_recordset()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'offline_issued')
        html, images = self.real_pdf(invoice)
        self.assertIn('href="%s"' % invoice.l10n_pl_ksef_qr_url, html)
        self.assertIn('href="%s"' % invoice.l10n_pl_ksef_qr_certificate_url, html)
        self.assertIn('>OFFLINE<', html)
        self.assertIn('>CERTYFIKAT<', html)
        self.assertGreaterEqual(images, 2, "KOD I and KOD II are drawn in the PDF")
