"""Issue offline: choose the offline mode (offline24, KSeF unavailable, emergency), see the deadline."""
from odoo import api, fields, models
from odoo.tools import format_date

from ..models.account_move_ksef_offline import OFFLINE_MODES, offline_deadline, polish_today


class L10nPlKsefOfflineWizard(models.TransientModel):
    _name = 'l10n_pl_ksef.offline.wizard'
    _description = "Issue invoices offline (KSeF)"

    move_ids = fields.Many2many('account.move', string="Invoices", required=True)
    mode = fields.Selection(
        OFFLINE_MODES, string="Offline mode", required=True, default='offline24',
        help="Offline24: your choice, send by the next business day after the issue date. "
             "KSeF unavailable: unavailability announced by the Ministry of Finance, send by the next business "
             "day after it ends. Emergency: KSeF failure announced by the Ministry, send within 7 business days "
             "after it ends.")
    outage_end = fields.Date(
        string="Unavailability/failure ended on", default=lambda self: polish_today(),
        help="The day the announced unavailability or failure of KSeF ended (or is expected to end); the "
             "deadline counts from it. Change it later with \"Change offline mode\" when it ends later.")
    deadline = fields.Date(string="Send to KSeF by", compute='_compute_deadline',
                           help="The earliest deadline of the selected invoices.")
    blocker_text = fields.Text(compute='_compute_blocker_text', string="What is missing")

    @api.depends('move_ids', 'mode', 'outage_end')
    def _compute_deadline(self):
        for wizard in self:
            deadlines = [offline_deadline(wizard.mode, move.invoice_date, wizard.outage_end)
                         for move in wizard.move_ids]
            wizard.deadline = min([day for day in deadlines if day], default=False)

    @api.depends('move_ids')
    def _compute_blocker_text(self):
        for wizard in self:
            blockers = wizard.move_ids._l10n_pl_ksef_get_offline_blockers()
            wizard.blocker_text = '\n'.join('%s: %s' % (move.display_name, '; '.join(reasons))
                                            for move, reasons in blockers.items()) or False

    def action_issue_offline(self):
        self.ensure_one()
        self.move_ids._l10n_pl_ksef_issue_offline(self.mode, self.outage_end if self.mode != 'offline24' else None)
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'type': 'success',
                'message': self.env._(
                    "%(count)s invoice(s) issued offline: print them with both KSeF QR codes; send them to KSeF "
                    "by %(deadline)s.", count=len(self.move_ids),
                    deadline=format_date(self.env, self.deadline) if self.deadline else '?'),
                'next': {'type': 'ir.actions.act_window_close'},
            },
        }
