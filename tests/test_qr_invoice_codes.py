"""KSeF QR codes (KOD I, KOD II) on invoices sent through the emulator, and on the printed invoice."""
import base64
import hashlib
from urllib.parse import urlsplit

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.ksef_protocol.qr import QrCodeError, verify_kod_ii_url

from .common import SELLER_NIP, KsefEmulatorCase


def b64url_sha256(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip('=')


def xml_issue_date(xml):
    """P_1 of an FA(3) file, read independently of the code under test."""
    return etree.fromstring(xml).find('.//{*}Fa/{*}P_1').text


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestKsefQrCodes(KsefEmulatorCase):

    def send_and_accept(self, move):
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        return move

    def render_invoice_html(self, move):
        html, _kind = self.env['ir.actions.report']._render_qweb_html('account.account_invoices', move.ids)
        return html.decode()

    def store_offline_certificate(self, key_type='EC'):
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type=key_type, purpose='Offline')
        self.env['ksef.certificate']._create_from_objects(
            self.company, certificate, private_key, use_authentication=False, use_offline=True)
        return certificate

    def assert_kod_i_matches(self, url, xml):
        """KOD I = https://{qr host}/invoice/{seller NIP}/{P_1 as DD-MM-YYYY}/{SHA-256 Base64URL of xml}."""
        parts = urlsplit(url)
        qr_host = urlsplit(self.company._l10n_pl_ksef_get_environment().qr_url)
        self.assertEqual((parts.scheme, parts.netloc), (qr_host.scheme, qr_host.netloc))
        year, month, day = xml_issue_date(xml).split('-')
        self.assertEqual(parts.path, '/invoice/%s/%s-%s-%s/%s' % (SELLER_NIP, day, month, year, b64url_sha256(xml)))

    # ------------------------------------------------------------------ KOD I, online

    def test_accepted_invoice_kod_i_hashes_the_sent_xml(self):
        move = self.send_and_accept(self.create_invoice())
        xml = move.l10n_pl_ksef_xml_attachment_id.raw
        self.assertTrue(xml)
        self.assert_kod_i_matches(move.l10n_pl_ksef_qr_url, xml)
        self.assertEqual(xml_issue_date(xml), move.invoice_date.isoformat())
        self.assertEqual(move.l10n_pl_ksef_qr_label, move.l10n_pl_ksef_number)
        self.assertTrue(move.l10n_pl_ksef_number)
        # An online invoice carries KOD I only.
        self.assertFalse(move.l10n_pl_ksef_qr_certificate_url)
        self.assertFalse(move.l10n_pl_ksef_qr_certificate_label)

    def test_kod_i_uses_the_official_qr_host_of_the_environment(self):
        move = self.send_and_accept(self.create_invoice())
        self.company.l10n_pl_ksef_environment = 'test'
        self.assertTrue(move.l10n_pl_ksef_qr_url.startswith('https://qr-test.ksef.mf.gov.pl/invoice/%s/' % SELLER_NIP))
        self.company.l10n_pl_ksef_environment = 'prod'
        self.assertTrue(move.l10n_pl_ksef_qr_url.startswith('https://qr.ksef.mf.gov.pl/invoice/'))

    def test_printed_invoice_shows_kod_i_and_ksef_number(self):
        move = self.send_and_accept(self.create_invoice())
        html = self.render_invoice_html(move)
        self.assertIn('id="l10n_pl_ksef_qr_codes"', html)
        self.assertIn('href="%s"' % move.l10n_pl_ksef_qr_url, html)
        self.assertIn('src="data:image/png;base64,', html)
        self.assertIn(move.l10n_pl_ksef_number, html)
        self.assertNotIn('CERTYFIKAT', html)

    def test_invoice_waiting_for_its_ksef_number_is_labelled_offline(self):
        self.emulator.admin('/config', {'invoiceProcessingDelaySeconds': 30.0})
        self.addCleanup(self.emulator.admin, '/config', {'invoiceProcessingDelaySeconds': 0.0})
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_queue()
        self.assertEqual(move.l10n_pl_ksef_state, 'sent')
        self.assertFalse(move.l10n_pl_ksef_number)
        self.assert_kod_i_matches(move.l10n_pl_ksef_qr_url, move.l10n_pl_ksef_xml_attachment_id.raw)
        self.assertEqual(move.l10n_pl_ksef_qr_label, 'OFFLINE')
        self.assertIn('OFFLINE', self.render_invoice_html(move))

    def test_unsent_online_invoice_has_no_code(self):
        move = self.create_invoice()
        self.assertEqual(move.l10n_pl_ksef_state, 'not_sent')
        self.assertFalse(move.l10n_pl_ksef_qr_url)
        self.assertFalse(move.l10n_pl_ksef_qr_label)
        self.assertNotIn('l10n_pl_ksef_qr_codes', self.render_invoice_html(move))

    # ------------------------------------------------------------------ offline invoices

    def mark_offline(self, move):
        # What the offline flow records when KSeF is unreachable (offline24): issued, to send later.
        move.sudo().l10n_pl_ksef_state = 'offline_issued'
        return move

    def test_offline_invoice_prints_kod_i_that_matches_the_xml_sent_later(self):
        move = self.mark_offline(self.create_invoice())
        printed_url = move.l10n_pl_ksef_qr_url
        self.assertTrue(printed_url)
        self.assertEqual(move.l10n_pl_ksef_qr_label, 'OFFLINE')
        # Printing twice gives the same code (the FA(3) creation time is the invoice's own).
        move.invalidate_recordset()
        self.assertEqual(move.l10n_pl_ksef_qr_url, printed_url)
        self.assertIn('href="%s"' % printed_url, self.render_invoice_html(move))

        self.send_and_accept(move)
        sent_xml = move.l10n_pl_ksef_xml_attachment_id.raw
        self.assert_kod_i_matches(printed_url, sent_xml)
        self.assertEqual(move.l10n_pl_ksef_qr_url, printed_url)
        self.assertEqual(move.l10n_pl_ksef_qr_label, move.l10n_pl_ksef_number)

    def test_offline_invoice_kod_ii_is_signed_with_the_offline_certificate(self):
        for key_type in ('EC', 'RSA'):
            with self.subTest(key_type=key_type):
                certificate = self.store_offline_certificate(key_type)
                move = self.mark_offline(self.create_invoice())
                url = move.l10n_pl_ksef_qr_certificate_url
                self.assertTrue(url, "an offline invoice with an Offline certificate carries KOD II")
                link = verify_kod_ii_url(url, certificate)
                self.assertEqual((link.context_type, link.context_value, link.seller_nip),
                                 ('Nip', SELLER_NIP, SELLER_NIP))
                # Both codes describe the same invoice file.
                self.assertEqual(link.invoice_hash, move.l10n_pl_ksef_qr_url.rsplit('/', 1)[1])
                self.assertTrue(urlsplit(url).path.startswith('/certificate/Nip/'))
                self.assertEqual(move.l10n_pl_ksef_qr_certificate_label, 'CERTYFIKAT')
                other_certificate, _key = ksef_certificates.generate_test_certificate(
                    nip=SELLER_NIP, kind='seal', key_type=key_type, purpose='Offline')
                with self.assertRaises(QrCodeError):
                    verify_kod_ii_url(url, other_certificate)
                self.env['ksef.certificate'].sudo().search([('company_id', '=', self.company.id)]).unlink()

    def test_printed_offline_invoice_shows_both_codes_and_labels(self):
        self.store_offline_certificate()
        move = self.mark_offline(self.create_invoice())
        html = self.render_invoice_html(move)
        self.assertIn('href="%s"' % move.l10n_pl_ksef_qr_url, html)
        self.assertIn('href="%s"' % move.l10n_pl_ksef_qr_certificate_url, html)
        self.assertIn('>OFFLINE<', html)
        self.assertIn('>CERTYFIKAT<', html)

    def test_offline_invoice_without_offline_certificate_prints_kod_i_only(self):
        # An Authentication certificate must never sign KOD II.
        certificate, private_key = ksef_certificates.generate_test_certificate(
            nip=SELLER_NIP, kind='seal', key_type='EC', purpose='Authentication')
        self.env['ksef.certificate']._create_from_objects(self.company, certificate, private_key,
                                                          use_authentication=True, use_offline=False)
        move = self.mark_offline(self.create_invoice())
        self.assertTrue(move.l10n_pl_ksef_qr_url)
        self.assertFalse(move.l10n_pl_ksef_qr_certificate_url)
        self.assertFalse(move.l10n_pl_ksef_qr_certificate_label)

    def test_resetting_to_draft_releases_the_frozen_offline_xml(self):
        move = self.mark_offline(self.create_invoice())
        move._l10n_pl_ksef_queue()
        frozen = move._l10n_pl_ksef_frozen_offline_attachment()
        self.assertTrue(frozen)
        self.assertEqual(move._l10n_pl_ksef_render_fa3(), frozen.raw)
        # Queued (and handed to the buyer): it cannot be reset. Once KSeF rejected it, it can be corrected.
        with self.assertRaises(UserError):
            move.button_draft()
        move.sudo().l10n_pl_ksef_state = 'rejected'
        move.button_draft()
        self.assertFalse(move._l10n_pl_ksef_frozen_offline_attachment())
