"""Certificates a company uses with KSeF: Authentication (XAdES login) and Offline (KOD II).

Why a model of our own rather than Odoo's ``certificate`` module: that module
keeps private keys and their passwords in clear columns (``certificate.key``
``content``/``password``, ``certificate.certificate.pkcs12_password``), limits
access to system administrators instead of KSeF managers, and knows nothing of
KSeF's purposes, environments, NIP/PESEL identifiers or revocation.  KSeF needs
keys encrypted with a key outside the database and readable by the KSeF
manager group only, so ``ksef.certificate`` stores the public certificate in
clear (it is public) and the private key as Fernet ciphertext
(``models/ksef_secret_store.py``).  Parsing and checks live in
``ksef_protocol.certificates``; this model decides states and messages.
"""
import base64
import datetime
import time

from cryptography.hazmat.primitives import serialization

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..ksef_protocol import certificates as ksef_certificates
from ..ksef_protocol.errors import KsefError
from .ksef_credentials_errors import certificate_error_message, raise_enrollment_error, raise_ksef_error
from .ksef_secret_store import decrypt_secret, encrypt_secret
from .res_company import KSEF_ENVIRONMENTS

EXPIRY_WARNING_DAYS = (30, 7)
#: An enrollment is polled this many times, this many seconds apart, before it is left pending.
ENROLLMENT_POLL_ATTEMPTS = 5
ENROLLMENT_POLL_SECONDS = 1.0
KSEF_MANAGER_GROUP = 'l10n_pl_ksef.group_ksef_manager'


def _naive_utc(value):
    """ORM datetimes are naive UTC; cryptography gives aware ones."""
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None) if value and value.tzinfo else value


