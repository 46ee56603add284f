"""Generate a self-signed test certificate (TEST environment and local emulator only)."""
from odoo import fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import certificates as ksef_certificates
from ..models.ksef_credentials_errors import certificate_error_message

#: KSeF accepts self-signed certificates only on TEST (digest §1, §11); 'custom' is the local emulator.
TEST_ENVIRONMENTS = ('test', 'custom')


class KsefCertificateGenerate(models.TransientModel):
    _name = 'ksef.certificate.generate'
    _description = "Generate a KSeF test certificate"

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    kind = fields.Selection(
        selection=[('personal', "Personal (TINPL-<NIP>)"), ('seal', "Company seal (VATPL-<NIP>)")],
        string="Kind", required=True, default='seal')
    key_type = fields.Selection(
        selection=[('EC', "EC P-256 (recommended)"), ('RSA', "RSA 2048")],
        string="Key", required=True, default='EC')
    purpose = fields.Selection(
        selection=[('Authentication', "Authentication"), ('Offline', "Offline (KOD II)")],
        string="Purpose", required=True, default='Authentication')
    valid_days = fields.Integer(string="Valid for (days)", required=True, default=365)

    def action_generate(self):
        """Create the key pair and certificate and store them as the company's KSeF certificate."""
        self.ensure_one()
        company = self.company_id
        if company.l10n_pl_ksef_environment not in TEST_ENVIRONMENTS:
            raise UserError(self.env._(
                "Self-signed test certificates work only on the KSeF TEST environment or the local emulator. "
                "For %(environment)s, upload a qualified certificate or request a KSeF certificate.",
                environment=company._l10n_pl_ksef_environment_label()))
        nip = company._l10n_pl_ksef_nip()
        try:
            certificate, private_key = ksef_certificates.generate_test_certificate(
                nip=nip, kind=self.kind, key_type=self.key_type, purpose=self.purpose,
                valid_days=self.valid_days, organization=company.name,
                given_name="Test", surname=company.name[:64] or "KSeF")
        except ksef_certificates.CertificateError as error:
            raise UserError(certificate_error_message(self.env, error)) from None
        record = self.env['ksef.certificate']._create_from_objects(
            company, certificate, private_key,
            name=self.env._("Test %(kind)s %(key)s %(purpose)s",
                            kind=self.kind, key=self.key_type, purpose=self.purpose),
            use_authentication=self.purpose == 'Authentication',
            use_offline=self.purpose == 'Offline',
            source='generated',
            subject_identifier_type='certificateSubject',
        )
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.certificate',
            'res_id': record.id,
            'view_mode': 'form',
        }
