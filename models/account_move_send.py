"""Send & Print: a "KSeF" option that queues the invoice instead of waiting on the network."""
from odoo import api, models


class AccountMoveSend(models.AbstractModel):
    _inherit = 'account.move.send'

    @api.model
    def _l10n_pl_ksef_is_send_applicable(self, move):
        return move._l10n_pl_ksef_is_applicable() and move.state == 'posted' \
            and move.l10n_pl_ksef_state in ('not_sent', 'rejected') and not move._l10n_pl_ksef_handled_by_pl_edi()

    def _get_all_extra_edis(self) -> dict:
        # EXTENDS 'account'
        res = super()._get_all_extra_edis()
        res['l10n_pl_ksef_send'] = {
            'label': self.env._("KSeF"),
            'is_applicable': self._l10n_pl_ksef_is_send_applicable,
            'help': self.env._("Queue the invoice for KSeF; it is sent in the background within minutes."),
        }
        return res

    def _get_alerts(self, moves, moves_data):
        # EXTENDS 'account'
        alerts = super()._get_alerts(moves, moves_data)
        ksef_moves = moves.filtered(lambda m: 'l10n_pl_ksef_send' in moves_data[m]['extra_edis'])
        blockers = ksef_moves._l10n_pl_ksef_get_send_blockers()
        if blockers:
            alerts['l10n_pl_ksef_blockers'] = {
                'level': 'danger',
                'message': self.env._("These invoices cannot be sent to KSeF:\n%(lines)s", lines='\n'.join(
                    '%s: %s' % (move.display_name, '; '.join(reasons)) for move, reasons in blockers.items())),
            }
        return alerts

    def _call_web_service_after_invoice_pdf_render(self, invoices_data):
        # EXTENDS 'account': queue only; the cron does the network work.
        super()._call_web_service_after_invoice_pdf_render(invoices_data)
        moves = self.env['account.move'].browse([
            move.id for move, data in invoices_data.items() if 'l10n_pl_ksef_send' in data['extra_edis']])
        if moves:
            blockers = moves._l10n_pl_ksef_get_send_blockers()
            for move, reasons in blockers.items():
                invoices_data[move]['error'] = {
                    'error_title': self.env._("This invoice cannot be sent to KSeF:"),
                    'errors': reasons,
                }
            moves._l10n_pl_ksef_queue()
