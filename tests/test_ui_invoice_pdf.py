"""The invoice PDF that leaves Odoo carries the KSeF codes (kody-qr.md), walked as the web client does.

Real PDFs made by wkhtmltopdf (Odoo renders HTML in tests unless forced: forced here for every
rendering, in the test and in the HTTP workers), read back with poppler-utils: ``pdftotext`` for the
KSeF number and the labels, ``pdfimages`` for the QR codes, compared pixel for pixel with the QR
code of the expected link.
"""
import contextlib
import glob
import io
import json
import os
import shutil
import subprocess
import tempfile
from unittest.mock import patch
from urllib.parse import urlencode

from PIL import Image

from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingHttpCommon
from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates

from .common import SELLER_NIP, KsefEmulatorCase

KSEF_OPTION = 'l10n_pl_ksef_send'


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefInvoicePdfLeavesOdoo(KsefEmulatorCase, AccountTestInvoicingHttpCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo asks to choose the document layout before the first Send or Print: chosen already.
        cls.company.external_report_layout_id = cls.env.ref('web.external_layout_standard')
        cls.buyer.email = 'faktury@odbiorca.example.com'

    def setUp(self):
        super().setUp()
        for tool in ('wkhtmltopdf', 'pdftotext', 'pdfimages'):
            self.assertTrue(shutil.which(tool), "%s is installed by scripts/bootstrap.sh" % tool)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def real_pdfs(self):
        """wkhtmltopdf for every PDF rendered meanwhile, in this thread and in the HTTP workers."""
        report_class = type(self.env['ir.actions.report'])
        render = report_class._pre_render_qweb_pdf

        def render_for_real(report, *args, **kwargs):
            return render(report.with_context(force_report_rendering=True), *args, **kwargs)

        with patch.object(report_class, '_pre_render_qweb_pdf', render_for_real):
            yield

    def read_pdf(self, pdf):
        """``(text, [images])`` of a PDF, read as a person's PDF reader would."""
        self.assertTrue(pdf.startswith(b'%PDF'), "a real PDF, got %r" % pdf[:60])
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, 'invoice.pdf')
            with open(path, 'wb') as handle:
                handle.write(pdf)
            text = subprocess.run(['pdftotext', '-layout', path, '-'], check=True, capture_output=True,
                                  text=True).stdout
            subprocess.run(['pdfimages', '-png', path, os.path.join(folder, 'image')], check=True)
            images = []
            for name in sorted(glob.glob(os.path.join(folder, 'image-*.png'))):
                with Image.open(name) as image:
                    images.append(self.black_and_white(image))
        return text, images

    @staticmethod
    def black_and_white(image):
        """The image's black and white modules (transparency as white paper)."""
        paper = Image.new('RGBA', image.size, 'white')
        paper.alpha_composite(image.convert('RGBA'))
        return paper.convert('L').point(lambda value: 255 if value > 127 else 0)

    def assertQrCodeOf(self, url, images):
        """One of the PDF's images is the QR code of ``url``, as the invoice report draws it (the same
        modules; a QR code of another link differs in about half of them)."""
        png = self.env['ir.actions.report'].barcode('QR', url, width=400, height=400, barLevel='M', quiet=0)
        with Image.open(io.BytesIO(png)) as drawn:
            expected = self.black_and_white(drawn)
        differences = [
            sum(1 for a, b in zip(image.tobytes(), expected.tobytes()) if a != b) / (400 * 400)
            for image in images if image.size == expected.size]
        self.assertTrue(differences and min(differences) < 0.01,
                        "the PDF draws the QR code of %s (share of differing pixels per image: %s)"
                        % (url, differences))

    def assertNoQrCode(self, images):
        self.assertFalse([image for image in images if image.size == (400, 400)], "no KSeF QR code is drawn")

    def print_pdf(self, move):
        """"Print" on the invoice form: the report action, downloaded as the web client does (it posts the
        same parameters to /report/download)."""
        action = move.action_print_pdf()
        self.assertEqual(action['type'], 'ir.actions.report')
        response = self.url_open('/report/download?%s' % urlencode({
            'data': json.dumps(['/report/pdf/%s/%s' % (action['report_name'], move.id), 'qweb-pdf']),
            'context': json.dumps({'lang': self.env.user.lang}),
        }), timeout=120)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers['Content-Type'], 'application/pdf')
        return response.content

    def send_dialog(self, move, email):
        """Odoo's "Send" dialog, saved as the web client saves it, then its button: e-mail ticked or not,
        the KSeF option unticked when offered."""
        action = move.action_invoice_sent()
        self.assertEqual(action['res_model'], 'account.move.send.wizard')
        wizard = self.env[action['res_model']].with_context(action['context']).create({})
        wizard.sending_method_checkboxes = {
            method: {**box, 'checked': method == 'email' and email}
            for method, box in wizard.sending_method_checkboxes.items()}
        wizard.extra_edi_checkboxes = {
            edi: {**box, 'checked': box['checked'] and edi != KSEF_OPTION}
            for edi, box in (wizard.extra_edi_checkboxes or {}).items()}
        return wizard.action_send_and_print()

    def send_to_ksef(self, move):
        """"Send to KSeF" on the form: its wizard saved, then "Queue"; the scheduled action does the rest."""
        action = move.action_l10n_pl_ksef_send()
        wizard = self.env[action['res_model']].with_context(action['context']).create({})
        wizard.action_queue()
        self.process_until(move, ('accepted',))

    def portal_pdf(self, move):
        """The buyer's download from the portal link (access token), as the browser fetches it."""
        url = '/my/invoices/%d?report_type=pdf&download=true&access_token=%s' % (
            move.id, move._portal_ensure_token())
        response = self.url_open(url, timeout=120)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers['Content-Type'], 'application/pdf')
        return response.content

    # ------------------------------------------------------------------
    # Print and Send
    # ------------------------------------------------------------------
    def test_pdf_made_before_the_ksef_number_is_set_aside(self):
        invoice = self.create_invoice()
        self.authenticate(self.env.user.login, self.env.user.login)
        with self.real_pdfs():
            # Printed before it is sent: no code (KSeF knows nothing of it yet), and nothing kept.
            text, images = self.read_pdf(self.print_pdf(invoice))
            self.assertNotIn("Verify this invoice in KSeF", text)
            self.assertNoQrCode(images)
            self.assertFalse(invoice.invoice_pdf_report_id)
            # Send, nothing ticked ("Generate"): Odoo keeps this PDF, without the codes, for later Sends.
            self.send_dialog(invoice, email=False)
            early = invoice.invoice_pdf_report_id
            self.assertTrue(early, "Odoo keeps the PDF it generated")
            self.assertNoQrCode(self.read_pdf(early.raw)[1])

            self.send_to_ksef(invoice)
            number = invoice.l10n_pl_ksef_number
            self.assertTrue(number)
            invoice.invalidate_recordset()
            self.assertFalse(invoice.invoice_pdf_report_id, "the PDF without the codes is set aside")
            self.assertFalse(early.res_field)
            self.assertEqual(early.res_id, invoice.id, "kept among the invoice's attachments")

            # Print again: KOD I with the KSeF number under it.
            text, images = self.read_pdf(self.print_pdf(invoice))
            self.assertIn("Verify this invoice in KSeF", text)
            self.assertIn(number, text)
            self.assertQrCodeOf(invoice.l10n_pl_ksef_qr_url, images)

            # Send by e-mail: the attachment carries KOD I and the number.
            self.send_dialog(invoice, email=True)
        message = self.env['mail.message'].search([
            ('model', '=', 'account.move'), ('res_id', '=', invoice.id), ('message_type', '=', 'comment'),
            ('attachment_ids', '!=', False)], order='id desc', limit=1)
        self.assertTrue(message, "the e-mail went out")
        self.assertIn(self.buyer, message.partner_ids)
        pdfs = message.attachment_ids.filtered(lambda attachment: attachment.mimetype == 'application/pdf')
        self.assertEqual(len(pdfs), 1, message.attachment_ids.mapped('name'))
        self.assertNotEqual(pdfs.checksum, early.checksum)
        text, images = self.read_pdf(pdfs.raw)
        self.assertIn(number, text)
        self.assertQrCodeOf(invoice.l10n_pl_ksef_qr_url, images)
        self.assertEqual(invoice.invoice_pdf_report_id.checksum, pdfs.checksum, "the PDF Odoo keeps now")

    # ------------------------------------------------------------------
    # Customer portal
    # ------------------------------------------------------------------
    def test_portal_pdf_of_an_accepted_invoice(self):
        invoice = self.create_invoice()
        self.send_to_ksef(invoice)
        self.assertFalse(invoice.invoice_pdf_report_id, "never sent by e-mail: no PDF kept")
        # What the portal serves (read here as HTML: the PDF's text is in web fonts, drawn as shapes).
        served = invoice._get_invoice_legal_documents_all(allow_fallback=True)
        self.assertEqual(len(served), 1)
        self.assertNotIn("Proforma", served[0]['content'].decode(), "the invoice KSeF accepted, not a proforma")
        # The portal page shows the invoice (its frame), not a proforma.
        page = self.url_open('/my/invoices/%d?report_type=html&access_token=%s' % (
            invoice.id, invoice._portal_ensure_token()), timeout=120)
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("Proforma", page.text)
        self.assertIn('>%s<' % invoice.l10n_pl_ksef_number, page.text)
        with self.real_pdfs():
            text, images = self.read_pdf(self.portal_pdf(invoice))
        self.assertIn("Verify this invoice in KSeF", text)
        self.assertIn(invoice.l10n_pl_ksef_number, text)
        self.assertQrCodeOf(invoice.l10n_pl_ksef_qr_url, images)
        if invoice._l10n_pl_ksef_pdf_drops_header():
            # Debian's wkhtmltopdf dropped the layout's header: the seller is printed in the body.
            self.assertIn(self.company.name, text)
            self.assertIn(self.company.vat, text)

    def test_portal_pdf_of_an_invoice_issued_offline(self):
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type='EC', purpose='Offline')
        self.env['ksef.certificate']._create_from_objects(
            self.company, certificate, private_key, use_authentication=False, use_offline=True)
        invoice = self.create_invoice()
        action = invoice.action_l10n_pl_ksef_issue_offline()
        wizard = self.env[action['res_model']].with_context(action['context']).create({'mode': 'offline24'})
        wizard.action_issue_offline()
        self.assertEqual(invoice.l10n_pl_ksef_state, 'offline_issued')
        with self.real_pdfs():
            text, images = self.read_pdf(self.portal_pdf(invoice))
        self.assertIn("OFFLINE", text)
        self.assertIn("CERTYFIKAT", text)
        self.assertIn("Verify the issuer's KSeF certificate", text)
        # KOD I describes the frozen FA(3); KOD II is signed anew at each rendering (its own QR code).
        self.assertQrCodeOf(invoice.l10n_pl_ksef_qr_url, images)
        self.assertGreaterEqual(len([image for image in images if image.size == (400, 400)]), 2,
                                "KOD I and KOD II are drawn (%s)" % [image.size for image in images])
