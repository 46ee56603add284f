"""Request a KSeF certificate: XAdES login, enrollment data, CSR, enroll, poll, retrieve, store."""
import re

from odoo import fields, models
from odoo.exceptions import UserError

_CERTIFICATE_NAME = re.compile(r'^[0-9A-Za-zĄĆĘŁŃÓŚŹŻąćęłńóśźż _-]{5,100}$')


class KsefCertificateRequest(models.TransientModel):
    _name = 'ksef.certificate.request'
    _description = "Request a KSeF certificate"

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    name = fields.Char(
        string="Certificate name", required=True, default="Odoo KSeF",
        help="5 to 100 letters, digits, spaces, '_' or '-'; shown in KSeF's certificate list.")
    certificate_type = fields.Selection(
        selection=[('Authentication', "Authentication"), ('Offline', "Offline (KOD II)")],
        string="Type", required=True, default='Authentication')
    key_type = fields.Selection(
        selection=[('EC', "EC P-256 (recommended)"), ('RSA', "RSA 2048")],
        string="Key", required=True, default='EC')
    login_certificate_id = fields.Many2one(
        'ksef.certificate', string="Log in with",
        domain="[('company_id', '=', company_id), ('use_authentication', '=', True), ('state', 'in', ('valid', 'expiring'))]",
        help="KSeF issues certificates only after a login with a qualified (or, on TEST, self-signed) "
             "certificate. Defaults to the company's authentication certificate.")

    def action_request(self):
        """Enroll and, when KSeF issues it in time, store the certificate; else store it as pending."""
        self.ensure_one()
        if not _CERTIFICATE_NAME.match(self.name or ''):
            raise UserError(self.env._(
                "The certificate name must have 5 to 100 characters: letters, digits, spaces, '_' or '-'."))
        company = self.company_id
        client = company._l10n_pl_ksef_xades_client(certificate=self.login_certificate_id or None)
        pending = self.env['ksef.certificate']._l10n_pl_ksef_enroll(
            company, client, self.name, self.certificate_type, self.key_type)
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.certificate',
            'res_id': pending.id,
            'view_mode': 'form',
        }
