"""KSeF verification QR codes printed on invoices (kody-qr.md, digest §9).

* KOD I (every invoice in KSeF): link to the invoice, built from the exact FA(3) bytes
  sent; labelled with the KSeF number, or ``OFFLINE`` while the number is not known.
* KOD II (offline invoices only): link signed with the company's Offline KSeF
  certificate, labelled ``CERTYFIKAT``.

An offline invoice is printed *before* it is sent, so its KOD I must hash the bytes that
will be sent later: the FA(3) of an offline invoice is rendered deterministically (its
creation timestamp is the invoice's own) and frozen as an attachment when it is queued;
the queue then sends those frozen bytes (see ``_l10n_pl_ksef_render_fa3`` below).
"""
import base64
import datetime
import hashlib
import logging

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import sha256_b64
from ..ksef_protocol.errors import KsefError
from ..ksef_protocol.qr import LABEL_CERTIFICATE, LABEL_OFFLINE, QrCodeError, kod_i_url, kod_ii_url

_logger = logging.getLogger(__name__)

#: States in which KSeF holds (or is receiving) the bytes of ``l10n_pl_ksef_xml_attachment_id``.
SENT_STATES = ('sending', 'sent', 'accepted', 'offline_sent')
#: States of invoices issued offline (they carry KOD II as well).
OFFLINE_STATES = ('offline_issued', 'offline_sent')
#: Marks the attachment holding an offline invoice's FA(3) frozen before sending.
FROZEN_OFFLINE_FA3 = 'l10n_pl_ksef:offline-fa3'
#: Context type of KOD II: the company authenticates in KSeF in its own NIP context.
KOD_II_CONTEXT_TYPE = 'Nip'


