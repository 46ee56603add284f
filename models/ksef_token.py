"""KSeF tokens of a company, one record per token, the token itself encrypted at rest."""
import datetime
import time

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import KsefClient
from ..ksef_protocol._dates import parse_datetime
from ..ksef_protocol.errors import KsefAuthFailed, KsefError
from .ksef_certificate import EXPIRY_WARNING_DAYS
from .ksef_credentials_errors import raise_ksef_error
from .ksef_secret_store import decrypt_secret, encrypt_secret
from .res_company import KSEF_ENVIRONMENTS

#: Last day KSeF accepts a login with a KSeF token (answer of the tax administration quoted in
#: CIRFMF/ksef-api issue 834; an extension was proposed, not enacted). The ONE place to change it.
TOKEN_LOGIN_SUNSET = datetime.date(2026, 12, 31)
#: Daily reminders to KSeF managers start this many days before the sunset.
TOKEN_SUNSET_REMINDER_DAYS = 30

# KSeF-side token statuses (GET /tokens/{ref}).
KSEF_TOKEN_STATUSES = [
    ('Pending', "Pending"),
    ('Active', "Active"),
    ('Revoking', "Revoking"),
    ('Revoked', "Revoked"),
    ('Failed', "Failed"),
]
#: A new token is polled this many times, this many seconds apart, until KSeF reports it Active.
TOKEN_STATUS_ATTEMPTS = 5
TOKEN_STATUS_SECONDS = 1.0
TOKEN_LOGIN_WAIT_SECONDS = 30.0


#: Status of a token login KSeF refuses because the token was revoked ("Token unieważniony").
TOKEN_REVOKED_STATUS = 450


def is_token_revoked_error(error):
    """True when ``error`` is KSeF refusing a token login because the token was revoked."""
    return isinstance(error, KsefAuthFailed) and error.status_code == TOKEN_REVOKED_STATUS


def _ksef_datetime(value):
    """KSeF ISO 8601 timestamp -> naive UTC datetime for the ORM (False when unreadable)."""
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return False
    return parsed and parsed.replace(tzinfo=None, microsecond=0)


