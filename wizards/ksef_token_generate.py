"""Generate a KSeF token through the API (after an XAdES login) and store it encrypted."""
from odoo import fields, models
from odoo.exceptions import UserError

from ..ksef_protocol.errors import KsefError
from ..models.ksef_credentials_errors import raise_ksef_error


class KsefTokenGenerate(models.TransientModel):
    _name = 'ksef.token.generate'
    _description = "Generate a KSeF token"

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    description = fields.Char(
        string="Description", required=True, default=lambda self: self.env._("Odoo invoicing"),
        help="5 to 256 characters; shown in KSeF's token list.")
    permission_invoice_write = fields.Boolean(string="Send invoices (InvoiceWrite)", default=True)
    permission_invoice_read = fields.Boolean(string="Read invoices (InvoiceRead)", default=True)
    permission_credentials_read = fields.Boolean(string="See credentials (CredentialsRead)")
    permission_credentials_manage = fields.Boolean(string="Manage credentials (CredentialsManage)")
    permission_introspection = fields.Boolean(string="See all sessions (Introspection)")
    valid_until = fields.Datetime(
        string="Renew before", help="Optional: KSeF tokens do not expire, but Odoo warns 30 and 7 days before "
                                    "this date if your policy renews them.")
    login_certificate_id = fields.Many2one(
        'ksef.certificate', string="Log in with",
        domain="[('company_id', '=', company_id), ('use_authentication', '=', True), ('state', 'in', ('valid', 'expiring'))]",
        help="KSeF generates tokens only after a login with a certificate. Defaults to the company's "
             "authentication certificate.")

    _PERMISSION_FIELDS = {
        'permission_invoice_write': 'InvoiceWrite',
        'permission_invoice_read': 'InvoiceRead',
        'permission_credentials_read': 'CredentialsRead',
        'permission_credentials_manage': 'CredentialsManage',
        'permission_introspection': 'Introspection',
    }

    def _permissions(self):
        self.ensure_one()
        return [permission for field, permission in self._PERMISSION_FIELDS.items() if self[field]]

    def action_generate(self):
        """Log in by XAdES, generate the token, store it encrypted; opens the new token."""
        self.ensure_one()
        permissions = self._permissions()
        if not permissions:
            raise UserError(self.env._("Choose at least one permission for the KSeF token."))
        description = (self.description or '').strip()
        if not 5 <= len(description) <= 256:
            raise UserError(self.env._("The token description must have 5 to 256 characters."))
        company = self.company_id
        client = company._l10n_pl_ksef_xades_client(certificate=self.login_certificate_id or None)
        try:
            reference, token = client.generate_ksef_token(permissions, description)
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("generate a KSeF token"))
        record = self.env['ksef.token'].create({
            'name': description,
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            'reference_number': reference,
            'permissions': ', '.join(permissions),
            'ksef_status': 'Pending',
            'valid_until': self.valid_until,
            'token': token,
        })
        record._l10n_pl_ksef_wait_until_active(client)
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.token',
            'res_id': record.id,
            'view_mode': 'form',
        }
