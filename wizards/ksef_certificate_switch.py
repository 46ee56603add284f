"""Switch a company from KSeF-token login to certificate (XAdES) login before token login ends.

KSeF issues its certificates only to a subject logged in by XAdES (certyfikaty-KSeF.md: "Uwierzytelnienie
przy użyciu tokena systemowego KSeF nie pozwala na złożenie wniosku o certyfikat", error 25001), so the
request is made after a one-time login with a qualified certificate (on TEST and the local emulator, a
self-signed test certificate made here). The token is only checked, so the company keeps sending while
the switch is prepared. The CSR and its private key are made in Odoo; the key never leaves it.
"""
from odoo import fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import KsefClient
from ..ksef_protocol import certificates as ksef_certificates
from ..ksef_protocol.errors import KsefError
from ..models.ksef_credentials_errors import certificate_error_message, raise_ksef_error
from ..models.ksef_token import TOKEN_LOGIN_SUNSET, is_token_revoked_error
from .ksef_certificate_generate import TEST_ENVIRONMENTS
from .ksef_certificate_request import _CERTIFICATE_NAME

class KsefCertificateSwitch(models.TransientModel):
    _name = 'ksef.certificate.switch'
    _description = "Switch to KSeF certificate login"

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    environment = fields.Selection(related='company_id.l10n_pl_ksef_environment')
    is_test_environment = fields.Boolean(compute='_compute_is_test_environment')
    sunset_date = fields.Date(string="Token login ends", default=lambda self: TOKEN_LOGIN_SUNSET, readonly=True)
    name = fields.Char(
        string="Certificate name", required=True, default="Odoo KSeF",
        help="5 to 100 letters, digits, spaces, '_' or '-'; shown in KSeF's certificate list.")
    request_offline = fields.Boolean(
        string="Also request an Offline certificate",
        help="An Offline certificate signs the KOD II of invoices issued offline.")
    key_type = fields.Selection(
        selection=[('EC', "EC P-256 (recommended)"), ('RSA', "RSA 2048")],
        string="Key", required=True, default='EC')
    login_certificate_id = fields.Many2one(
        'ksef.certificate', string="Log in once with",
        domain="[('company_id', '=', company_id), ('use_authentication', '=', True), "
               "('state', 'in', ('valid', 'expiring'))]",
        help="KSeF issues certificates only after a login with a qualified electronic signature or seal. "
             "Upload that certificate first; on TEST and the emulator Odoo can make a test one.")

    def _compute_is_test_environment(self):
        for wizard in self:
            wizard.is_test_environment = wizard.company_id.l10n_pl_ksef_environment in TEST_ENVIRONMENTS

    # ------------------------------------------------------------------ steps

    def _check_token_login(self):
        """Log in with the company's token: the switch is made while it still works.

        Returns ``(token, None)``, or ``(token, error)`` when KSeF refused the token as revoked
        (the token is then marked revoked; the caller must not raise, so the mark is kept).
        """
        company = self.company_id
        token = company._l10n_pl_ksef_get_token_record()
        client = KsefClient(company._l10n_pl_ksef_get_environment())
        try:
            client.authenticate_with_ksef_token(company._l10n_pl_ksef_nip(), token._get_token_value(), wait=30.0)
        except KsefError as error:
            if is_token_revoked_error(error):
                token._l10n_pl_ksef_mark_revoked()
                return token, error
            raise_ksef_error(self.env, error, self.env._("log in with the KSeF token"))
        return token, None

    def _existing_login_certificate(self):
        """The certificate for the one-time XAdES login, or an empty recordset on TEST/emulator
        (a self-signed one is made there); elsewhere raises the exact next step."""
        company = self.company_id
        if self.login_certificate_id:
            return self.login_certificate_id
        try:
            return company._l10n_pl_ksef_get_authentication_certificate()
        except UserError:
            if company.l10n_pl_ksef_environment not in TEST_ENVIRONMENTS:
                raise UserError(self.env._(
                    "KSeF issues certificates only after a login with a qualified electronic signature or "
                    "qualified seal; a KSeF token is not accepted for this (KSeF error 25001). Next step: "
                    "upload the qualified certificate of the company (seal) or of a person holding "
                    "credentials-management rights for it (Settings > Invoicing > KSeF credentials > Upload "
                    "certificate, .p12/.pfx or .crt with .key), then start this switch again.")) from None
        return self.env['ksef.certificate']

    def _make_test_login_certificate(self):
        """A short-lived self-signed certificate (accepted by KSeF TEST and the emulator only)."""
        company = self.company_id
        try:
            certificate, private_key = ksef_certificates.generate_test_certificate(
                nip=company._l10n_pl_ksef_nip(), kind='seal', key_type=self.key_type, purpose='Authentication',
                valid_days=30, organization=company.name, given_name="Test", surname=company.name[:64] or "KSeF")
        except ksef_certificates.CertificateError as error:
            raise UserError(certificate_error_message(self.env, error)) from None
        return self.env['ksef.certificate']._create_from_objects(
            company, certificate, private_key, name=self.env._("Test login for the switch"),
            use_authentication=True, source='generated', subject_identifier_type='certificateSubject')

    def _check_limits(self, client):
        try:
            limits = client.get_certificate_limits()
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("report the certificate limits"))
        wanted = 2 if self.request_offline else 1
        enrollment = limits.get('enrollment') or {}
        certificate = limits.get('certificate') or {}
        if limits.get('canRequest') is False or enrollment.get('remaining', wanted) < wanted \
                or certificate.get('remaining', wanted) < wanted:
            raise UserError(self.env._(
                "KSeF does not allow more certificates for this identity now (requests left: %(requests)s, "
                "active certificates left: %(certificates)s). Next step: revoke KSeF certificates you no longer "
                "use (KSeF credentials > Certificates > Revoke, or in the KSeF taxpayer application), then start "
                "this switch again.",
                requests=enrollment.get('remaining', '?'), certificates=certificate.get('remaining', '?')))

    def action_switch(self):
        """Token check, XAdES login, certificate request(s), switch to XAdES, connection test."""
        self.ensure_one()
        company = self.company_id
        if not _CERTIFICATE_NAME.match(self.name or ''):
            raise UserError(self.env._(
                "The certificate name must have 5 to 100 characters: letters, digits, spaces, '_' or '-'."))
        login_certificate = self._existing_login_certificate()
        token, revoked = self._check_token_login()
        if revoked:
            return self._notify('danger', self.env._(
                "KSeF refused the token %(name)s: it was revoked in KSeF, so the company cannot send with it any "
                "more. Odoo marked it revoked. Next step: upload a qualified certificate of the company "
                "(Settings > Invoicing > KSeF credentials > Upload certificate), choose it here and start "
                "the switch again.", name=token.name), close=False)
        made_here = not login_certificate
        if made_here:
            login_certificate = self._make_test_login_certificate()
        client = company._l10n_pl_ksef_xades_client(certificate=login_certificate)
        self._check_limits(client)
        certificates = self.env['ksef.certificate']
        authentication = certificates._l10n_pl_ksef_enroll(
            company, client, self.name, 'Authentication', self.key_type)
        if self.request_offline:
            certificates._l10n_pl_ksef_enroll(
                company, client, '%s Offline' % self.name[:92], 'Offline', self.key_type)
        if authentication.ksef_status != 'active':
            # No raise: the pending request and its encrypted key must be kept.
            return self._notify('warning', self.env._(
                "KSeF accepted the certificate request but has not issued the certificate yet. The company "
                "keeps logging in with its token. Next step: open the certificate %(name)s and press 'Check "
                "enrollment' in a few minutes (the daily job does it too), then start this switch again.",
                name=authentication.name), close=False)
        company.write({'l10n_pl_ksef_auth_method': 'certificate'})
        company._l10n_pl_ksef_forget_tokens()
        try:
            company._l10n_pl_ksef_get_client(authenticated=True)
        except (KsefError, UserError) as error:
            # Keep the token login (the new certificate does not work yet) and the issued certificate.
            company.write({'l10n_pl_ksef_auth_method': 'token'})
            company._l10n_pl_ksef_forget_tokens()
            return self._notify('danger', self.env._(
                "The KSeF certificate was issued and stored, but logging in with it failed, so the company "
                "keeps its token login: %(error)s", error=getattr(error, 'message', None) or str(error)),
                close=False)
        if made_here:
            login_certificate.active = False  # the one-time login is done; the KSeF certificate takes over
        token.message_post(body=self.env._(
            "Company switched to KSeF certificate login with %(name)s by %(user)s.",
            name=authentication.name, user=self.env.user.name))
        return self._notify('success', self.env._(
            "%(company)s now logs in to KSeF with the certificate %(name)s (valid until %(date)s). "
            "The connection was tested.", company=company.name, name=authentication.name,
            date=fields.Date.to_string(authentication.date_end)))

    def _notify(self, kind, message, close=True):
        params = {'type': kind, 'message': message, 'sticky': kind != 'success'}
        if close:
            params['next'] = {'type': 'ir.actions.act_window_close'}
        return {'type': 'ir.actions.client', 'tag': 'display_notification', 'params': params}
