"""The PDF of an invoice in KSeF is complete wherever it leaves Odoo.

Odoo's portal gives the PDF kept by the last Send, or else a "Proforma" rendering (also on its page
and its Print). An invoice KSeF accepted (or one issued offline) is no proforma, and its PDF must carry
the KSeF codes (kody-qr.md): without a kept PDF the portal gets the invoice itself, rendered now with them.
Debian's wkhtmltopdf drops the report header, where Odoo's layouts print the seller: the invoice
report then prints the seller in its body.
"""
from odoo import models
from odoo.addons.base.models.ir_actions_report import _wkhtml


class AccountMove(models.Model):
    _inherit = 'account.move'

    def _l10n_pl_ksef_pdf_drops_header(self):
        """True when wkhtmltopdf ignores the report's header and footer (its Qt is not Odoo's patched
        one, as Debian's package): the invoice report then prints the seller in its body."""
        wkhtmltopdf = _wkhtml()
        return wkhtmltopdf.state == 'ok' and not wkhtmltopdf.is_patched_qt

    def _l10n_pl_ksef_render_invoice_pdf(self):
        """The invoice document as Odoo's Send would make it, rendered now (so with the KSeF codes)."""
        self.ensure_one()
        report = self.env['account.move.send']._get_default_pdf_report_id(self)
        content, report_type = self.env['ir.actions.report']._pre_render_qweb_pdf(report.report_name, self.ids)
        content_by_id = self.env['ir.actions.report']._get_splitted_report(report.report_name, content, report_type)
        return {
            'filename': self._get_invoice_report_filename(report=report),
            'filetype': 'pdf',
            'content': content_by_id[self.id],
        }

    def _l10n_pl_ksef_pdf_needs_codes(self):
        return not self.invoice_pdf_report_id and self.state == 'posted' and bool(self.l10n_pl_ksef_qr_url)

    def _get_invoice_legal_documents(self, filetype, allow_fallback=False):
        # EXTENDS 'account'
        if filetype == 'pdf' and allow_fallback and self._l10n_pl_ksef_pdf_needs_codes():
            return self._l10n_pl_ksef_render_invoice_pdf()
        return super()._get_invoice_legal_documents(filetype, allow_fallback=allow_fallback)

    def _get_invoice_legal_documents_all(self, allow_fallback=False):
        # EXTENDS 'account'
        if allow_fallback and self._l10n_pl_ksef_pdf_needs_codes():
            return [self._l10n_pl_ksef_render_invoice_pdf()]
        return super()._get_invoice_legal_documents_all(allow_fallback=allow_fallback)


class IrActionsReport(models.Model):
    _inherit = 'ir.actions.report'

    def _get_rendering_context(self, report, docids, data):
        # EXTENDS 'account': Odoo titles an invoice never sent by e-mail "Proforma" on the portal (page,
        # Print, Download); an invoice in KSeF, carrying its codes, is the invoice itself.
        data = super()._get_rendering_context(report, docids, data)
        if data.get('proforma') and report.model == 'account.move' and docids:
            moves = self.env['account.move'].browse(docids)
            if all(move.state == 'posted' and move.l10n_pl_ksef_qr_url for move in moves):
                data['proforma'] = False
        return data