class KsefToken(models.Model):
    _name = 'ksef.token'
    _description = "KSeF token"
    _inherit = ['mail.thread', 'mail.activity.mixin']
    _order = 'create_date desc, id desc'
    _check_company_auto = True

    name = fields.Char(string="Description", required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        'res.company', string="Company", required=True, index=True,
        default=lambda self: self.env.company)
    environment = fields.Selection(
        selection=KSEF_ENVIRONMENTS, string="KSeF environment", required=True,
        default=lambda self: self.env.company.l10n_pl_ksef_environment,
        help="The KSeF environment that issued the token; a token works only there.")
    # The secret: Fernet ciphertext (models/ksef_secret_store.py), managers only.
    token_encrypted = fields.Char(
        string="Encrypted token", copy=False, groups='l10n_pl_ksef.group_ksef_manager')
    # Write-only entry field: reading always returns nothing, writing encrypts.
    token = fields.Char(
        string="Token", compute='_compute_token', inverse='_inverse_token', store=False,
        groups='l10n_pl_ksef.group_ksef_manager',
        help="Paste the KSeF token here; it is encrypted and never shown again.")
    has_token = fields.Boolean(compute='_compute_has_token', string="Token stored")
    reference_number = fields.Char(
        string="KSeF reference number", copy=False, index=True,
        help="Reference number KSeF gave the token; needed to check or revoke it.")
    permissions = fields.Char(
        string="Permissions", help="Comma-separated KSeF permissions, e.g. InvoiceRead, InvoiceWrite.")
    ksef_status = fields.Selection(
        selection=KSEF_TOKEN_STATUSES, string="Status in KSeF", default='Active', tracking=True)
    valid_until = fields.Datetime(
        string="Valid until", tracking=True,
        help="KSeF tokens do not expire by themselves; set a date if your policy renews them, "
             "so Odoo warns 30 and 7 days before.")
    last_checked = fields.Datetime(string="Last checked in KSeF", readonly=True)
    date_created = fields.Datetime(string="Created in KSeF", readonly=True)
    last_use_date = fields.Datetime(string="Last used in KSeF", readonly=True)
    login_ends_on = fields.Date(
        string="Token login ends", compute='_compute_login_ends_on',
        help="KSeF accepts logins with KSeF tokens only until this day: switch to certificate login before.")
    state = fields.Selection(
        selection=[
            ('valid', "Valid"),
            ('expiring', "Expiring soon"),
            ('expired', "Expired"),
            ('revoked', "Revoked"),
            ('pending', "Pending"),
        ],
        compute='_compute_state', string="State")
    expiry_warning_sent = fields.Integer(
        string="Last expiry warning (days)", copy=False, readonly=True,
        help="Smallest warning threshold (30, 7) already notified, so the cron warns once per threshold.")

    _reference_unique = models.Constraint(
        'UNIQUE(company_id, environment, reference_number)',
        "This KSeF token is already registered for the company and environment.")

    def _compute_login_ends_on(self):
        self.login_ends_on = TOKEN_LOGIN_SUNSET

    @api.depends_context('uid')
    def _compute_token(self):
        for record in self:
            record.token = False

    def _inverse_token(self):
        for record in self:
            if record.token:
                record.sudo().token_encrypted = encrypt_secret(self.env, record.token.strip())

    @api.depends('token_encrypted')
    def _compute_has_token(self):
        for record in self:
            record.has_token = bool(record.sudo().token_encrypted)

    @api.depends('valid_until', 'ksef_status')
    def _compute_state(self):
        now = fields.Datetime.now()
        for record in self:
            record.state = record._state_at(now)

    def _state_at(self, now):
        self.ensure_one()
        if self.ksef_status in ('Revoking', 'Revoked', 'Failed'):
            return 'revoked'
        if self.ksef_status == 'Pending':
            return 'pending'
        if self.valid_until and self.valid_until <= now:
            return 'expired'
        if self.valid_until and (self.valid_until - now).days < EXPIRY_WARNING_DAYS[0]:
            return 'expiring'
        return 'valid'

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get('permissions') and not isinstance(vals['permissions'], str):
                vals['permissions'] = ', '.join(vals['permissions'])
        records = super().create(vals_list)
        records._forget_clear_token()
        return records

    def write(self, vals):
        result = super().write(vals)
        if 'token' in vals:
            self._forget_clear_token()
        return result

    def _forget_clear_token(self):
        # The typed value would otherwise stay in the ORM cache and be sent back by web_save.
        self.invalidate_recordset(['token'])

    def _get_token_value(self):
        """The decrypted token (server-side only, never return it to a client)."""
        self.ensure_one()
        value = decrypt_secret(self.env, self.sudo().token_encrypted).decode('utf-8')
        if not value:
            raise UserError(self.env._(
                "The KSeF token %(name)s has no stored value. Enter the token again or generate a new one.",
                name=self.name))
        return value

    def _permission_list(self):
        self.ensure_one()
        return [item.strip() for item in (self.permissions or '').split(',') if item.strip()]

    # ------------------------------------------------------------------ KSeF actions

    def _l10n_pl_ksef_client(self):
        """A client allowed to manage this token: XAdES login, or else a login with the token itself
        (since KSeF 2.4.0 a token session may read and revoke its own token)."""
        self.ensure_one()
        company = self.company_id
        try:
            return company._l10n_pl_ksef_credentials_client(self.environment)
        except UserError:
            if not self.sudo().token_encrypted or self.state == 'revoked' \
                    or self.environment != company.l10n_pl_ksef_environment:
                raise
        client = KsefClient(company._l10n_pl_ksef_get_environment())
        try:
            client.authenticate_with_ksef_token(company._l10n_pl_ksef_nip(), self._get_token_value(),
                                                wait=TOKEN_LOGIN_WAIT_SECONDS)
        except KsefError as error:
            if is_token_revoked_error(error):
                # Callers that catch the error below keep this mark (see action_refresh_status).
                self._l10n_pl_ksef_mark_revoked()
            raise_ksef_error(self.env, error, self.env._("log in with the KSeF token"))
        return client

    def _l10n_pl_ksef_wait_until_active(self, client, attempts=TOKEN_STATUS_ATTEMPTS, sleep=time.sleep):
        """Poll a freshly generated token until KSeF reports it Active (bounded); returns its status."""
        self.ensure_one()
        status = self.ksef_status
        for attempt in range(attempts):
            self._l10n_pl_ksef_update_status(client)
            status = self.ksef_status
            if status != 'Pending':
                break
            if attempt + 1 < attempts:
                sleep(TOKEN_STATUS_SECONDS)
        return status

    def _l10n_pl_ksef_update_status(self, client):
        self.ensure_one()
        try:
            details = client.get_ksef_token(self.reference_number)
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("report the token status"))
        self._l10n_pl_ksef_apply_ksef_view(details)

    def _l10n_pl_ksef_apply_ksef_view(self, details):
        """Mirror what KSeF says of the token (GET /tokens or /tokens/{ref}): status, permissions, dates."""
        self.ensure_one()
        values = {'last_checked': fields.Datetime.now()}
        status = details.get('status')
        if status in dict(KSEF_TOKEN_STATUSES):
            values['ksef_status'] = status
        if details.get('requestedPermissions'):
            values['permissions'] = ', '.join(details['requestedPermissions'])
        for key, field_name in (('dateCreated', 'date_created'), ('lastUseDate', 'last_use_date')):
            if details.get(key):
                values[field_name] = _ksef_datetime(details[key])
        if 'description' in details and not self.name:
            values['name'] = details['description']
        revoked_now = status in ('Revoked', 'Revoking', 'Failed') and self.ksef_status not in ('Revoked', 'Revoking', 'Failed')
        self.write(values)
        if status in ('Revoked', 'Revoking', 'Failed') and (revoked_now or self.sudo().token_encrypted):
            self._l10n_pl_ksef_mark_revoked(status=status)

    def _l10n_pl_ksef_mark_revoked(self, status='Revoked', reason=None):
        """KSeF no longer accepts these tokens (login error 450 "Token unieważniony", or the tokens API
        says so): mark them revoked, forget their value and the sessions opened with them.

        Public for the login path; works whatever the user (the queue runs as a cron user).
        """
        for record in self.sudo():
            record.write({'ksef_status': status, 'token_encrypted': False})
            record.company_id._l10n_pl_ksef_forget_tokens()
            record.message_post(body=reason or self.env._(
                "KSeF reports this token as revoked: it can no longer log in. Switch to certificate login "
                "(Settings > Invoicing > KSeF credentials > Switch to certificate login)."))
        return True

    def action_revoke(self):
        """Revoke the token in KSeF (DELETE /tokens/{ref}), then forget its value here."""
        for record in self:
            if record.reference_number and record.ksef_status not in ('Revoked', 'Revoking', 'Failed'):
                client = record._l10n_pl_ksef_client()
                try:
                    client.revoke_ksef_token(record.reference_number)
                except KsefError as error:
                    raise_ksef_error(self.env, error, self.env._("revoke the KSeF token"))
            record.sudo().write({'ksef_status': 'Revoked', 'token_encrypted': False})
            # Sessions opened with it must not outlive it here: the next send re-authenticates.
            record.company_id._l10n_pl_ksef_forget_tokens()
            record.message_post(body=self.env._("KSeF token revoked by %(user)s.", user=self.env.user.name))
        return True

    def action_refresh_status(self):
        """Read the token's status from KSeF (GET /tokens/{ref}); a token KSeF refuses as revoked is marked so."""
        for record in self.filtered('reference_number'):
            try:
                client = record._l10n_pl_ksef_client()
            except UserError:
                if record.ksef_status != 'Revoked':
                    raise
                continue
            record._l10n_pl_ksef_update_status(client)
        return True

    def action_open_portal(self):
        return self.company_id._l10n_pl_ksef_action_open_portal()

    @api.model
    def _l10n_pl_ksef_sync_from_ksef(self, company):
        """Mirror the context's tokens as KSeF sees them (status, permissions, dates).

        With a certificate: the whole list (GET /tokens), adding tokens made elsewhere (e.g. in the
        KSeF portal) without a value. Without one (token-only company): each stored token reads its
        own status with its own session (GET /tokens/{ref}, KSeF >= 2.4.0); a token KSeF refuses as
        revoked (450) is marked revoked. Returns the number of tokens KSeF reported.
        """
        try:
            company._l10n_pl_ksef_credentials_client(company.l10n_pl_ksef_environment)
        except UserError:
            return self._l10n_pl_ksef_sync_own_statuses(company)
        return self._l10n_pl_ksef_sync_list(company)

    @api.model
    def _l10n_pl_ksef_sync_own_statuses(self, company):
        tokens = self.search(company._l10n_pl_ksef_environment_domain() + [
            ('reference_number', '!=', False), ('ksef_status', 'not in', ('Revoked', 'Revoking', 'Failed'))])
        count = 0
        for token in tokens.filtered('has_token'):
            try:
                client = token._l10n_pl_ksef_client()
            except UserError:
                if token.ksef_status == 'Revoked':
                    count += 1
                    continue
                raise
            token._l10n_pl_ksef_update_status(client)
            count += 1
        return count

    @api.model
    def _l10n_pl_ksef_sync_list(self, company):
        environment = company.l10n_pl_ksef_environment
        client = company._l10n_pl_ksef_credentials_client(environment)
        statuses = dict(KSEF_TOKEN_STATUSES)
        existing = {token.reference_number: token for token in self.search([
            ('company_id', '=', company.id), ('environment', '=', environment),
            ('reference_number', '!=', False), ('active', 'in', (True, False))])}
        count = 0
        try:
            for item in client.iter_ksef_tokens():
                count += 1
                values = {
                    'ksef_status': item.get('status') if item.get('status') in statuses else 'Failed',
                    'permissions': ', '.join(item.get('requestedPermissions') or []),
                    'last_checked': fields.Datetime.now(),
                    'date_created': item.get('dateCreated') and _ksef_datetime(item['dateCreated']),
                    'last_use_date': item.get('lastUseDate') and _ksef_datetime(item['lastUseDate']),
                }
                record = existing.get(item.get('referenceNumber'))
                if record:
                    record._l10n_pl_ksef_apply_ksef_view(item)
                else:
                    self.create({
                        **values,
                        'name': item.get('description') or item.get('referenceNumber'),
                        'company_id': company.id,
                        'environment': environment,
                        'reference_number': item.get('referenceNumber'),
                    })
        except KsefError as error:
            raise_ksef_error(self.env, error, self.env._("list the KSeF tokens"))
        return count
