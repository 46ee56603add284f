from odoo import api, fields, models

from ..ksef_protocol.errors import KsefError


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_environment = fields.Selection(related='company_id.l10n_pl_ksef_environment', readonly=False)
    l10n_pl_ksef_custom_url = fields.Char(related='company_id.l10n_pl_ksef_custom_url', readonly=False)
    l10n_pl_ksef_auth_method = fields.Selection(related='company_id.l10n_pl_ksef_auth_method', readonly=False)
    l10n_pl_ksef_auto_send = fields.Boolean(related='company_id.l10n_pl_ksef_auto_send', readonly=False)
    l10n_pl_ksef_poll_interval = fields.Integer(related='company_id.l10n_pl_ksef_poll_interval', readonly=False)
    l10n_pl_ksef_batch_threshold = fields.Integer(related='company_id.l10n_pl_ksef_batch_threshold', readonly=False)
    l10n_pl_ksef_public_keys_count = fields.Integer(compute='_compute_l10n_pl_ksef_public_keys_count')

    @api.depends('company_id')
    def _compute_l10n_pl_ksef_public_keys_count(self):
        for settings in self:
            settings.l10n_pl_ksef_public_keys_count = len((settings.company_id.l10n_pl_ksef_public_keys or {})
                                                          .get('keys') or [])

    def set_values(self):
        # No network call here: saving only stores the settings.
        super().set_values()
        company = self.company_id
        if company._l10n_pl_ksef_is_polish() and company.l10n_pl_ksef_auto_send:
            company._l10n_pl_ksef_take_over_from_pl_edi()
        # One cron serves every company: it runs as often as the most demanding one asks.
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue', raise_if_not_found=False)
        if cron:
            interval = min(self.env['res.company'].sudo().search([]).mapped('l10n_pl_ksef_poll_interval') or [5])
            if (cron.interval_number, cron.interval_type) != (interval, 'minutes'):
                cron.sudo().write({'interval_number': interval, 'interval_type': 'minutes'})

    def _l10n_pl_ksef_notify(self, kind, message):
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {'type': kind, 'message': message, 'sticky': kind != 'success'},
        }

    def action_l10n_pl_ksef_download_public_keys(self):
        """Fetch the Ministry's public-key certificates now (they are otherwise fetched when needed)."""
        self.ensure_one()
        self.execute()
        company = self.company_id
        try:
            keys = company._l10n_pl_ksef_store_public_keys(company._l10n_pl_ksef_get_client(authenticated=False),
                                                           force=True)
        except KsefError as error:
            return self._l10n_pl_ksef_notify('danger', self.env._(
                "KSeF public keys could not be downloaded: %(error)s", error=error.message))
        return self._l10n_pl_ksef_notify('success', self.env._(
            "%(count)s KSeF public key(s) downloaded.", count=len(keys)))

    def action_l10n_pl_ksef_test_connection(self):
        """Authenticate with the configured credentials and report the result."""
        self.ensure_one()
        self.execute()
        company = self.company_id
        company._l10n_pl_ksef_forget_access_token()
        try:
            company._l10n_pl_ksef_get_client(authenticated=True)
        except KsefError as error:
            return self._l10n_pl_ksef_notify('danger', self.env._(
                "KSeF connection failed: %(error)s", error=error.message))
        return self._l10n_pl_ksef_notify('success', self.env._(
            "Connected to KSeF (%(env)s) and authenticated as NIP %(nip)s.",
            env=dict(company._fields['l10n_pl_ksef_environment']._description_selection(self.env))[
                company.l10n_pl_ksef_environment], nip=company.vat or ''))
