"""Settings block for receiving purchase invoices from KSeF (toggle, last sync, "Fetch from KSeF")."""
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_receive_enabled = fields.Boolean(related='company_id.l10n_pl_ksef_receive_enabled', readonly=False)
    l10n_pl_ksef_last_receive_date = fields.Datetime(related='company_id.l10n_pl_ksef_last_receive_date')
    l10n_pl_ksef_receive_error = fields.Text(related='company_id.l10n_pl_ksef_receive_error')
    l10n_pl_ksef_receive_third_party = fields.Boolean(related='company_id.l10n_pl_ksef_receive_third_party',
                                                      readonly=False)
    l10n_pl_ksef_receive_authorized = fields.Boolean(related='company_id.l10n_pl_ksef_receive_authorized',
                                                     readonly=False)
    l10n_pl_ksef_receive_user_id = fields.Many2one(related='company_id.l10n_pl_ksef_receive_user_id', readonly=False)

    def action_l10n_pl_ksef_receive_invoices(self):
        """Save pending settings, then fetch new purchase invoices from KSeF now."""
        self.ensure_one()
        self.execute()
        return self.company_id.action_l10n_pl_ksef_receive_invoices()
