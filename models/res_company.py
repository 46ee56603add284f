from odoo import api, fields, models
from odoo.exceptions import ValidationError

KSEF_ENVIRONMENTS = [
    ('test', "Test (TE)"),
    ('demo', "Pre-production (DEMO)"),
    ('prod', "Production"),
    ('custom', "Custom URL (local emulator)"),
]

SECRET_GROUP = 'l10n_pl_ksef.group_ksef_manager'


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
    l10n_pl_ksef_batch_threshold = fields.Integer(
        string="KSeF batch threshold",
        default=100,
        help="When at least this many invoices are waiting to be sent, they go to KSeF together in one "
             "batch session (a ZIP package, up to 10,000 invoices) instead of one by one. 0: never.",
    )

    # Authentication state kept between cron runs. Tokens are secrets: stored
    # encrypted (see ksef_secret_store) and readable by KSeF managers only;
    # server code reads them with sudo().
    l10n_pl_ksef_access_token = fields.Char(groups=SECRET_GROUP, copy=False)
    l10n_pl_ksef_access_token_valid_until = fields.Datetime(groups=SECRET_GROUP, copy=False)
    l10n_pl_ksef_refresh_token = fields.Char(groups=SECRET_GROUP, copy=False)
    l10n_pl_ksef_refresh_token_valid_until = fields.Datetime(groups=SECRET_GROUP, copy=False)
    l10n_pl_ksef_token_env_key = fields.Char(
        groups=SECRET_GROUP, copy=False,
        help="Environment and URL the stored tokens were issued for; tokens are dropped when it changes.")
    # Ministry public-key certificates are public, cached to spare a call per run.
    l10n_pl_ksef_public_keys = fields.Json(copy=False)
    # KSeF's effective rate limits of the company's context (GET /rate-limits), read with each new token.
    l10n_pl_ksef_rate_limits = fields.Json(string="KSeF rate limits", copy=False)

    @api.constrains('l10n_pl_ksef_poll_interval')
    def _check_l10n_pl_ksef_poll_interval(self):
        if any(company.l10n_pl_ksef_poll_interval < 1 for company in self):
            raise ValidationError(self.env._("The KSeF polling interval must be at least 1 minute."))

    @api.constrains('l10n_pl_ksef_batch_threshold')
    def _check_l10n_pl_ksef_batch_threshold(self):
        if any(company.l10n_pl_ksef_batch_threshold < 0 for company in self):
            raise ValidationError(self.env._(
                "The KSeF batch threshold cannot be negative (0 turns batch sending off)."))

    def _l10n_pl_ksef_is_polish(self):
        """True when this company files Polish invoices (fiscal country Poland)."""
        self.ensure_one()
        return self.account_fiscal_country_id.code == 'PL'

    def _l10n_pl_ksef_take_over_from_pl_edi(self):
        """Switch Odoo's own ``l10n_pl_edi`` KSeF registration off for these companies.

        Odoo 19 auto-installs ``l10n_pl_edi`` with ``l10n_pl``; it would send the same
        invoices to KSeF a second time. Once our sending is used, its registration flag
        is cleared (no-op when that module is not installed).
        """
        if 'l10n_pl_edi_register' not in self._fields:
            return
        registered = self.sudo().filtered(lambda company: company.l10n_pl_edi_register)
        if registered:
            registered.l10n_pl_edi_register = False
