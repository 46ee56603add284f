from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_environment = fields.Selection(related='company_id.l10n_pl_ksef_environment', readonly=False)
    l10n_pl_ksef_custom_url = fields.Char(related='company_id.l10n_pl_ksef_custom_url', readonly=False)
    l10n_pl_ksef_auth_method = fields.Selection(related='company_id.l10n_pl_ksef_auth_method', readonly=False)
    l10n_pl_ksef_auto_send = fields.Boolean(related='company_id.l10n_pl_ksef_auto_send', readonly=False)
    l10n_pl_ksef_poll_interval = fields.Integer(related='company_id.l10n_pl_ksef_poll_interval', readonly=False)
