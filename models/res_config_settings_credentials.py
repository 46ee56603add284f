"""KSeF credentials block of the accounting settings: counts, expiry warnings, encryption status."""
from odoo import fields, models
from odoo.exceptions import AccessError

from .ksef_secret_store import is_encryption_configured


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_credentials_warning = fields.Text(related='company_id.l10n_pl_ksef_credentials_warning')
    l10n_pl_ksef_certificate_count = fields.Integer(compute='_compute_l10n_pl_ksef_credential_counts')
    l10n_pl_ksef_token_count = fields.Integer(compute='_compute_l10n_pl_ksef_credential_counts')
    l10n_pl_ksef_encryption_configured = fields.Boolean(compute='_compute_l10n_pl_ksef_credential_counts')
    l10n_pl_ksef_token_sunset_notice = fields.Text(related='company_id.l10n_pl_ksef_token_sunset_notice')

    def _compute_l10n_pl_ksef_credential_counts(self):
        configured = is_encryption_configured()
        for settings in self:
            domain = settings.company_id._l10n_pl_ksef_environment_domain()
            settings.l10n_pl_ksef_certificate_count = self.env['ksef.certificate'].search_count(domain)
            settings.l10n_pl_ksef_token_count = self.env['ksef.token'].search_count(domain)
            settings.l10n_pl_ksef_encryption_configured = configured

    def action_l10n_pl_ksef_open_portal(self):
        return self.company_id._l10n_pl_ksef_action_open_portal()

    def action_l10n_pl_ksef_sync_tokens(self):
        """Mirror the KSeF token list of the company's context, then show it."""
        self.env['ksef.token']._l10n_pl_ksef_sync_from_ksef(self.company_id)
        return self.env['ir.actions.act_window']._for_xml_id('l10n_pl_ksef.action_ksef_token')

    def action_l10n_pl_ksef_reencrypt_secrets(self):
        """Re-encrypt every KSeF secret with the current key (system administrators)."""
        if not self.env.user.has_group('base.group_system'):
            raise AccessError(self.env._("Only system administrators can re-encrypt the KSeF secrets."))
        count = self.env['res.company']._l10n_pl_ksef_reencrypt_secrets()
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {'type': 'success', 'message': self.env._(
                "%(count)s KSeF secrets re-encrypted with the current key. The older keys can now be removed "
                "from the configuration.", count=count)},
        }
