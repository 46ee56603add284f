"""Send & Print: a "KSeF" option that queues the invoice instead of waiting on the network.

The PDF and the e-mail must carry KOD I with the KSeF number (kody-qr.md), which KSeF gives only
after accepting the invoice. So an invoice sent to KSeF from "Send" (or already on its way there)
is not rendered nor e-mailed at once: the user's sending settings are kept on the invoice
(``l10n_pl_ksef_pending_send``) and handed to Odoo's own asynchronous sending
(``sending_data`` + the "Send invoices" cron) as soon as KSeF has given the number, or the
invoice was issued offline (its PDF then carries KOD I "OFFLINE" and KOD II).
"""
from odoo import api, models
from odoo.exceptions import UserError

from .account_move import IN_FLIGHT_STATES

KSEF_EDI = 'l10n_pl_ksef_send'
#: Key in ``sending_data`` holding the user's settings saved while waiting for KSeF.
SAVED_SETTINGS_KEY = 'l10n_pl_ksef_settings'


class AccountMoveSend(models.AbstractModel):
    _inherit = 'account.move.send'

    @api.model
    def _l10n_pl_ksef_is_send_applicable(self, move):
        return move._l10n_pl_ksef_is_applicable() and move.state == 'posted' \
            and move.l10n_pl_ksef_state in ('not_sent', 'rejected') and not move._l10n_pl_ksef_handled_by_pl_edi()

    def _get_all_extra_edis(self) -> dict:
        # EXTENDS 'account'
        res = super()._get_all_extra_edis()
        res[KSEF_EDI] = {
            'label': self.env._("KSeF"),
            'is_applicable': self._l10n_pl_ksef_is_send_applicable,
            'help': self.env._("Send the invoice to KSeF first; the PDF and the e-mail go out with its KSeF "
                               "number (KOD I) as soon as KSeF accepts it, usually within a minute."),
        }
        return res

    def _get_alerts(self, moves, moves_data):
        # EXTENDS 'account'
        alerts = super()._get_alerts(moves, moves_data)
        ksef_moves = moves.filtered(lambda m: KSEF_EDI in moves_data[m]['extra_edis'])
        blockers = ksef_moves._l10n_pl_ksef_get_send_blockers()
        if blockers:
            alerts['l10n_pl_ksef_blockers'] = {
                'level': 'danger',
                'message': self.env._("These invoices cannot be sent to KSeF:\n%(lines)s", lines='\n'.join(
                    '%s: %s' % (move.display_name, '; '.join(reasons)) for move, reasons in blockers.items())),
            }
        waiting = moves.filtered(lambda m: m._l10n_pl_ksef_is_applicable()
                                 and (KSEF_EDI in moves_data[m]['extra_edis']
                                      or m.l10n_pl_ksef_state in IN_FLIGHT_STATES))
        if waiting and not blockers:
            alerts['l10n_pl_ksef_waits_for_number'] = {
                'level': 'info',
                'message': self.env._("The PDF and the e-mail are made once KSeF has given the invoice its "
                                      "number, so that they carry the KSeF verification code (KOD I)."),
            }
        return alerts

    # ------------------------------------------------------------------
    # Waiting for the KSeF number before rendering and e-mailing
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_must_wait(self, move, extra_edis):
        """True when the PDF of ``move`` would lack KOD I with its number if rendered now."""
        if not move._l10n_pl_ksef_is_applicable() or move._l10n_pl_ksef_handled_by_pl_edi():
            return False
        return move.l10n_pl_ksef_state in IN_FLIGHT_STATES or (
            KSEF_EDI in extra_edis and self._l10n_pl_ksef_is_send_applicable(move))

    @api.model
    def _l10n_pl_ksef_settings_to_json(self, settings):
        """The sending settings as JSON (records by id), without the KSeF option (done by then)."""
        saved = {}
        for key, value in settings.items():
            if isinstance(value, models.BaseModel):
                value = value.ids
            elif isinstance(value, set):
                value = sorted(value)
            saved[key] = value
        saved['extra_edis'] = [edi for edi in saved.get('extra_edis') or [] if edi != KSEF_EDI]
        return saved

    @api.model
    def _l10n_pl_ksef_settings_from_json(self, saved):
        settings = dict(saved)
        if settings.get('pdf_report'):
            settings['pdf_report'] = self.env['ir.actions.report'].browse(settings['pdf_report']).exists()
        if settings.get('mail_template'):
            settings['mail_template'] = self.env['mail.template'].browse(settings['mail_template']).exists()
        for key in ('pdf_report', 'mail_template'):
            if key in settings and not settings[key]:
                del settings[key]
        settings['extra_edis'] = set(settings.get('extra_edis') or [])
        return settings

    @api.model
    def _get_default_sending_settings(self, move, from_cron=False, **custom_settings):
        # EXTENDS 'account': the settings chosen in "Send" survive the wait for KSeF.
        saved = from_cron and (move.sending_data or {}).get(SAVED_SETTINGS_KEY)
        if saved:
            custom_settings = {**self._l10n_pl_ksef_settings_from_json(saved), **custom_settings}
        return super()._get_default_sending_settings(move, from_cron=from_cron, **custom_settings)

    @api.model
    def _generate_and_send_invoices(self, moves, from_cron=False, allow_raising=True, allow_fallback_pdf=False,
                                    **custom_settings):
        # EXTENDS 'account'
        to_wait = self.env['account.move']
        for move in moves:
            settings = self._get_default_sending_settings(move, from_cron=from_cron, **custom_settings)
            if self._l10n_pl_ksef_must_wait(move, settings['extra_edis']):
                to_wait |= move
                move.sudo().l10n_pl_ksef_pending_send = self._l10n_pl_ksef_settings_to_json(settings)
        if to_wait:
            blocked = self.env['account.move']
            to_queue = to_wait.filtered(lambda m: m.l10n_pl_ksef_state not in IN_FLIGHT_STATES)
            blockers = to_queue._l10n_pl_ksef_get_send_blockers()
            if blockers:
                text = self.env._("These invoices cannot be sent to KSeF:\n%(lines)s", lines='\n'.join(
                    '%s: %s' % (move.display_name, '; '.join(reasons)) for move, reasons in blockers.items()))
                if allow_raising and not from_cron:
                    raise UserError(text)
                blocked = self.env['account.move'].union(*blockers)
                blocked.sudo().write({'l10n_pl_ksef_pending_send': False, 'sending_data': False})
                blocked._l10n_pl_ksef_log(self.env._("Not sent: fix what KSeF needs, then send it again."),
                                          error=text)
                to_queue -= blocked
            to_queue._l10n_pl_ksef_queue()
            (to_wait - blocked).sudo().sending_data = False
            (to_wait - blocked)._l10n_pl_ksef_log(self.env._(
                "The PDF and the e-mail will go out once KSeF has given the invoice its number."))
        rest = moves - to_wait
        if not rest:
            return self.env['ir.attachment']
        return super()._generate_and_send_invoices(rest, from_cron=from_cron, allow_raising=allow_raising,
                                                   allow_fallback_pdf=allow_fallback_pdf, **custom_settings)


class AccountMoveSendWizard(models.TransientModel):
    _inherit = 'account.move.send.wizard'

    def action_send_and_print(self, allow_fallback_pdf=False):
        # EXTENDS 'account': say why nothing is downloaded or e-mailed yet.
        result = super().action_send_and_print(allow_fallback_pdf=allow_fallback_pdf)
        if self.move_id.l10n_pl_ksef_pending_send:
            return {
                'type': 'ir.actions.client',
                'tag': 'display_notification',
                'params': {
                    'type': 'success',
                    'message': self.env._("Sent to KSeF. The PDF with the KSeF number is made, and e-mailed if "
                                          "you chose so, as soon as KSeF accepts the invoice."),
                    'next': {'type': 'ir.actions.act_window_close'},
                },
            }
        return result
