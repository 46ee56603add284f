"""Which KSeF credential a company uses, expiry warnings, and XAdES logins for credential management."""
import datetime
import logging
import re

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date

from ..ksef_protocol import KsefClient
from ..ksef_protocol.errors import KsefError
from .ksef_credentials_errors import raise_ksef_error
from .ksef_certificate import EXPIRY_WARNING_DAYS
from .ksef_secret_store import reencrypt_all
from .ksef_token import TOKEN_LOGIN_SUNSET, TOKEN_SUNSET_REMINDER_DAYS

_logger = logging.getLogger(__name__)

#: Seconds a credential-management XAdES login may poll before giving up.
XADES_LOGIN_WAIT_SECONDS = 30.0


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_certificate_ids = fields.One2many('ksef.certificate', 'company_id', string="KSeF certificates")
    l10n_pl_ksef_token_ids = fields.One2many('ksef.token', 'company_id', string="KSeF tokens")
    l10n_pl_ksef_credentials_warning = fields.Text(
        string="KSeF credentials warning", compute='_compute_l10n_pl_ksef_credentials_warning')
    l10n_pl_ksef_token_sunset_notice = fields.Text(
        string="KSeF token login sunset", compute='_compute_l10n_pl_ksef_token_sunset_notice')

    # ------------------------------------------------------------------ identity

    def _l10n_pl_ksef_nip(self):
        """The company's NIP as 10 digits (``PL`` prefix and separators removed); UserError when missing."""
        self.ensure_one()
        digits = re.sub(r'\D', '', re.sub(r'^\s*PL', '', self.vat or '', flags=re.IGNORECASE))
        if len(digits) != 10:
            raise UserError(self.env._(
                "The company %(company)s has no valid Polish NIP (10 digits) in its Tax ID. "
                "Enter it on the company before using KSeF.", company=self.name))
        return digits

    # ------------------------------------------------------------------ choosing credentials

    def _l10n_pl_ksef_environment_domain(self, environment=None):
        self.ensure_one()
        return [('company_id', '=', self.id),
                ('environment', '=', environment or self.l10n_pl_ksef_environment)]

    def _l10n_pl_ksef_get_authentication_certificate(self, environment=None, exclude=None):
        """Best certificate to log in with (valid, with a key, latest expiry first); raises what to do otherwise.

        ``exclude``: a certificate not to use (e.g. the one being revoked).
        """
        self.ensure_one()
        candidates = self.env['ksef.certificate'].sudo().search(
            self._l10n_pl_ksef_environment_domain(environment)
            + [('use_authentication', '=', True), ('ksef_status', '!=', 'pending')],
            order='date_end desc, id desc')
        if exclude:
            candidates -= exclude.sudo()
        usable = candidates.filtered(lambda c: c.state in ('valid', 'expiring') and c.has_private_key)
        if usable:
            return usable[0]
        if candidates:
            # Explain the most relevant one (the latest expiring) so the user knows what to renew.
            candidates[0]._check_usable_for('authentication')
        raise UserError(self.env._(
            "No KSeF authentication certificate for %(company)s in the %(environment)s environment. "
            "Upload a certificate (or generate a test certificate) in Settings > Invoicing > KSeF credentials.",
            company=self.name, environment=self._l10n_pl_ksef_environment_label(environment)))

    def _l10n_pl_ksef_get_token_record(self, environment=None):
        """The KSeF token to log in with (latest usable one); raises what to do otherwise."""
        self.ensure_one()
        tokens = self.env['ksef.token'].sudo().search(
            self._l10n_pl_ksef_environment_domain(environment), order='create_date desc, id desc')
        usable = tokens.filtered(lambda t: t.state in ('valid', 'expiring') and t.token_encrypted)
        if usable:
            return usable[0]
        if tokens:
            # Explain the newest one: that is the one the user expects to be used.
            token = tokens[0]
            if token.state in ('valid', 'expiring'):
                raise UserError(self.env._(
                    "The KSeF token %(name)s is known from KSeF but its value is not stored in Odoo. "
                    "Enter the token, or generate a new one, in Settings > Invoicing > KSeF credentials.",
                    name=token.name))
            if token.state == 'expired':
                raise UserError(self.env._(
                    "The KSeF token %(name)s expired on %(date)s. Generate or enter a new KSeF token in "
                    "Settings > Invoicing > KSeF credentials.",
                    name=token.name, date=fields.Datetime.to_string(token.valid_until)))
            if token.state == 'pending':
                raise UserError(self.env._(
                    "The KSeF token %(name)s is not active in KSeF yet. Refresh its status in a moment.",
                    name=token.name))
            raise UserError(self.env._(
                "The KSeF token %(name)s was revoked. Generate or enter a new KSeF token in "
                "Settings > Invoicing > KSeF credentials.", name=token.name))
        raise UserError(self.env._(
            "No KSeF token for %(company)s in the %(environment)s environment. Enter an existing token or "
            "generate one in Settings > Invoicing > KSeF credentials, or switch authentication to certificate.",
            company=self.name, environment=self._l10n_pl_ksef_environment_label(environment)))

    def _l10n_pl_ksef_get_auth_credentials(self):
        """Credentials to authenticate with in the company's current environment.

        Returns ``{'method': 'token', 'nip', 'token'}`` or ``{'method': 'certificate', 'nip',
        'certificate', 'private_key', 'subject_identifier_type'}`` (cryptography objects).
        Secrets are decrypted here, server-side, whoever the user is: never return this to a client.

        :raises UserError: saying what to add or renew when nothing usable is stored.
        """
        self.ensure_one()
        nip = self._l10n_pl_ksef_nip()
        if self.l10n_pl_ksef_auth_method == 'certificate':
            certificate = self._l10n_pl_ksef_get_authentication_certificate()
            return {
                'method': 'certificate',
                'nip': nip,
                'certificate': certificate._get_certificate(),
                'private_key': certificate._get_private_key(),
                'subject_identifier_type': certificate.subject_identifier_type,
            }
        token = self._l10n_pl_ksef_get_token_record()
        return {'method': 'token', 'nip': nip, 'token': token._get_token_value()}

    def _l10n_pl_ksef_get_offline_certificate(self):
        """The valid Offline certificate (for KOD II) of the current environment, or an empty recordset."""
        self.ensure_one()
        candidates = self.env['ksef.certificate'].sudo().search(
            self._l10n_pl_ksef_environment_domain() + [('use_offline', '=', True), ('ksef_status', '=', 'active')],
            order='date_end desc, id desc')
        usable = candidates.filtered(lambda c: c.state in ('valid', 'expiring') and c.has_private_key)
        # KSeF verifies KOD II against its own registry of Offline certificates (kody-qr.md), so a
        # KSeF-issued one wins over an uploaded or generated one.
        return (usable.filtered(lambda c: c.source == 'enrolled') or usable)[:1]

    def _l10n_pl_ksef_environment_label(self, environment=None):
        self.ensure_one()
        selection = dict(self._fields['l10n_pl_ksef_environment']._description_selection(self.env))
        return selection.get(environment or self.l10n_pl_ksef_environment, environment)

    # ------------------------------------------------------------------ clients for credential management

    def _l10n_pl_ksef_xades_client(self, certificate=None, exclude_certificate=None):
        """A ``KsefClient`` logged in by XAdES with ``certificate`` (default: the best authentication one).

        Certificate enrollment and KSeF-token generation require an XAdES login (KSeF error 25001
        with a token login), so this does not reuse the sending client's token session.
        """
        self.ensure_one()
        certificate = certificate or self._l10n_pl_ksef_get_authentication_certificate(exclude=exclude_certificate)
        if not certificate.use_authentication:
            raise UserError(self.env._(
                "The certificate %(name)s is not an Authentication certificate; choose one that is.",
                name=certificate.name))
        certificate._check_usable_for('authentication')
        client = KsefClient(self._l10n_pl_ksef_get_environment())
        try:
            client.authenticate_with_certificate(
                self._l10n_pl_ksef_nip(), certificate._get_certificate(), certificate._get_private_key(),
                subject_identifier_type=certificate.subject_identifier_type, wait=XADES_LOGIN_WAIT_SECONDS)
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._(
                "log in with the certificate %(name)s", name=certificate.name))
        return client

    def _l10n_pl_ksef_credentials_client(self, environment, exclude_certificate=None):
        """An XAdES-authenticated client for managing credentials of ``environment``."""
        self.ensure_one()
        if environment != self.l10n_pl_ksef_environment:
            raise UserError(self.env._(
                "This credential belongs to the %(credential_env)s environment but the company now uses "
                "%(company_env)s. Switch the KSeF environment in the settings first.",
                credential_env=self._l10n_pl_ksef_environment_label(environment),
                company_env=self._l10n_pl_ksef_environment_label()))
        return self._l10n_pl_ksef_xades_client(exclude_certificate=exclude_certificate)

    def _l10n_pl_ksef_action_open_portal(self):
        """Open the KSeF taxpayer web portal of the company's environment."""
        self.ensure_one()
        environment = self._l10n_pl_ksef_get_environment()
        if not environment.portal_url:
            raise UserError(self.env._(
                "The %(environment)s environment has no KSeF web portal (it is a local emulator or custom URL).",
                environment=self._l10n_pl_ksef_environment_label()))
        return {'type': 'ir.actions.act_url', 'url': environment.portal_url, 'target': 'new'}

    # ------------------------------------------------------------------ expiry

    @api.depends_context('company')
    def _compute_l10n_pl_ksef_credentials_warning(self):
        for company in self:
            company.l10n_pl_ksef_credentials_warning = '\n'.join(company._l10n_pl_ksef_credential_warnings())

    def _l10n_pl_ksef_expiring_credentials(self, days=EXPIRY_WARNING_DAYS[0]):
        """Active certificates and tokens of the current environment that expire within ``days`` (or did)."""
        self.ensure_one()
        limit = fields.Datetime.now() + datetime.timedelta(days=days)
        domain = self._l10n_pl_ksef_environment_domain()
        certificates = self.env['ksef.certificate'].sudo().search(
            domain + [('ksef_status', '=', 'active'), ('date_end', '!=', False), ('date_end', '<', limit)])
        tokens = self.env['ksef.token'].sudo().search(
            domain + [('ksef_status', 'in', ('Active', 'Pending')), ('valid_until', '!=', False),
                      ('valid_until', '<', limit)])
        return certificates, tokens

    def _l10n_pl_ksef_credential_warnings(self):
        """Translated lines for the settings page about credentials that expire within 30 days or expired."""
        self.ensure_one()
        now = fields.Datetime.now()
        certificates, tokens = self._l10n_pl_ksef_expiring_credentials()
        lines = []
        for certificate in certificates:
            if certificate.date_end <= now:
                lines.append(self.env._(
                    "Certificate %(name)s expired on %(date)s: upload or request a new one.",
                    name=certificate.name, date=fields.Date.to_string(certificate.date_end)))
            else:
                lines.append(self.env._(
                    "Certificate %(name)s expires in %(days)s days (%(date)s): renew it.",
                    name=certificate.name, days=(certificate.date_end - now).days,
                    date=fields.Date.to_string(certificate.date_end)))
        for token in tokens:
            if token.valid_until <= now:
                lines.append(self.env._(
                    "KSeF token %(name)s expired on %(date)s: generate or enter a new one.",
                    name=token.name, date=fields.Date.to_string(token.valid_until)))
            else:
                lines.append(self.env._(
                    "KSeF token %(name)s expires in %(days)s days (%(date)s): renew it.",
                    name=token.name, days=(token.valid_until - now).days,
                    date=fields.Date.to_string(token.valid_until)))
        return lines

    @api.model
    def _l10n_pl_ksef_cron_check_credential_expiry(self):
        """Post one activity per credential when it comes within 30 days, then again within 7 days of expiry."""
        now = fields.Datetime.now()
        companies = self.sudo().search([])
        for company in companies:
            certificates, tokens = company._l10n_pl_ksef_expiring_credentials()
            for record, end in [(c, c.date_end) for c in certificates] + [(t, t.valid_until) for t in tokens]:
                threshold = self._l10n_pl_ksef_warning_threshold(end, now)
                if threshold and (not record.expiry_warning_sent or threshold < record.expiry_warning_sent):
                    company._l10n_pl_ksef_schedule_expiry_activity(record, end, now)
                    record.expiry_warning_sent = threshold

        self._l10n_pl_ksef_cron_check_pending_enrollments()

    @api.model
    def _l10n_pl_ksef_cron_check_pending_enrollments(self):
        """Complete certificate enrollments KSeF had not finished when they were requested."""
        pending = self.env['ksef.certificate'].sudo().search([('ksef_status', '=', 'pending')])
        for certificate in pending:
            try:
                certificate.action_check_enrollment()
            except (UserError, KsefError) as error:
                _logger.info("KSeF enrollment %s not completed yet: %s", certificate.enrollment_reference, error)

    @api.model
    def _l10n_pl_ksef_warning_threshold(self, end, now):
        """The smallest warning threshold (30 or 7 days; 0 when expired) that ``end`` has reached."""
        remaining = end - now
        if remaining <= datetime.timedelta(0):
            return -1
        reached = [days for days in EXPIRY_WARNING_DAYS if remaining <= datetime.timedelta(days=days)]
        return min(reached) if reached else 0

    def _l10n_pl_ksef_schedule_expiry_activity(self, record, end, now):
        """A to-do on ``record`` (certificate or token) for a KSeF manager of the company."""
        self.ensure_one()
        managers = self.env.ref('l10n_pl_ksef.group_ksef_manager').sudo().all_user_ids.filtered(
            lambda user: self in user.company_ids and not user.share)
        responsible = (record.create_uid & managers) or managers[:1] or self.env.ref('base.user_admin')
        days = (end - now).days
        if end <= now:
            summary = self.env._("KSeF credential %(name)s has expired", name=record.name)
        else:
            summary = self.env._("KSeF credential %(name)s expires in %(days)s days", name=record.name, days=days)
        record.activity_schedule(
            'mail.mail_activity_data_todo',
            date_deadline=min(end, now + datetime.timedelta(days=1)).date(),
            summary=summary,
            note=self.env._(
                "Renew it before %(date)s: after that date invoices cannot be sent to KSeF with it.",
                date=fields.Date.to_string(end)),
            user_id=responsible.id,
        )

    # ------------------------------------------------------------------ key rotation

    @api.model
    def _l10n_pl_ksef_reencrypt_secrets(self):
        """Re-encrypt every KSeF secret with the first configured key; returns how many.

        Entry point for ``odoo shell`` (scripts/ksef_reencrypt_secrets.sh) and the settings button.
        """
        count = reencrypt_all(self.env)
        _logger.info("KSeF secrets re-encrypted with the current key: %s values", count)
        return count

    # ------------------------------------------------------------------ token login sunset

    @api.depends_context('lang')
    @api.depends('l10n_pl_ksef_auth_method')
    def _compute_l10n_pl_ksef_token_sunset_notice(self):
        for company in self:
            company.l10n_pl_ksef_token_sunset_notice = company._l10n_pl_ksef_token_sunset_text()

    def _l10n_pl_ksef_token_sunset_text(self, today=None):
        """What the settings say about the end of token login (empty once the company uses certificates)."""
        self.ensure_one()
        if self.l10n_pl_ksef_auth_method != 'token':
            return ''
        today = today or fields.Date.context_today(self)
        days = (TOKEN_LOGIN_SUNSET - today).days
        date = format_date(self.env, TOKEN_LOGIN_SUNSET)
        if days < 0:
            return self.env._(
                "KSeF token login ended on %(date)s: this company can no longer log in with a token. Use "
                "'Switch to certificate login' (it needs a qualified certificate for the one-time login).",
                date=date)
        return self.env._(
            "KSeF token login ends on %(date)s (%(days)s days left). This company still logs in with a KSeF "
            "token: use 'Switch to certificate login' so that sending does not stop.", date=date, days=days)

    def _l10n_pl_ksef_token_login_companies(self):
        """Companies still logging in with a KSeF token (with a token record in their environment)."""
        companies = self.sudo().search([('l10n_pl_ksef_auth_method', '=', 'token')])
        return companies.filtered(lambda company: self.env['ksef.token'].sudo().search_count(
            company._l10n_pl_ksef_environment_domain() + [('ksef_status', 'in', ('Active', 'Pending'))], limit=1))

    @api.model
    def _l10n_pl_ksef_cron_token_sunset_reminder(self, today=None):
        """Daily, from 30 days before the token-login sunset: a to-do for each KSeF manager of each
        company still on token login (one open reminder per manager; renewed once done)."""
        today = today or fields.Date.context_today(self)
        if (TOKEN_LOGIN_SUNSET - today).days > TOKEN_SUNSET_REMINDER_DAYS:
            return 0
        activity_type = self.env.ref('l10n_pl_ksef.mail_activity_token_sunset')
        group = self.env.ref('l10n_pl_ksef.group_ksef_manager').sudo()
        count = 0
        for company in self._l10n_pl_ksef_token_login_companies():
            token = self.env['ksef.token'].sudo().search(
                company._l10n_pl_ksef_environment_domain() + [('ksef_status', 'in', ('Active', 'Pending'))],
                order='create_date desc, id desc', limit=1)
            managers = group.all_user_ids.filtered(lambda user: company in user.company_ids and not user.share)
            for manager in managers or self.env.ref('base.user_admin'):
                if token.activity_ids.filtered(
                        lambda activity: activity.user_id == manager and activity.activity_type_id == activity_type):
                    continue
                # Written in the manager's language: the cron runs without a user language.
                localized = company.with_context(lang=manager.lang)
                token.with_context(lang=manager.lang).activity_schedule(
                    'l10n_pl_ksef.mail_activity_token_sunset',
                    date_deadline=today,
                    summary=localized.env._("Switch %(company)s to KSeF certificate login", company=company.name),
                    note=localized._l10n_pl_ksef_token_sunset_text(today),
                    user_id=manager.id,
                )
                count += 1
        return count
