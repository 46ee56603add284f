"""Upload a KSeF certificate: certificate + private key files, or a PKCS#12 bundle."""
import base64
import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import certificates as ksef_certificates
from ..models.ksef_credentials_errors import certificate_error_message
from ..models.ksef_secret_store import decrypt_secret, encrypt_secret
from ..models.res_company import KSEF_ENVIRONMENTS

PKCS12_EXTENSIONS = ('.p12', '.pfx')


class KsefCertificateUpload(models.TransientModel):
    _name = 'ksef.certificate.upload'
    _description = "Upload a KSeF certificate"

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    environment = fields.Selection(
        selection=KSEF_ENVIRONMENTS, string="KSeF environment", required=True,
        default=lambda self: self.env.company.l10n_pl_ksef_environment,
        help="The KSeF environment the certificate is used in (a TEST certificate does not work in production).")
    name = fields.Char(string="Name", help="Defaults to the certificate's common name.")
    # The web client saves the dialog (web_save) before it runs the button, so whatever the
    # user typed reaches the wizard table. The files and the password are therefore write-only
    # fields: reading them gives nothing, writing them stores Fernet ciphertext only (a .p12
    # or a PEM bundle holds the private key). Not 'required': the value never reads back.
    certificate_file = fields.Binary(
        string="Certificate", attachment=False, store=False,
        compute='_compute_secret_inputs', inverse='_inverse_certificate_file',
        help="The certificate (.crt, .cer, .pem, PEM or DER) or a PKCS#12 bundle (.p12, .pfx).")
    certificate_filename = fields.Char()
    key_file = fields.Binary(
        string="Private key", attachment=False, store=False,
        compute='_compute_secret_inputs', inverse='_inverse_key_file',
        help="The private key (.key, PEM, encrypted or not). Not needed for .p12/.pfx or for a .pem "
             "that already contains the key.")
    key_filename = fields.Char()
    password = fields.Char(
        string="Password", store=False, compute='_compute_secret_inputs', inverse='_inverse_password',
        help="Password of the private key or of the PKCS#12 file.")
    certificate_file_encrypted = fields.Char(copy=False)
    key_file_encrypted = fields.Char(copy=False)
    password_encrypted = fields.Char(copy=False)
    is_pkcs12 = fields.Boolean(compute='_compute_is_pkcs12')
    use_authentication = fields.Boolean(string="Authentication (log in to KSeF)", default=True)
    use_offline = fields.Boolean(string="Offline (sign KOD II)")
    identity_confirmed = fields.Boolean(
        string="The certificate does not carry the company's NIP, and I confirm it may act for the company",
        help="Tick for a certificate registered in KSeF by its fingerprint, or a personal (PESEL) certificate "
             "of someone holding KSeF permissions for the company.")

    # ------------------------------------------------------------------ write-only secret inputs

    @api.depends_context('uid')
    def _compute_secret_inputs(self):
        for wizard in self:
            wizard.certificate_file = wizard.key_file = wizard.password = False

    def _inverse_certificate_file(self):
        for wizard in self:
            wizard.certificate_file_encrypted = encrypt_secret(
                self.env, wizard.certificate_file and base64.b64decode(wizard.certificate_file))

    def _inverse_key_file(self):
        for wizard in self:
            wizard.key_file_encrypted = encrypt_secret(
                self.env, wizard.key_file and base64.b64decode(wizard.key_file))

    def _inverse_password(self):
        for wizard in self:
            wizard.password_encrypted = encrypt_secret(self.env, wizard.password)

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        wizards._forget_clear_inputs()
        return wizards

    def write(self, vals):
        result = super().write(vals)
        self._forget_clear_inputs()
        return result

    def _forget_clear_inputs(self):
        # The typed values would otherwise stay in the ORM cache and go back to the client.
        self.invalidate_recordset(['certificate_file', 'key_file', 'password'])

    def _secret_input(self, field_name):
        self.ensure_one()
        return decrypt_secret(self.env, self[field_name])

    @api.depends('certificate_filename')
    def _compute_is_pkcs12(self):
        for wizard in self:
            wizard.is_pkcs12 = (wizard.certificate_filename or '').lower().endswith(PKCS12_EXTENSIONS)

    # ------------------------------------------------------------------ loading

    def _load(self):
        """``(certificate, private_key)`` from the uploaded files; UserError with a clear message otherwise."""
        self.ensure_one()
        data = self._secret_input('certificate_file_encrypted')
        if not data:
            raise UserError(self.env._("Choose the certificate file to upload."))
        key_data = self._secret_input('key_file_encrypted')
        password = self._secret_input('password_encrypted').decode('utf-8') or None
        pkcs12 = self.is_pkcs12 or (not key_data and data[:1] == b'\x30' and not self._looks_like_der_cert(data))
        try:
            if pkcs12:
                return ksef_certificates.load_pkcs12(data, password, check_dates=False)
            if not key_data and b'PRIVATE KEY-----' in data:
                key_data = data  # one PEM file holding both the certificate and its key
            elif not key_data:
                raise UserError(self.env._(
                    "Choose the private key file (.key) that belongs to the certificate, or upload a .p12/.pfx "
                    "bundle instead."))
            return ksef_certificates.load_certificate_and_key(data, key_data, password, check_dates=False)
        except ksef_certificates.CertificateError as error:
            raise UserError(certificate_error_message(self.env, error, pkcs12=pkcs12)) from None

    @staticmethod
    def _looks_like_der_cert(data):
        try:
            ksef_certificates.load_certificate(data)
            return True
        except ksef_certificates.CertificateError:
            return False

    # ------------------------------------------------------------------ checks

    def _check_certificate(self, certificate, info, now=None):
        """Validity period, identity (NIP / VATPL / fingerprint) and key usage; returns the identifier type."""
        self.ensure_one()
        now = now or datetime.datetime.now(datetime.timezone.utc)
        if info.not_after < now:
            raise UserError(self.env._(
                "The certificate expired on %(date)s. Upload a certificate that is still valid.",
                date=info.not_after.strftime('%Y-%m-%d')))
        if info.not_before > now:
            raise UserError(self.env._(
                "The certificate is valid only from %(date)s. Upload it once it is valid.",
                date=info.not_before.strftime('%Y-%m-%d %H:%M')))
        if not (self.use_authentication or self.use_offline):
            raise UserError(self.env._("Choose what the certificate is for: Authentication, Offline, or both."))
        if self.use_authentication and info.key_usage and 'digital_signature' not in info.key_usage:
            raise UserError(self.env._(
                "This certificate cannot be used to log in to KSeF: its key usage (%(usage)s) lacks Digital "
                "Signature. Untick Authentication or use an Authentication certificate.",
                usage=', '.join(info.key_usage)))
        if self.use_offline and info.key_usage and 'non_repudiation' not in info.key_usage:
            raise UserError(self.env._(
                "This certificate cannot sign offline invoices (KOD II): its key usage (%(usage)s) lacks "
                "Non-Repudiation. Untick Offline or use a KSeF Offline certificate.",
                usage=', '.join(info.key_usage)))
        company_nip = self.company_id._l10n_pl_ksef_nip()
        if info.nip == company_nip:
            return 'certificateSubject'
        if not self.identity_confirmed:
            if info.nip:
                raise UserError(self.env._(
                    "The certificate is issued for NIP %(cert_nip)s but the company's NIP is %(company_nip)s. "
                    "Upload the company's certificate, or tick the confirmation if this certificate is "
                    "registered in KSeF by its fingerprint.", cert_nip=info.nip, company_nip=company_nip))
            raise UserError(self.env._(
                "The certificate does not contain the company's NIP %(company_nip)s (subject: %(subject)s). "
                "Tick the confirmation if it is a personal certificate of someone with KSeF permissions for "
                "the company, or is registered in KSeF by its fingerprint %(fingerprint)s.",
                company_nip=company_nip, subject=info.subject, fingerprint=info.fingerprint_sha256))
        # A personal certificate (PESEL) logs in by subject; anything else by its registered fingerprint.
        return 'certificateSubject' if info.pesel else 'certificateFingerprint'

    # ------------------------------------------------------------------ action

    def action_upload(self):
        """Check the files and store the certificate with its encrypted key; opens the new record."""
        self.ensure_one()
        certificate, private_key = self._load()
        info = ksef_certificates.describe_certificate(certificate)
        identifier_type = self._check_certificate(certificate, info)
        environment = self.environment
        duplicate = self.env['ksef.certificate'].search([
            ('company_id', '=', self.company_id.id), ('environment', '=', environment),
            ('fingerprint', '=', info.fingerprint_sha256)], limit=1)
        if duplicate:
            raise UserError(self.env._(
                "This certificate is already stored as %(name)s.", name=duplicate.name))
        record = self.env['ksef.certificate']._create_from_objects(
            self.company_id, certificate, private_key,
            name=self.name or info.common_name or info.organization_name or info.serial_hex,
            use_authentication=self.use_authentication,
            use_offline=self.use_offline,
            environment=environment,
            source='upload',
            subject_identifier_type=identifier_type,
        )
        # Even encrypted, the inputs are not kept once the certificate is stored.
        self.write({'certificate_file_encrypted': False, 'key_file_encrypted': False, 'password_encrypted': False})
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.certificate',
            'res_id': record.id,
            'view_mode': 'form',
        }
