"""A readable visual (PDF) of an FA(3) invoice, laid out like the KSeF taxpayer application's view.

Drawn from the FA(3) XML itself (received: the downloaded file; sent: the XML sent to KSeF), so what
the reader sees is what KSeF holds: parties, lines, totals per rate, payment, KSeF number and KOD I.
Attached to every received bill; printable for sent invoices from the invoice's Print menu.
"""
import base64
import hashlib
import logging

from lxml import etree

from odoo import models
from odoo.exceptions import UserError
from odoo.tools.misc import formatLang

from ..ksef_protocol.errors import KsefError
from ..ksef_protocol.fa3 import parse_fa3
from ..ksef_protocol.fa3.exceptions import Fa3ValidationError
from ..ksef_protocol.fa3.rates import BUCKETS
from ..ksef_protocol.qr import QrCodeError, kod_i_url

_logger = logging.getLogger(__name__)

class AccountMove(models.Model):
    _inherit = 'account.move'

    def _l10n_pl_ksef_visual_labels(self):
        """``(summary buckets in the order and wording of the KSeF application, payment methods)``."""
        _ = self.env._
        labels = (_("23% / 22%"), _("8% / 7%"), "5%", _("4% / 3% (taxi)"), "OSS", _("0% (domestic)"),
                  _("0% (intra-EU supply)"), _("0% (export)"), _("exempt (zw)"), "np I", "np II",
                  _("reverse charge (oo)"), _("margin scheme"))
        buckets = tuple(zip(BUCKETS, labels))
        methods = {1: _("cash"), 2: _("card"), 3: _("voucher"), 4: _("cheque"), 5: _("credit"), 6: _("transfer"),
                   7: _("mobile")}
        return buckets, methods

    def _l10n_pl_ksef_visual_xml(self):
        """The FA(3) XML the visual is drawn from: the received file, else the one sent to KSeF."""
        self.ensure_one()
        attachment = self.l10n_pl_ksef_received_xml_id or self.l10n_pl_ksef_xml_attachment_id
        return attachment.sudo().raw if attachment else None

    def _l10n_pl_ksef_has_visual(self):
        self.ensure_one()
        return bool(self.l10n_pl_ksef_received_xml_id or self.l10n_pl_ksef_xml_attachment_id)

    def _l10n_pl_ksef_visual_data(self):
        """What the QWeb template prints (see ``views/report_ksef_invoice_visual.xml``)."""
        self.ensure_one()
        xml = self._l10n_pl_ksef_visual_xml()
        if not xml:
            raise UserError(self.env._("%(move)s has no FA(3) XML (it was neither received from nor sent to "
                                       "KSeF): there is nothing to show.", move=self.display_name))
        try:
            invoice = parse_fa3(xml)
        except (Fa3ValidationError, ValueError, etree.XMLSyntaxError) as error:
            raise UserError(self.env._("The FA(3) XML of %(move)s cannot be read: %(error)s",
                                       move=self.display_name, error=error)) from error
        currency = invoice.currency or 'PLN'

        def money(value):
            return '' if value is None else '%s %s' % (formatLang(self.env, float(value), digits=2), currency)

        def pln(value):
            return '' if value is None else '%s PLN' % formatLang(self.env, float(value), digits=2)

        parties = [(self.env._("Seller"), invoice.seller), (self.env._("Buyer"), invoice.buyer)]
        for party in invoice.third_parties:
            parties.append((self.env._("Third party (role %(role)s%(share)s)", role=party.role or party.other_role
                                       or '', share=(', %s%%' % party.share) if party.share is not None else ''),
                            party))
        if invoice.authorized:
            parties.append((self.env._("Authorized subject"), invoice.authorized))
        bucket_labels, payment_methods = self._l10n_pl_ksef_visual_labels()
        summary = []
        for key, label in bucket_labels:
            amount = invoice.totals.buckets.get(key)
            if amount:
                summary.append({'label': label, 'net': money(amount.net), 'tax': money(amount.tax),
                                'tax_pln': pln(amount.tax_pln), 'gross': money(amount.net + (amount.tax or 0))})
        lines = [{
            'number': index, 'description': line.description or '', 'unit': line.unit or '',
            'quantity': '' if line.quantity is None else formatLang(self.env, float(line.quantity), digits=2),
            'price': '' if (line.unit_price_net or line.unit_price_gross) is None
            else formatLang(self.env, float(line.unit_price_net or line.unit_price_gross), digits=2),
            'rate': line.rate or '', 'net': money(line.net if line.net is not None else line.gross),
            'before': line.before_correction,
        } for index, line in enumerate(invoice.lines, 1)]
        order_lines = [{
            'number': index, 'description': line.description or '', 'rate': line.rate or '',
            'net': money(line.net), 'tax': money(line.vat), 'before': line.before_correction,
        } for index, line in enumerate(invoice.order.lines if invoice.order else [], 1)]
        payment = invoice.payment
        payment_rows = []
        if payment:
            for term in payment.due_dates:
                payment_rows.append((self.env._("Due date"), str(term.date) if term.date else ' '.join(
                    str(part) for part in (term.quantity, term.unit, term.event) if part is not None)))
            if payment.method:
                payment_rows.append((self.env._("Payment method"), payment_methods.get(payment.method, '')))
            if payment.paid:
                payment_rows.append((self.env._("Paid"), str(payment.paid_date or '')))
            for part in payment.partial_payments:
                payment_rows.append((self.env._("Paid in part"), '%s (%s)' % (money(part.amount), part.payment_date)))
            for account in payment.bank_accounts:
                payment_rows.append((self.env._("Bank account"), ' '.join(filter(None, (
                    account.number, account.swift, account.bank_name)))))
            for account in payment.factor_bank_accounts:
                payment_rows.append((self.env._("Factor's bank account"), ' '.join(filter(None, (
                    account.number, account.swift, account.bank_name)))))
        if invoice.settlement and invoice.settlement.amount_due is not None:
            payment_rows.append((self.env._("Amount to pay"), money(invoice.settlement.amount_due)))
        ksef_number = self.l10n_pl_ksef_number
        kod_i = False
        if ksef_number and invoice.seller.nip and invoice.issue_date:
            try:
                kod_i = kod_i_url(self.company_id._l10n_pl_ksef_get_environment(), invoice.seller.nip,
                                  invoice.issue_date, hashlib.sha256(xml).digest())
            except (QrCodeError, UserError, KsefError, ValueError) as error:
                _logger.info("No KOD I on the visual of %s: %s", self.id, error)
        return {
            'invoice': invoice, 'parties': parties, 'lines': lines, 'order_lines': order_lines,
            'summary': summary, 'total': money(invoice.totals.total), 'payment_rows': payment_rows,
            'ksef_number': ksef_number or '', 'kod_i': kod_i, 'currency': currency,
            'corrected': invoice.correction.invoices if invoice.correction else [],
            'advances': invoice.advance_invoices, 'notes': invoice.notes,
        }

    def _l10n_pl_ksef_attach_visual(self):
        """Attach the visual of a received invoice to its bill; a rendering problem never stops the import."""
        self.ensure_one()
        report = self.env.ref('l10n_pl_ksef.action_report_ksef_invoice_visual', raise_if_not_found=False)
        if not report or not self._l10n_pl_ksef_has_visual():
            return self.env['ir.attachment']
        try:
            content, report_type = self.env['ir.actions.report'].sudo()._render_qweb_pdf(report.id, self.ids)
        except (UserError, OSError) as error:
            _logger.info("No KSeF visual for bill %s: %s", self.id, error)
            self.message_post(body=self.env._("The visual of the invoice could not be drawn (%(error)s); the XML "
                                              "is attached.", error=error))
            return self.env['ir.attachment']
        extension = 'pdf' if report_type == 'pdf' else 'html'  # tests render HTML (no wkhtmltopdf workers)
        return self.env['ir.attachment'].create({
            'name': '%s.%s' % (self.l10n_pl_ksef_number or self.ref or self.id, extension),
            'datas': base64.b64encode(content),
            'mimetype': 'application/pdf' if report_type == 'pdf' else 'text/html',
            'res_model': 'account.move',
            'res_id': self.id,
        })
