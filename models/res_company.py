from odoo import fields, models

KSEF_ENVIRONMENTS = [
    ('test', "Test (TE)"),
    ('demo', "Pre-production (DEMO)"),
    ('prod', "Production"),
    ('custom', "Custom URL (local emulator)"),
]


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_environment = fields.Selection(
        selection=KSEF_ENVIRONMENTS,
        string="KSeF environment",
        default='test',
        required=True,
        help="Which KSeF the company talks to. Production invoices have legal effect.",
    )
    l10n_pl_ksef_custom_url = fields.Char(
        string="KSeF API URL",
        help="Base URL of the KSeF API when the environment is 'Custom', "
             "e.g. http://127.0.0.1:8123/v2 for the local emulator.",
    )
    l10n_pl_ksef_auth_method = fields.Selection(
        selection=[('token', "KSeF token"), ('certificate', "Certificate (XAdES)")],
        string="KSeF authentication",
        default='token',
        required=True,
    )
    l10n_pl_ksef_auto_send = fields.Boolean(
        string="Send to KSeF on posting",
        default=True,
        help="Queue every posted customer invoice for KSeF; the scheduled action sends it.",
    )
    l10n_pl_ksef_poll_interval = fields.Integer(
        string="KSeF polling interval (minutes)",
        default=5,
    )
