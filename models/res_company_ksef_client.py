"""One authenticated ``KsefClient`` per company, built from its settings and stored tokens."""
import datetime
import logging
import time

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol import Environment, KsefClient, RateLimiter
from ..ksef_protocol.errors import KsefError
from .ksef_secret_store import decrypt_secret, encrypt_secret

_logger = logging.getLogger(__name__)

#: Renew the access token when it has less than this left (a session call must not hit expiry).
ACCESS_TOKEN_MARGIN = datetime.timedelta(minutes=2)
#: Keys fetched less than this long ago are re-used (KSeF announces rotations weeks ahead).
PUBLIC_KEYS_MAX_AGE_SECONDS = 6 * 3600
#: Seconds a token/certificate authentication may be polled before giving up for this run.
AUTH_WAIT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 30.0
#: Longest Retry-After the client may wait for in-process; longer ones end the cron run.
MAX_IN_PROCESS_RETRY_WAIT = 5.0


def _to_naive_utc(value):
    """ORM datetimes are naive UTC; the protocol returns aware UTC datetimes."""
    if not value:
        return False
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


class ResCompany(models.Model):
    _inherit = 'res.company'

    # ------------------------------------------------------------------
    # Environment
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_get_environment(self):
        """The ``ksef_protocol.Environment`` selected in the settings; a clear error when unusable."""
        self.ensure_one()
        if self.l10n_pl_ksef_environment == 'custom':
            try:
                return Environment.custom(self.l10n_pl_ksef_custom_url or '')
            except ValueError:
                raise UserError(self.env._(
                    "The KSeF API URL of %(company)s is not valid (%(url)s). Enter an absolute http(s) URL "
                    "such as http://127.0.0.1:8123/v2 in Settings > Invoicing > KSeF.",
                    company=self.name, url=self.l10n_pl_ksef_custom_url or self.env._("empty"))) from None
        return Environment.get(self.l10n_pl_ksef_environment)

    def _l10n_pl_ksef_environment_key(self):
        """Identifies where stored tokens and sessions belong (they are useless elsewhere)."""
        self.ensure_one()
        return '%s|%s' % (self.l10n_pl_ksef_environment, self._l10n_pl_ksef_get_environment().api_url)

    # ------------------------------------------------------------------
    # Client
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_get_client(self, authenticated=True):
        """Return a ``ksef_protocol.KsefClient`` for this company's KSeF environment.

        With ``authenticated`` the client carries a valid access token: the stored one
        when it is still valid, else one obtained with the stored refresh token, else a
        fresh authentication with ``_l10n_pl_ksef_get_auth_credentials()``. New tokens are
        stored encrypted. Public keys are cached on the company.

        :raises UserError: when the settings or credentials are missing or wrong.
        :raises ksef_protocol.errors.KsefError: when KSeF cannot be reached or refuses.
        """
        self.ensure_one()
        # A server worker must not sleep through a long Retry-After: it raises, and the cron
        # is re-triggered for that moment instead.
        client = KsefClient(self._l10n_pl_ksef_get_environment(), timeout=HTTP_TIMEOUT_SECONDS,
                            max_retry_wait=MAX_IN_PROCESS_RETRY_WAIT, limiter=self._l10n_pl_ksef_rate_limiter())
        self._l10n_pl_ksef_load_public_keys(client)
        if authenticated:
            self._l10n_pl_ksef_authenticate(client)
        return client

    def _l10n_pl_ksef_rate_limiter(self):
        """A limiter whose state is shared by every run and worker talking for this company's context."""
        self.ensure_one()
        context_key = '%s|%s' % (self._l10n_pl_ksef_environment_key(), self.vat or self.id)
        # Wall-clock time: the history is compared across processes.
        return RateLimiter(clock=time.time, store=self.env['ksef.rate.limit.state']._store(context_key))

    def _l10n_pl_ksef_load_public_keys(self, client):
        cache = self.l10n_pl_ksef_public_keys or {}
        if cache.get('env') == self._l10n_pl_ksef_environment_key() and cache.get('keys') \
                and time.time() - cache.get('fetched_at', 0) < PUBLIC_KEYS_MAX_AGE_SECONDS:
            client.load_public_keys(cache['keys'], fetched_at=cache['fetched_at'])

    def _l10n_pl_ksef_store_public_keys(self, client, force=False):
        """Fetch (when needed) and cache the public keys the client uses; returns them."""
        keys = client.get_public_keys(force=force)
        self.sudo().l10n_pl_ksef_public_keys = {
            'env': self._l10n_pl_ksef_environment_key(),
            'fetched_at': client._public_keys_fetched_at or time.time(),
            'keys': [key.to_dict() for key in keys],
        }
        return keys

    def _l10n_pl_ksef_authenticate(self, client):
        """Give ``client`` a valid access token (stored, refreshed or new), storing what changed."""
        company = self.sudo()
        env_key = self._l10n_pl_ksef_environment_key()
        now = fields.Datetime.now()
        if company.l10n_pl_ksef_token_env_key != env_key:
            company._l10n_pl_ksef_forget_tokens()
        if company.l10n_pl_ksef_access_token and company.l10n_pl_ksef_access_token_valid_until \
                and company.l10n_pl_ksef_access_token_valid_until > now + ACCESS_TOKEN_MARGIN:
            client.access_token = decrypt_secret(self.env, company.l10n_pl_ksef_access_token).decode()
            client.limiter.update_from_api(company.l10n_pl_ksef_rate_limits)
            return
        if company.l10n_pl_ksef_refresh_token and company.l10n_pl_ksef_refresh_token_valid_until \
                and company.l10n_pl_ksef_refresh_token_valid_until > now + ACCESS_TOKEN_MARGIN:
            refresh_token = decrypt_secret(self.env, company.l10n_pl_ksef_refresh_token).decode()
            try:
                tokens = client.refresh_access_token(refresh_token)
            except KsefError as error:
                if error.http_status not in (400, 401, 403):
                    raise
                # The refresh token was revoked or expired on KSeF's side: authenticate again.
                _logger.info("KSeF refresh token of company %s refused (HTTP %s); re-authenticating",
                             self.id, error.http_status)
            else:
                client.access_token = tokens.access_token
                company._l10n_pl_ksef_store_tokens(tokens, env_key)
                company._l10n_pl_ksef_adopt_rate_limits(client)
                return
        credentials = self._l10n_pl_ksef_get_auth_credentials()
        keys_before = client._public_keys_fetched_at
        try:
            if credentials['method'] == 'certificate':
                tokens = client.authenticate_with_certificate(
                    credentials['nip'], credentials['certificate'], credentials['private_key'],
                    subject_identifier_type=credentials.get('subject_identifier_type', 'certificateSubject'),
                    wait=AUTH_WAIT_SECONDS)
            else:
                tokens = client.authenticate_with_ksef_token(credentials['nip'], credentials['token'],
                                                             wait=AUTH_WAIT_SECONDS)
        finally:
            # Keys fetched during the login (first use, or again after a rotation: 21470) are kept even
            # when the login then fails for another reason: the next attempt must not use retired keys.
            if client._public_keys is not None and client._public_keys_fetched_at != keys_before:
                self._l10n_pl_ksef_store_public_keys(client)
        client.access_token = tokens.access_token
        company._l10n_pl_ksef_store_tokens(tokens, env_key)
        company._l10n_pl_ksef_adopt_rate_limits(client)

    def _l10n_pl_ksef_adopt_rate_limits(self, client):
        """Keep to the limits KSeF sets for this context (``GET /rate-limits``), read once per token.

        They are the documented ones on production; KSeF may raise them for a context (on TE with
        ``/testdata/rate-limits``, on production on request). Unread, the documented ones apply.
        """
        try:
            limits = client.get_rate_limits(apply=True)
        except KsefError as error:
            _logger.info("KSeF rate limits of company %s not read (%s): the documented ones apply", self.id, error)
            limits = False
        self.sudo().l10n_pl_ksef_rate_limits = limits or False

    def _l10n_pl_ksef_store_tokens(self, tokens, env_key):
        """Persist ``ksef_protocol.AuthTokens`` encrypted (refresh token kept when not renewed)."""
        vals = {
            'l10n_pl_ksef_access_token': encrypt_secret(self.env, tokens.access_token),
            'l10n_pl_ksef_access_token_valid_until': _to_naive_utc(tokens.access_token_valid_until)
            or fields.Datetime.now() + datetime.timedelta(minutes=10),
            'l10n_pl_ksef_token_env_key': env_key,
        }
        if tokens.refresh_token:
            vals.update({
                'l10n_pl_ksef_refresh_token': encrypt_secret(self.env, tokens.refresh_token),
                'l10n_pl_ksef_refresh_token_valid_until': _to_naive_utc(tokens.refresh_token_valid_until),
            })
        self.sudo().write(vals)

    def _l10n_pl_ksef_forget_access_token(self):
        """Drop the stored access token (KSeF answered 401): the next client refreshes or re-authenticates."""
        self.sudo().write({'l10n_pl_ksef_access_token': False, 'l10n_pl_ksef_access_token_valid_until': False})

    def _l10n_pl_ksef_forget_tokens(self):
        """Drop all stored tokens (environment changed, or credentials replaced)."""
        self.sudo().write({
            'l10n_pl_ksef_access_token': False, 'l10n_pl_ksef_access_token_valid_until': False,
            'l10n_pl_ksef_refresh_token': False, 'l10n_pl_ksef_refresh_token_valid_until': False,
            'l10n_pl_ksef_token_env_key': False, 'l10n_pl_ksef_rate_limits': False,
        })

    # ------------------------------------------------------------------
    # Cron: keep access tokens fresh
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_cron_refresh_tokens(self):
        """Refresh access tokens that expire before the next run, for companies that have one."""
        soon = fields.Datetime.now() + datetime.timedelta(minutes=15)
        companies = self.sudo().search([
            ('l10n_pl_ksef_refresh_token', '!=', False),
            ('l10n_pl_ksef_access_token_valid_until', '<', soon),
        ])
        for company in companies:
            try:
                company._l10n_pl_ksef_get_client(authenticated=True)
            except (KsefError, UserError) as error:
                _logger.warning("KSeF token refresh failed for company %s: %s", company.id, error)
