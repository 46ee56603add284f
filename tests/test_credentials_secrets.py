"""Secrets at rest: encryption, choosing credentials, access rights, and absence from a database dump."""
import base64
import datetime
import os
import subprocess
from unittest.mock import patch

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, UserError
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools.misc import exec_pg_environ, find_pg_tool

from odoo.addons.l10n_pl_ksef.models import ksef_secret_store
from odoo.addons.l10n_pl_ksef.tests.credentials_common import COMPANY_NIP, KsefCredentialsCommon

TOKEN_VALUE = '20251010-EC-1A2B3C4D5E-6F7A8B9C0D-EF|nip-%s|0123456789abcdef0123456789abcdef' % COMPANY_NIP


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsSecretStore(KsefCredentialsCommon):

    def test_round_trip_and_ciphertext(self):
        stored = ksef_secret_store.encrypt_secret(self.env, TOKEN_VALUE)
        self.assertTrue(stored.startswith('fernet:'))
        self.assertNotIn(TOKEN_VALUE, stored)
        self.assertNotIn(TOKEN_VALUE.split('|')[-1], stored)
        self.assertEqual(ksef_secret_store.decrypt_secret(self.env, stored), TOKEN_VALUE.encode())
        # Fernet is randomised: the same secret never gives the same column value twice.
        self.assertNotEqual(stored, ksef_secret_store.encrypt_secret(self.env, TOKEN_VALUE))

    def test_missing_key_is_a_clear_error(self):
        with patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: ''}), \
                patch.dict(ksef_secret_store.config.options, {ksef_secret_store.CONFIG_OPTION: ''}):
            with self.assertRaisesRegex(UserError, 'ODOO_KSEF_ENCRYPTION_KEY') as caught:
                ksef_secret_store.encrypt_secret(self.env, TOKEN_VALUE)
        self.assertIn('ksef_encryption_key', str(caught.exception))

    def test_server_option_is_used_when_no_environment_variable(self):
        key = base64.urlsafe_b64encode(b'k' * 32).decode()
        with patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: ''}), \
                patch.dict(ksef_secret_store.config.options, {ksef_secret_store.CONFIG_OPTION: key}):
            stored = ksef_secret_store.encrypt_secret(self.env, 'secret-value')
            self.assertEqual(ksef_secret_store.decrypt_secret(self.env, stored), b'secret-value')

    def test_invalid_key_error_does_not_echo_the_key(self):
        with patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: 'not-a-fernet-key-XYZ'}):
            with self.assertRaises(UserError) as caught:
                ksef_secret_store.encrypt_secret(self.env, TOKEN_VALUE)
        self.assertNotIn('not-a-fernet-key-XYZ', str(caught.exception))

    def test_other_key_cannot_decrypt_and_rotation_keeps_old_values(self):
        stored = ksef_secret_store.encrypt_secret(self.env, TOKEN_VALUE)
        current = os.environ[ksef_secret_store.ENV_VARIABLE]
        other = base64.urlsafe_b64encode(b'o' * 32).decode()
        with patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: other}):
            with self.assertRaisesRegex(UserError, 'another key'):
                ksef_secret_store.decrypt_secret(self.env, stored)
        # Rotation: new key first, old key still listed.
        with patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: '%s,%s' % (other, current)}):
            self.assertEqual(ksef_secret_store.decrypt_secret(self.env, stored), TOKEN_VALUE.encode())


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsChoice(KsefCredentialsCommon):
    """``res.company._l10n_pl_ksef_get_auth_credentials()`` for both methods and the error cases."""

    def _token(self, **values):
        return self.env['ksef.token'].create({
            'name': 'Odoo token', 'company_id': self.company.id, 'environment': 'test',
            'token': TOKEN_VALUE, 'reference_number': '20251010-EC-1A2B3C4D5E-6F7A8B9C0D-EF', **values})

    def test_token_branch(self):
        token = self._token()
        self.assertTrue(token.has_token)
        self.assertFalse(token.token, "the write-only field never reads back the secret")
        credentials = self.company._l10n_pl_ksef_get_auth_credentials()
        self.assertEqual(credentials, {'method': 'token', 'nip': COMPANY_NIP, 'token': TOKEN_VALUE})

    def test_token_of_another_environment_is_not_used(self):
        self._token(environment='demo')
        with self.assertRaisesRegex(UserError, 'No KSeF token'):
            self.company._l10n_pl_ksef_get_auth_credentials()

    def test_expired_token_blocks_with_what_to_renew(self):
        self._token(name='Old token', valid_until=fields.Datetime.now() - datetime.timedelta(days=1))
        with self.assertRaisesRegex(UserError, 'Old token expired') as caught:
            self.company._l10n_pl_ksef_get_auth_credentials()
        self.assertIn('new KSeF token', str(caught.exception))

    def test_revoked_token_is_refused(self):
        self._token(name='Revoked one', ksef_status='Revoked')
        with self.assertRaisesRegex(UserError, 'Revoked one was revoked'):
            self.company._l10n_pl_ksef_get_auth_credentials()

    def test_newest_usable_token_wins(self):
        self._token(name='Expired', valid_until=fields.Datetime.now() - datetime.timedelta(days=1),
                    reference_number='REF-1')
        self._token(name='Good', token='good-token-value', reference_number='REF-2')
        self.assertEqual(self.company._l10n_pl_ksef_get_auth_credentials()['token'], 'good-token-value')

    def test_missing_nip_is_explained(self):
        self._token()
        self.company.vat = False
        with self.assertRaisesRegex(UserError, 'NIP'):
            self.company._l10n_pl_ksef_get_auth_credentials()

    def test_certificate_branch(self):
        certificate, key = self.make_certificate(key_type='RSA')
        self.store_certificate(certificate, key)
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        credentials = self.company._l10n_pl_ksef_get_auth_credentials()
        self.assertEqual(credentials['method'], 'certificate')
        self.assertEqual(credentials['nip'], COMPANY_NIP)
        self.assertEqual(credentials['certificate'], certificate)
        self.assertEqual(credentials['private_key'].private_numbers(), key.private_numbers())
        self.assertEqual(credentials['subject_identifier_type'], 'certificateSubject')

    def test_expired_certificate_blocks_with_what_to_renew(self):
        certificate, key = self.expired_certificate()
        self.store_certificate(certificate, key, name='Seal 2024')
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        with self.assertRaisesRegex(UserError, 'Seal 2024.*expired') as caught:
            self.company._l10n_pl_ksef_get_auth_credentials()
        self.assertIn('new certificate', str(caught.exception))

    def test_offline_only_certificate_is_not_used_to_log_in(self):
        certificate, key = self.make_certificate(purpose='Offline')
        offline = self.store_certificate(certificate, key, use_authentication=False, use_offline=True)
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        with self.assertRaisesRegex(UserError, 'No KSeF authentication certificate'):
            self.company._l10n_pl_ksef_get_auth_credentials()
        self.assertEqual(self.company._l10n_pl_ksef_get_offline_certificate(), offline)

    def test_portal_of_the_environment(self):
        action = self.company._l10n_pl_ksef_action_open_portal()
        self.assertEqual(action['url'], 'https://ap-test.ksef.mf.gov.pl')
        self.company.l10n_pl_ksef_environment = 'prod'
        self.assertEqual(self.company._l10n_pl_ksef_action_open_portal()['url'], 'https://ap.ksef.mf.gov.pl')
        self.company.write({'l10n_pl_ksef_environment': 'custom', 'l10n_pl_ksef_custom_url': 'http://127.0.0.1:9/v2'})
        with self.assertRaisesRegex(UserError, 'no KSeF web portal'):
            self.company._l10n_pl_ksef_action_open_portal()

    def test_local_revocation_of_an_uploaded_certificate(self):
        certificate, key = self.make_certificate()
        record = self.store_certificate(certificate, key, name='Lost laptop')
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        record.action_revoke()  # not issued by KSeF: nothing to call, only stop using it
        self.assertEqual(record.state, 'revoked')
        with self.assertRaisesRegex(UserError, 'Lost laptop was revoked'):
            self.company._l10n_pl_ksef_get_auth_credentials()

    def test_accountant_gets_credentials_server_side_only(self):
        """Sending as an accountant works (sudo inside), but the secret columns stay unreadable."""
        self._token()
        company = self.company.with_user(self.accountant)
        self.assertEqual(company._l10n_pl_ksef_get_auth_credentials()['token'], TOKEN_VALUE)


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsAccessRights(KsefCredentialsCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        certificate, key = cls.make_certificate()
        cls.certificate = cls.env['ksef.certificate']._create_from_objects(cls.company, certificate, key)
        cls.token = cls.env['ksef.token'].create({
            'name': 'Odoo token', 'company_id': cls.company.id, 'token': TOKEN_VALUE})

    def test_accountant_cannot_read_secret_columns(self):
        for record, secret_field in ((self.certificate, 'private_key_encrypted'), (self.token, 'token_encrypted')):
            as_accountant = record.with_user(self.accountant)
            self.assertTrue(as_accountant.read(['name']))  # the record itself is visible
            with self.assertRaises(AccessError):
                as_accountant.read([secret_field])
            with self.assertRaises(AccessError):
                as_accountant.search_read([('id', '=', record.id)], [secret_field])
            self.assertNotIn(secret_field, as_accountant.fields_get())
            # A default read (as the web client's RPC does) silently leaves the secret out.
            self.assertNotIn(secret_field, as_accountant.read()[0])
            self.assertNotIn(secret_field, as_accountant.search_read([('id', '=', record.id)])[0])
            with self.assertRaises(AccessError):
                as_accountant.search([(secret_field, '!=', False)])

    def test_accountant_cannot_change_or_export_credentials(self):
        with self.assertRaises(AccessError):
            self.token.with_user(self.accountant).write({'name': 'renamed'})
        with self.assertRaises(AccessError):
            self.certificate.with_user(self.accountant).unlink()
        with self.assertRaises(AccessError):
            self.certificate.with_user(self.accountant).action_download_private_key()
        with self.assertRaises(AccessError):
            self.env['ksef.certificate.upload'].with_user(self.accountant).create({'company_id': self.company.id})

    def test_rpc_read_as_accountant_leaves_secrets_out(self):
        """The JSON-RPC path (``web_read``/``web_search_read``) of the accountant never carries ciphertext."""
        token = self.token.with_user(self.accountant)
        spec = {name: {} for name in token.fields_get()}
        values = token.web_read(spec)[0]
        self.assertNotIn('token_encrypted', values)
        self.assertNotIn(TOKEN_VALUE, repr(values))
        result = token.web_search_read([('id', '=', token.id)], spec)
        self.assertNotIn('token_encrypted', result['records'][0])

    def test_saving_a_token_never_echoes_it(self):
        """``web_save`` (the form's save RPC) returns the record: the typed token must not come back."""
        token = self.env['ksef.token'].with_user(self.manager)
        spec = {'name': {}, 'token': {}, 'has_token': {}}
        values = token.web_save({'name': 'Pasted', 'company_id': self.company.id, 'token': 'pasted-secret-1'},
                                spec)[0]
        self.assertEqual(values['has_token'], True)
        self.assertFalse(values['token'])
        record = token.browse(values['id'])
        values = record.web_save({'token': 'pasted-secret-2'}, spec)[0]
        self.assertFalse(values['token'])
        self.assertEqual(record._get_token_value(), 'pasted-secret-2')

    def test_manager_reads_ciphertext_only(self):
        values = self.token.with_user(self.manager).read(['token_encrypted', 'token'])[0]
        self.assertTrue(values['token_encrypted'].startswith('fernet:'))
        self.assertNotIn(TOKEN_VALUE, repr(values))
        self.assertFalse(values['token'])

    def test_other_company_sees_nothing(self):
        other = self.setup_other_company(name='Other company')['company']
        user = self.accountant
        user.write({'company_ids': [(4, other.id)], 'company_id': other.id})
        visible = self.env['ksef.token'].with_user(user).with_context(allowed_company_ids=[other.id]).search([])
        self.assertNotIn(self.token, visible)
        self.assertIn(self.token, self.env['ksef.token'].with_user(user).with_context(
            allowed_company_ids=[self.company.id]).search([]))


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsNotInDump(KsefCredentialsCommon):
    """Secrets never reach the database in clear.

    Two checks, because test transactions are never committed and so are invisible to pg_dump:
    1. inside the test transaction, the raw column values (read with SQL after a flush) are ciphertext;
    2. records written through the ORM on a separate, *committed* cursor (on the template's main
       company), followed by a real ``pg_dump`` of the test database: neither the private key nor
       the token appear in it, in any encoding we store.  The committed rows are deleted afterwards.
    """

    def _secret_forms(self, private_key):
        pem = self.key_pem(private_key)
        body = b''.join(pem.splitlines()[1:-1])  # the base64 body, whatever the line breaks
        return [TOKEN_VALUE.encode(), TOKEN_VALUE.split('|')[-1].encode(), body[:64], body[-64:]]

    def test_raw_columns_hold_ciphertext(self):
        certificate, key = self.make_certificate(key_type='RSA')
        record = self.env['ksef.certificate']._create_from_objects(self.company, certificate, key)
        token = self.env['ksef.token'].create({'name': 'Odoo token', 'company_id': self.company.id,
                                               'token': TOKEN_VALUE})
        self.env.flush_all()
        self.env.cr.execute('SELECT private_key_encrypted FROM ksef_certificate WHERE id = %s', [record.id])
        stored_key = self.env.cr.fetchone()[0]
        self.env.cr.execute('SELECT token_encrypted FROM ksef_token WHERE id = %s', [token.id])
        stored_token = self.env.cr.fetchone()[0]
        for stored in (stored_key, stored_token):
            self.assertTrue(stored.startswith('fernet:'))
            for form in self._secret_forms(key):
                self.assertNotIn(form.decode(), stored)
        # The chatter/tracking must not have copied the token either.
        self.env.cr.execute("SELECT count(*) FROM mail_tracking_value WHERE old_value_char LIKE %s "
                            "OR new_value_char LIKE %s", ['%' + TOKEN_VALUE[-20:] + '%'] * 2)
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_committed_secrets_absent_from_pg_dump(self):
        dbname = self.env.cr.dbname
        certificate, key = self.make_certificate(key_type='RSA')
        created = {}
        # A real (non-test) cursor: its commit is visible to pg_dump.
        with db_connect(dbname).cursor() as cr:
            cr.execute("SELECT 1 FROM ir_config_parameter WHERE key = %s", [ksef_secret_store.KEY_CHECK_PARAMETER])
            created['key_check'] = not cr.fetchone()  # made by the first secret below: removed afterwards
            env = api.Environment(cr, SUPERUSER_ID, {})
            main_company = env.ref('base.main_company')
            created['certificate'] = env['ksef.certificate']._create_from_objects(
                main_company, certificate, key, name='dump-check').id
            created['token'] = env['ksef.token'].create({
                'name': 'dump-check', 'company_id': main_company.id, 'token': TOKEN_VALUE}).id
            cr.commit()
        try:
            dump = subprocess.run(
                [find_pg_tool('pg_dump'), '--data-only', '--no-owner', dbname],
                env=exec_pg_environ(), capture_output=True, check=True, timeout=300).stdout
            self.assertIn(b'dump-check', dump, "the committed rows must be in the dump for the check to mean anything")
            self.assertIn(b'fernet:', dump)
            for form in self._secret_forms(key):
                self.assertNotIn(form, dump)
        finally:
            with db_connect(dbname).cursor() as cr:
                cr.execute('DELETE FROM ksef_certificate WHERE id = %s', [created['certificate']])
                cr.execute('DELETE FROM ksef_token WHERE id = %s', [created['token']])
                cr.execute("DELETE FROM mail_message WHERE model IN ('ksef.certificate', 'ksef.token') "
                           "AND res_id IN %s", [(created['certificate'], created['token'])])
                if created.get('key_check'):
                    cr.execute("DELETE FROM ir_config_parameter WHERE key = %s",
                               [ksef_secret_store.KEY_CHECK_PARAMETER])
                cr.commit()
