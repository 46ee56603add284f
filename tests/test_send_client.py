"""The company's KSeF client: environment from settings, tokens stored encrypted, reused, refreshed."""
import datetime

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendClient(KsefEmulatorCase):

    def _stored(self, field):
        return self.company.sudo()[field]

    def _decrypted_access_token(self):
        from odoo.addons.l10n_pl_ksef.models.ksef_secret_store import decrypt_secret
        return decrypt_secret(self.env, self._stored('l10n_pl_ksef_access_token')).decode()

    def test_authenticates_once_and_stores_tokens_encrypted(self):
        client = self.company._l10n_pl_ksef_get_client()
        self.assertTrue(client.access_token)
        stored = self._stored('l10n_pl_ksef_access_token')
        self.assertTrue(stored.startswith('fernet:'))
        self.assertNotIn(client.access_token, stored)
        self.assertNotIn(client.access_token, self._stored('l10n_pl_ksef_refresh_token'))
        self.assertEqual(self._decrypted_access_token(), client.access_token)
        self.assertGreater(self._stored('l10n_pl_ksef_access_token_valid_until'), fields.Datetime.now())
        # A second client re-uses the stored token instead of authenticating again.
        again = self.company._l10n_pl_ksef_get_client()
        self.assertEqual(again.access_token, client.access_token)
        self.assertEqual(self._stored('l10n_pl_ksef_access_token'), stored)

    def test_expiring_access_token_is_refreshed_with_refresh_token(self):
        first = self.company._l10n_pl_ksef_get_client().access_token
        refresh_before = self._stored('l10n_pl_ksef_refresh_token')
        self.company.sudo().l10n_pl_ksef_access_token_valid_until = fields.Datetime.now() + datetime.timedelta(
            seconds=30)
        # The emulator's clock moves on so the refreshed token differs from the first one.
        self.emulator.admin('/clock', {'advanceSeconds': 60})
        second = self.company._l10n_pl_ksef_get_client().access_token
        self.assertNotEqual(second, first)
        self.assertEqual(self._decrypted_access_token(), second)
        self.assertEqual(self._stored('l10n_pl_ksef_refresh_token'), refresh_before,
                         "a refresh keeps the refresh token")
        # The refreshed token is accepted by KSeF for protected calls.
        self.assertIsInstance(list(self.company._l10n_pl_ksef_get_client().list_sessions()), list)

    def test_expired_refresh_token_falls_back_to_full_authentication(self):
        self.company._l10n_pl_ksef_get_client()
        refresh_before = self._stored('l10n_pl_ksef_refresh_token')
        # Our copy still looks valid, but KSeF's clock says the refresh token expired (7 days).
        self.emulator.admin('/clock', {'advanceSeconds': 8 * 24 * 3600})
        self.company.sudo().l10n_pl_ksef_access_token_valid_until = fields.Datetime.now() - datetime.timedelta(
            minutes=1)
        client = self.company._l10n_pl_ksef_get_client()
        self.assertIsInstance(list(client.list_sessions()), list)
        self.assertNotEqual(self._stored('l10n_pl_ksef_refresh_token'), refresh_before)

    def test_changing_environment_drops_tokens(self):
        first = self.company._l10n_pl_ksef_get_client().access_token
        self.company.l10n_pl_ksef_custom_url = self.emulator.base_url.replace('127.0.0.1', 'localhost')
        # Same server under another name: tokens are tied to the URL they were issued for.
        client = self.company._l10n_pl_ksef_get_client()
        self.assertNotEqual(client.access_token, first, "a new authentication, not the old token")
        self.assertEqual(self._stored('l10n_pl_ksef_token_env_key'), self.company._l10n_pl_ksef_environment_key())

    def test_invalid_custom_url_says_what_to_enter(self):
        self.company.l10n_pl_ksef_custom_url = 'localhost:8123'
        with self.assertRaisesRegex(UserError, 'absolute http'):
            self.company._l10n_pl_ksef_get_client()

    def test_missing_token_says_what_to_do(self):
        self.env['ksef.token'].sudo().search([('company_id', '=', self.company.id)]).unlink()
        with self.assertRaises(UserError):
            self.company._l10n_pl_ksef_get_client()

    def test_public_keys_cached_on_company(self):
        client = self.company._l10n_pl_ksef_get_client(authenticated=False)
        keys = self.company._l10n_pl_ksef_store_public_keys(client, force=True)
        self.assertTrue(keys)
        cache = self.company.l10n_pl_ksef_public_keys
        self.assertEqual(len(cache['keys']), len(keys))
        # A new client starts from the cache (no HTTP needed to know the keys).
        fresh = self.company._l10n_pl_ksef_get_client(authenticated=False)
        self.assertEqual([k.public_key_id for k in fresh._public_keys], [k.public_key_id for k in keys])

    def test_cron_refreshes_tokens_about_to_expire(self):
        first = self.company._l10n_pl_ksef_get_client().access_token
        self.company.sudo().l10n_pl_ksef_access_token_valid_until = fields.Datetime.now() + datetime.timedelta(
            minutes=1)
        self.emulator.admin('/clock', {'advanceSeconds': 60})
        self.env['res.company']._l10n_pl_ksef_cron_refresh_tokens()
        self.assertNotEqual(self._decrypted_access_token(), first)
        self.assertGreater(self._stored('l10n_pl_ksef_access_token_valid_until'),
                           fields.Datetime.now() + datetime.timedelta(minutes=10))
