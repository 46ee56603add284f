"""Send to KSeF: show which invoices will be queued and which cannot, with the reason."""
from odoo import api, fields, models
from odoo.exceptions import UserError


class L10nPlKsefSendWizard(models.TransientModel):
    _name = 'l10n_pl_ksef.send.wizard'
    _description = "Send invoices to KSeF"

    move_ids = fields.Many2many('account.move', string="Invoices", required=True)
    ready_move_ids = fields.Many2many('account.move', compute='_compute_blockers', string="Will be queued")
    blocked_move_ids = fields.Many2many('account.move', compute='_compute_blockers', string="Cannot be sent")
    blocker_text = fields.Text(compute='_compute_blockers', string="Why not")

    @api.depends('move_ids')
    def _compute_blockers(self):
        for wizard in self:
            blockers = wizard.move_ids._l10n_pl_ksef_get_send_blockers()
            blocked = self.env['account.move'].union(*blockers) if blockers else self.env['account.move']
            wizard.blocked_move_ids = blocked
            wizard.ready_move_ids = wizard.move_ids - blocked
            wizard.blocker_text = '\n'.join('%s: %s' % (move.display_name, '; '.join(reasons))
                                            for move, reasons in blockers.items()) or False

    def action_queue(self):
        """Queue the invoices that can be sent; the scheduled action sends them."""
        self.ensure_one()
        queued = self.move_ids._l10n_pl_ksef_queue()
        if not queued:
            raise UserError(self.blocker_text or self.env._("None of these invoices can be sent to KSeF now."))
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'type': 'success',
                'message': self.env._("Invoices queued for KSeF: %(count)s. They are sent within minutes.",
                                      count=len(queued)),
                'next': {'type': 'ir.actions.act_window_close'},
            },
        }