class KsefCertificate(models.Model):
    _name = 'ksef.certificate'
    _description = "KSeF certificate"
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _order = 'date_end desc, id desc'
    _check_company_auto = True

    name = fields.Char(string="Name", required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        'res.company', string="Company", required=True, index=True,
        default=lambda self: self.env.company)
    environment = fields.Selection(
        selection=KSEF_ENVIRONMENTS, string="KSeF environment", required=True,
        default=lambda self: self.env.company.l10n_pl_ksef_environment)
    use_authentication = fields.Boolean(
        string="Authentication", default=True, tracking=True,
        help="Used to log in to KSeF (XAdES signature). Needs the Digital Signature key usage.")
    use_offline = fields.Boolean(
        string="Offline", tracking=True,
        help="Used to sign the KOD II link of invoices issued offline. Needs the Non-Repudiation key usage. "
             "KSeF verifies KOD II only against KSeF-issued certificates of type Offline (kody-qr.md): "
             "request one with 'Request a KSeF certificate'.")
    source = fields.Selection(
        selection=[
            ('upload', "Uploaded"),
            ('generated', "Generated test certificate"),
            ('enrolled', "Issued by KSeF"),
        ],
        string="Source", required=True, default='upload', readonly=True)
    subject_identifier_type = fields.Selection(
        selection=[
            ('certificateSubject', "Subject (NIP / PESEL / VATPL in the certificate)"),
            ('certificateFingerprint', "Fingerprint (registered in KSeF)"),
        ],
        string="Identify by", required=True, default='certificateSubject',
        help="How KSeF identifies the certificate at login: by the identifier in its subject, or by its "
             "SHA-256 fingerprint when it carries no NIP/PESEL and was registered in KSeF.")

    # Public part: the certificate and what it says.  Stored in clear on purpose.
    certificate_der = fields.Binary(string="Certificate (DER)", attachment=False, readonly=True, copy=False)
    subject = fields.Char(string="Subject", readonly=True)
    issuer = fields.Char(string="Issuer", readonly=True)
    serial_number = fields.Char(string="Serial number", readonly=True, index=True)
    fingerprint = fields.Char(string="SHA-256 fingerprint", readonly=True)
    nip = fields.Char(string="NIP", readonly=True)
    pesel = fields.Char(string="PESEL", readonly=True)
    identifier_kind = fields.Char(string="Identifier kind", readonly=True)
    date_start = fields.Datetime(string="Valid from", readonly=True)
    date_end = fields.Datetime(string="Valid until", readonly=True, index=True)
    key_type = fields.Selection(selection=[('RSA', "RSA"), ('EC', "EC")], string="Key type", readonly=True)
    key_size = fields.Integer(string="Key size (bits)", readonly=True)
    key_usage = fields.Char(string="Key usage", readonly=True)
    is_self_signed = fields.Boolean(string="Self-signed", readonly=True)

    # The secret: PKCS#8 private key, Fernet-encrypted, managers only.
    private_key_encrypted = fields.Char(
        string="Encrypted private key", copy=False, groups=KSEF_MANAGER_GROUP)
    has_private_key = fields.Boolean(compute='_compute_has_private_key', string="Private key stored")

    # KSeF side (certificates issued by KSeF).
    ksef_status = fields.Selection(
        selection=[('active', "Active"), ('pending', "Enrollment pending"), ('revoked', "Revoked")],
        string="Status in KSeF", default='active', required=True, tracking=True, copy=False)
    enrollment_reference = fields.Char(string="Enrollment reference", readonly=True, copy=False)
    state = fields.Selection(
        selection=[
            ('valid', "Valid"),
            ('expiring', "Expiring within 30 days"),
            ('expired', "Expired"),
            ('not_yet_valid', "Not yet valid"),
            ('revoked', "Revoked"),
            ('pending', "Enrollment pending"),
        ],
        compute='_compute_state', search='_search_state', string="State")
    expiry_warning_sent = fields.Integer(
        string="Last expiry warning (days)", copy=False, readonly=True,
        help="Smallest warning threshold (30, 7) already notified, so the cron warns once per threshold.")

    _purpose_required = models.Constraint(
        'CHECK(use_authentication OR use_offline)',
        "A KSeF certificate must serve at least one purpose: Authentication or Offline.")

    # ------------------------------------------------------------------ computes

    def _compute_has_private_key(self):
        for record in self:
            record.has_private_key = bool(record.sudo().private_key_encrypted)

    @api.depends('date_start', 'date_end', 'ksef_status')
    def _compute_state(self):
        now = fields.Datetime.now()
        for record in self:
            record.state = record._state_at(now)

    def _state_at(self, now):
        self.ensure_one()
        if self.ksef_status == 'revoked':
            return 'revoked'
        if self.ksef_status == 'pending':
            return 'pending'
        if self.date_end and self.date_end <= now:
            return 'expired'
        if self.date_start and self.date_start > now:
            return 'not_yet_valid'
        if self.date_end and (self.date_end - now).days < EXPIRY_WARNING_DAYS[0]:
            return 'expiring'
        return 'valid'

    def _search_state(self, operator, value):
        if operator not in ('=', 'in'):
            return NotImplemented
        wanted = {value} if operator == '=' else set(value)
        now = fields.Datetime.now()
        soon = now + datetime.timedelta(days=EXPIRY_WARNING_DAYS[0])
        active = [('ksef_status', '=', 'active')]
        domains = {
            'revoked': [('ksef_status', '=', 'revoked')],
            'pending': [('ksef_status', '=', 'pending')],
            'expired': active + [('date_end', '<=', now)],
            'not_yet_valid': active + [('date_end', '>', now), ('date_start', '>', now)],
            'expiring': active + [('date_end', '>', now), ('date_end', '<', soon), ('date_start', '<=', now)],
            'valid': active + [('date_end', '>=', soon), ('date_start', '<=', now)],
        }
        return fields.Domain.OR(fields.Domain(domains[item]) for item in wanted if item in domains)

    # ------------------------------------------------------------------ building records

    @api.model
    def _prepare_values(self, certificate, private_key=None):
        """ORM values describing ``certificate`` (cryptography object) and, encrypted, its ``private_key``."""
        info = ksef_certificates.describe_certificate(certificate)
        values = {
            'certificate_der': base64.b64encode(ksef_certificates.certificate_to_der(certificate)),
            'subject': info.subject,
            'issuer': info.issuer,
            'serial_number': info.serial_hex,
            'fingerprint': info.fingerprint_sha256,
            'nip': info.nip or False,
            'pesel': info.pesel or False,
            'identifier_kind': info.identifier_kind or False,
            'date_start': _naive_utc(info.not_before),
            'date_end': _naive_utc(info.not_after),
            'key_type': info.key_type if info.key_type in ('RSA', 'EC') else False,
            'key_size': info.key_size,
            'key_usage': ', '.join(info.key_usage),
            'is_self_signed': info.is_self_signed,
        }
        if private_key is not None:
            values['private_key_encrypted'] = self._encrypt_private_key(private_key)
        return values

    @api.model
    def _encrypt_private_key(self, private_key):
        """Fernet ciphertext of the key's unencrypted PKCS#8 PEM (the Fernet layer is the protection)."""
        return encrypt_secret(self.env, ksef_certificates.private_key_to_pem(private_key))

    @api.model
    def _create_from_objects(self, company, certificate, private_key, **extra):
        """Store ``certificate``/``private_key`` (cryptography objects) as a KSeF certificate of ``company``."""
        info = ksef_certificates.describe_certificate(certificate)
        values = {
            'name': info.common_name or info.organization_name or info.serial_hex,
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            **self._prepare_values(certificate, private_key),
            **extra,
        }
        # sudo: writing the manager-only key column; callers are manager-only wizards.
        return self.sudo().create(values).sudo(False)

    # ------------------------------------------------------------------ using the secret

    def _get_certificate(self):
        """The certificate as a cryptography object."""
        self.ensure_one()
        if not self.certificate_der:
            raise UserError(self.env._("The KSeF certificate %(name)s has no certificate file.", name=self.name))
        return ksef_certificates.load_certificate(base64.b64decode(self.certificate_der))

    def _get_private_key(self):
        """The decrypted private key as a cryptography object (server-side only)."""
        self.ensure_one()
        pem = decrypt_secret(self.env, self.sudo().private_key_encrypted)
        if not pem:
            raise UserError(self.env._(
                "The KSeF certificate %(name)s has no private key stored. Upload the certificate again "
                "with its private key.", name=self.name))
        return serialization.load_pem_private_key(pem, password=None)

    def _check_usable_for(self, purpose):
        """Raise a UserError saying what to renew unless the certificate can serve ``purpose`` now."""
        self.ensure_one()
        label = self.env._("authentication") if purpose == 'authentication' else self.env._("offline invoices")
        state = self.state
        if state == 'expired':
            raise UserError(self.env._(
                "The KSeF certificate %(name)s (serial %(serial)s) used for %(purpose)s expired on %(date)s. "
                "Upload or request a new certificate in Settings > Invoicing > KSeF credentials.",
                name=self.name, serial=self.serial_number, purpose=label,
                date=fields.Datetime.to_string(self.date_end)))
        if state == 'revoked':
            raise UserError(self.env._(
                "The KSeF certificate %(name)s was revoked. Upload or request a new certificate for %(purpose)s.",
                name=self.name, purpose=label))
        if state == 'pending':
            raise UserError(self.env._(
                "The KSeF certificate %(name)s has not been issued yet. Check the enrollment status first.",
                name=self.name))
        if state == 'not_yet_valid':
            raise UserError(self.env._(
                "The KSeF certificate %(name)s is valid only from %(date)s.",
                name=self.name, date=fields.Datetime.to_string(self.date_start)))
        if not self.has_private_key:
            raise UserError(self.env._(
                "The KSeF certificate %(name)s has no private key. Upload it again with its private key.",
                name=self.name))

    # ------------------------------------------------------------------ actions

    def action_download_certificate(self):
        """Download the certificate as PEM (public, any user who can read the record)."""
        self.ensure_one()
        return {
            'type': 'ir.actions.act_url',
            'url': '/l10n_pl_ksef/certificate/%s/certificate' % self.id,
            'target': 'download',
        }

    def action_download_private_key(self):
        """Download the private key; KSeF managers only (checked again when the file is served)."""
        self.ensure_one()
        self._check_may_export_private_key()
        return {
            'type': 'ir.actions.act_url',
            'url': '/l10n_pl_ksef/certificate/%s/private_key' % self.id,
            'target': 'download',
        }

    def _check_may_export_private_key(self):
        if not self.env.user.has_group(KSEF_MANAGER_GROUP):
            raise AccessError(self.env._("Only KSeF managers can download private keys."))

    def _export_certificate_pem(self):
        """``(filename, PEM bytes)`` of the certificate."""
        self.ensure_one()
        return '%s.crt' % self._file_stem(), ksef_certificates.certificate_to_pem(self._get_certificate())

    def _export_private_key_pem(self):
        """``(filename, PKCS#8 PEM bytes)`` of the private key; managers only, logged in the chatter.

        Served straight from memory by the controller: the clear key is never
        written to an attachment or any other table.
        """
        self.ensure_one()
        self._check_may_export_private_key()
        pem = ksef_certificates.private_key_to_pem(self._get_private_key())
        self.message_post(body=self.env._("Private key downloaded by %(user)s.", user=self.env.user.name))
        return '%s.key' % self._file_stem(), pem

    def _file_stem(self):
        return 'ksef-%s' % (self.serial_number or self.id)

    def action_revoke(self):
        """Revoke a KSeF-issued certificate in KSeF, then mark it revoked here."""
        for record in self:
            if record.source == 'enrolled' and record.serial_number and record.ksef_status == 'active':
                client = record.company_id._l10n_pl_ksef_credentials_client(
                    record.environment, exclude_certificate=record)
                client.revoke_certificate(record.serial_number, reason='Unspecified')
            record.ksef_status = 'revoked'
            record.company_id._l10n_pl_ksef_forget_tokens()
            record.message_post(body=self.env._("Certificate revoked by %(user)s.", user=self.env.user.name))
        return True

    def action_open_portal(self):
        return self.company_id._l10n_pl_ksef_action_open_portal()

    # ------------------------------------------------------------------ enrollment

    def action_check_enrollment(self):
        """Ask KSeF again about pending enrollments (button and cron)."""
        for record in self.filtered(lambda c: c.ksef_status == 'pending'):
            client = record.company_id._l10n_pl_ksef_credentials_client(record.environment, exclude_certificate=record)
            record._l10n_pl_ksef_complete_enrollment(client)
        return True

    @api.model
    def _l10n_pl_ksef_enroll(self, company, client, name, certificate_type, key_type='EC'):
        """Ask KSeF (``client`` logged in by XAdES) for a certificate of ``certificate_type`` with a
        CSR made here; the private key is stored encrypted at once and never leaves Odoo.

        Returns the ``ksef.certificate``: active when KSeF issued it in time, else pending (the
        "Check enrollment" button or the daily cron completes it).
        """
        try:
            enrollment_data = client.get_enrollment_data()
            csr_der, private_key = ksef_certificates.build_csr(enrollment_data, key_type)
            reference = client.enroll_certificate(name, certificate_type, csr_der)
        except ksef_certificates.CertificateError as error:
            raise UserError(certificate_error_message(self.env, error)) from None
        except KsefError as error:
            raise_enrollment_error(self.env, error)
        pending = self.sudo().create({
            'name': name,
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            'use_authentication': certificate_type == 'Authentication',
            'use_offline': certificate_type == 'Offline',
            'source': 'enrolled',
            'ksef_status': 'pending',
            'enrollment_reference': reference,
            'private_key_encrypted': self._encrypt_private_key(private_key),
        }).sudo(False)
        try:
            pending._l10n_pl_ksef_complete_enrollment(client)
        except UserError as error:
            # Keep the pending record and its key: KSeF may still issue the certificate.
            pending.message_post(body=str(error))
        return pending

    def _l10n_pl_ksef_complete_enrollment(self, client, attempts=ENROLLMENT_POLL_ATTEMPTS, sleep=time.sleep):
        """Poll the enrollment a few times; when issued, retrieve and fill in the certificate.

        Returns True when the certificate is stored, False while KSeF still processes it.
        Raises a UserError (and marks the record revoked) when KSeF rejected the request.
        """
        self.ensure_one()
        status = {}
        for attempt in range(attempts):
            try:
                status = client.get_enrollment_status(self.enrollment_reference)
            except KsefError as error:
                raise_ksef_error(self.env, error, self.env._("report the enrollment status"))
            code = (status.get('status') or {}).get('code')
            if code != 100:
                break
            if attempt + 1 < attempts:
                sleep(ENROLLMENT_POLL_SECONDS)
        code = (status.get('status') or {}).get('code')
        if code == 100 or not status:
            self.message_post(body=self.env._("KSeF is still processing the enrollment; check again later."))
            return False
        if code != 200:
            description = (status.get('status') or {}).get('description') or ''
            self.ksef_status = 'revoked'
            self.message_post(body=self.env._(
                "KSeF rejected the enrollment (%(code)s): %(description)s", code=code, description=description))
            return False
        serial = status.get('certificateSerialNumber')
        try:
            items = client.retrieve_certificates([serial])
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("hand over the issued certificate"))
        if not items:
            raise UserError(self.env._(
                "KSeF issued certificate %(serial)s but did not return it. Check the enrollment again later.",
                serial=serial))
        certificate = ksef_certificates.load_certificate(items[0]['certificate'])
        private_key = self._get_private_key()
        if not ksef_certificates.keys_match(certificate, private_key):
            raise UserError(self.env._(
                "The certificate KSeF returned does not match the key generated for this request. "
                "Request a new certificate."))
        values = self._prepare_values(certificate)
        values.update(ksef_status='active', subject_identifier_type='certificateSubject')
        self.write(values)
        self.message_post(body=self.env._("Certificate %(serial)s issued by KSeF.", serial=serial))
        return True
