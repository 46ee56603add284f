"""Request a KSeF certificate: XAdES login, enrollment data, CSR, enroll, poll, retrieve, store."""
import re

from odoo import fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import certificates as ksef_certificates
from ..ksef_protocol.errors import KsefError
from ..models.ksef_credentials_errors import certificate_error_message, raise_ksef_error

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
        try:
            enrollment_data = client.get_enrollment_data()
            csr_der, private_key = ksef_certificates.build_csr(enrollment_data, self.key_type)
            reference = client.enroll_certificate(self.name, self.certificate_type, csr_der)
        except ksef_certificates.CertificateError as error:
            raise UserError(certificate_error_message(self.env, error)) from None
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("request a certificate"))
        # Store the key at once (encrypted): if KSeF is slow the record completes later.
        pending = self.env['ksef.certificate'].sudo().create({
            'name': self.name,
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            'use_authentication': self.certificate_type == 'Authentication',
            'use_offline': self.certificate_type == 'Offline',
            'source': 'enrolled',
            'ksef_status': 'pending',
            'enrollment_reference': reference,
            'private_key_encrypted': self.env['ksef.certificate']._encrypt_private_key(private_key),
        }).sudo(False)
        try:
            pending._l10n_pl_ksef_complete_enrollment(client)
        except UserError as error:
            # Keep the pending record and its key (KSeF may still issue the certificate); the
            # "Check enrollment" button or the daily cron completes it.
            pending.message_post(body=str(error))
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.certificate',
            'res_id': pending.id,
            'view_mode': 'form',
        }