def _xml_text(root, path):
    node = root.find(path)
    return (node.text or '').strip() if node is not None else ''


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_qr_url = fields.Char(
        string="KSeF verification link (KOD I)", compute='_compute_l10n_pl_ksef_qr',
        help="Link printed as a QR code on the invoice: it lets anyone check the invoice in KSeF.")
    l10n_pl_ksef_qr_label = fields.Char(
        string="KOD I label", compute='_compute_l10n_pl_ksef_qr',
        help="Text under KOD I: the KSeF number once known, else OFFLINE.")
    l10n_pl_ksef_qr_certificate_url = fields.Char(
        string="KSeF certificate link (KOD II)", compute='_compute_l10n_pl_ksef_qr',
        help="Link printed on invoices issued offline, signed with the company's Offline KSeF certificate.")
    l10n_pl_ksef_qr_certificate_label = fields.Char(
        string="KOD II label", compute='_compute_l10n_pl_ksef_qr')

    # ------------------------------------------------------------------
    # Which FA(3) bytes the codes are built from
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_is_offline_issue(self):
        """True when the invoice was issued offline (it needs KOD II besides KOD I)."""
        self.ensure_one()
        return self.l10n_pl_ksef_state in OFFLINE_STATES

    def _l10n_pl_ksef_frozen_offline_attachment(self):
        """The offline FA(3) frozen before sending (empty once the invoice went back to draft)."""
        self.ensure_one()
        if not self.id:
            return self.env['ir.attachment']
        return self.env['ir.attachment'].sudo().search([
            ('res_model', '=', self._name), ('res_id', '=', self.id), ('description', '=', FROZEN_OFFLINE_FA3),
        ], order='id desc', limit=1)

    def _l10n_pl_ksef_offline_fa3(self):
        """The FA(3) an offline invoice is sent with: rendered with the invoice's creation time as
        ``DataWytworzeniaFa`` so every rendering (print preview, freezing) gives the same bytes."""
        self.ensure_one()
        frozen = self._l10n_pl_ksef_frozen_offline_attachment()
        if frozen:
            return frozen.raw
        created_at = (self.create_date or fields.Datetime.now()).replace(tzinfo=datetime.timezone.utc)
        return self._l10n_pl_ksef_render_fa3(created_at=created_at)

    def _l10n_pl_ksef_qr_source_xml(self):
        """FA(3) bytes KOD I describes: those sent, or for an unsent offline invoice those that will be."""
        self.ensure_one()
        if self.l10n_pl_ksef_state in SENT_STATES:
            return self.sudo().l10n_pl_ksef_xml_attachment_id.raw or None
        if self.l10n_pl_ksef_state == 'offline_issued' or (
                self.l10n_pl_ksef_state == 'queued' and self._l10n_pl_ksef_frozen_offline_attachment()):
            return self._l10n_pl_ksef_offline_fa3()
        return None

    def _l10n_pl_ksef_freeze_offline_fa3(self):
        """Store the FA(3) of offline invoices as their XML attachment, so the queue sends exactly
        the bytes whose hash is printed in KOD I. Invoices with FA(3) findings are skipped."""
        for move in self.filtered(lambda m: m.l10n_pl_ksef_state == 'offline_issued'):
            if move._l10n_pl_ksef_frozen_offline_attachment():
                continue
            try:
                xml = move._l10n_pl_ksef_offline_fa3()
            except UserError:
                continue  # the queue reports the findings itself
            attachment = self.env['ir.attachment'].sudo().create({
                'name': move._l10n_pl_ksef_fa3_filename(),
                'raw': xml,
                'mimetype': 'application/xml',
                'res_model': move._name,
                'res_id': move.id,
                'description': FROZEN_OFFLINE_FA3,
            })
            move.sudo().write({'l10n_pl_ksef_xml_attachment_id': attachment.id,
                               'l10n_pl_ksef_invoice_hash': sha256_b64(xml), 'l10n_pl_ksef_invoice_size': len(xml)})

    def _l10n_pl_ksef_queue(self):
        self._l10n_pl_ksef_check_send_rights()
        self._l10n_pl_ksef_freeze_offline_fa3()
        return super()._l10n_pl_ksef_queue()

    def _l10n_pl_ksef_render_fa3(self, created_at=None):
        # An offline invoice printed before sending must reach KSeF byte for byte as printed,
        # also when a sending attempt failed and it is queued again.
        # Freezing the file also makes it the invoice's XML attachment (never cleared): an invoice without
        # one, e.g. each of a batch of ten thousand, has nothing frozen and skips the look-up.
        if created_at is None and len(self) == 1 and not self.l10n_pl_ksef_number \
                and self.l10n_pl_ksef_xml_attachment_id \
                and self.l10n_pl_ksef_state in ('offline_issued', 'queued', 'sending'):
            frozen = self._l10n_pl_ksef_frozen_offline_attachment()
            if frozen:
                return frozen.raw
        return super()._l10n_pl_ksef_render_fa3(created_at=created_at)

    def button_draft(self):
        # The invoice may now change: a frozen offline FA(3) no longer describes it.
        for move in self:
            move._l10n_pl_ksef_frozen_offline_attachment().write({'description': False})
        return super().button_draft()

    # ------------------------------------------------------------------
    # The codes
    # ------------------------------------------------------------------
    @api.depends('l10n_pl_ksef_state', 'l10n_pl_ksef_number', 'l10n_pl_ksef_xml_attachment_id',
                 'company_id.l10n_pl_ksef_environment', 'company_id.l10n_pl_ksef_custom_url')
    @api.depends_context('company')
    def _compute_l10n_pl_ksef_qr(self):
        for move in self:
            kod_i = kod_ii = False
            if move.id and move.company_id and move._l10n_pl_ksef_is_applicable():
                try:
                    kod_i, kod_ii = move._l10n_pl_ksef_build_qr_urls()
                except (QrCodeError, UserError, KsefError, ValueError, etree.XMLSyntaxError) as error:
                    # Printing must not fail: the invoice is printed without codes and the reason logged.
                    _logger.info("No KSeF QR code for invoice %s: %s", move.id, error)
                    kod_i = kod_ii = False
            move.l10n_pl_ksef_qr_url = kod_i
            move.l10n_pl_ksef_qr_label = (move.l10n_pl_ksef_number or LABEL_OFFLINE) if kod_i else False
            move.l10n_pl_ksef_qr_certificate_url = kod_ii
            move.l10n_pl_ksef_qr_certificate_label = LABEL_CERTIFICATE if kod_ii else False

    def _l10n_pl_ksef_build_qr_urls(self):
        """``(KOD I url or False, KOD II url or False)``; the date and seller NIP come from the XML itself."""
        self.ensure_one()
        xml = self._l10n_pl_ksef_qr_source_xml()
        if not xml:
            return False, False
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        issue_date = _xml_text(root, './/{*}Fa/{*}P_1')
        seller_nip = _xml_text(root, './/{*}Podmiot1/{*}DaneIdentyfikacyjne/{*}NIP')
        digest = hashlib.sha256(xml).digest()
        environment = self.company_id._l10n_pl_ksef_get_environment()
        kod_i = kod_i_url(environment, seller_nip, issue_date, digest)
        kod_ii = False
        if self._l10n_pl_ksef_is_offline_issue():
            certificate = self.company_id._l10n_pl_ksef_get_offline_certificate()
            if certificate:
                kod_ii = kod_ii_url(environment, KOD_II_CONTEXT_TYPE, self.company_id._l10n_pl_ksef_nip(),
                                    seller_nip, certificate.serial_number, digest,
                                    certificate.sudo()._get_private_key())
            else:
                _logger.info("Invoice %s was issued offline but company %s has no valid Offline KSeF "
                             "certificate: KOD II is not printed.", self.id, self.company_id.id)
        return kod_i, kod_ii

    def _l10n_pl_ksef_qr_codes(self):
        """The codes to print: ``[{'url', 'label', 'caption', 'image'}]`` (KOD I first), empty when none.

        ``image`` is the QR code as a data URI, drawn here: wkhtmltopdf then needs no request back to
        Odoo's /report/barcode, which fails when the server cannot reach its own URL (``report.url``)."""
        self.ensure_one()
        codes = []
        if self.l10n_pl_ksef_qr_url:
            codes.append({'url': self.l10n_pl_ksef_qr_url, 'label': self.l10n_pl_ksef_qr_label,
                          'caption': self.env._("Verify this invoice in KSeF")})
        if self.l10n_pl_ksef_qr_certificate_url:
            codes.append({'url': self.l10n_pl_ksef_qr_certificate_url,
                          'label': self.l10n_pl_ksef_qr_certificate_label,
                          'caption': self.env._("Verify the issuer's KSeF certificate")})
        for code in codes:
            png = self.env['ir.actions.report'].barcode('QR', code['url'], width=400, height=400, barLevel='M',
                                                        quiet=0)
            code['image'] = 'data:image/png;base64,%s' % base64.b64encode(png).decode()
        return codes
