"""Encryption key management: the key check value refuses a key that cannot read the database's
secrets; re-encryption moves every secret to the new key so the old one can be dropped."""
import base64
import os
from unittest.mock import patch

from cryptography.fernet import Fernet, InvalidToken

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.l10n_pl_ksef.models import ksef_secret_store

from .common import KsefEmulatorCase


def use_keys(*keys):
    return patch.dict(os.environ, {ksef_secret_store.ENV_VARIABLE: ','.join(keys)})


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsRotation(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids += cls.env.ref('l10n_pl_ksef.group_ksef_manager')
        cls.old_key = os.environ[ksef_secret_store.ENV_VARIABLE].split(',')[0]
        cls.new_key = Fernet.generate_key().decode()

    def stored_ciphertexts(self):
        self.env.flush_all()
        values = []
        for table, column in ksef_secret_store.secret_columns(self.env):
            self.env.cr.execute(SQL("SELECT %s FROM %s WHERE %s LIKE 'fernet:%%'", SQL.identifier(column),
                                    SQL.identifier(table), SQL.identifier(column)))
            values += [(table, column, row[0]) for row in self.env.cr.fetchall()]
        return values

    def send_one(self):
        move = self.create_invoice()
        move._l10n_pl_ksef_queue()
        self.process_until(move, ('accepted',))
        return move

    def test_reencryption_lets_the_old_key_go_and_sending_goes_on(self):
        self.send_one()
        # A refused upload leaves an (encrypted) wizard row: it is rotated too.
        wizard = self.env['ksef.certificate.upload'].web_save(
            {'company_id': self.company.id, 'certificate_file': base64.b64encode(b'not a certificate').decode(),
             'certificate_filename': 'x.crt', 'password': 'wizard-password'}, {})[0]
        with self.assertRaises(UserError):
            self.env['ksef.certificate.upload'].browse(wizard['id']).action_upload()
        before = self.stored_ciphertexts()
        tables = {table for table, _column, _value in before}
        self.assertTrue({'ksef_token', 'res_company', 'ksef_session', 'ksef_certificate_upload'} <= tables, tables)

        admin = self.env.ref('base.user_admin')
        with use_keys(self.new_key, self.old_key):
            result = self.env['res.config.settings'].with_user(admin).create({}) \
                .action_l10n_pl_ksef_reencrypt_secrets()
        self.assertEqual(result['params']['type'], 'success')

        after = self.stored_ciphertexts()
        self.assertEqual(len(after), len(before))
        only_new = Fernet(self.new_key.encode())
        for table, column, value in after:
            only_new.decrypt(value[len('fernet:'):].encode())  # raises InvalidToken if still under the old key
            with self.assertRaises(InvalidToken, msg="%s.%s still readable with the old key" % (table, column)):
                Fernet(self.old_key.encode()).decrypt(value[len('fernet:'):].encode())

        check = self.env['ir.config_parameter'].sudo().get_param(ksef_secret_store.KEY_CHECK_PARAMETER)
        only_new.decrypt(check[len('fernet:'):].encode())

        with use_keys(self.new_key):
            self.company._l10n_pl_ksef_forget_tokens()  # force a fresh login with the re-encrypted token
            self.send_one()
            self.assertTrue(self.env['ksef.token'].search([('company_id', '=', self.company.id)])._get_token_value())

    def test_a_key_that_cannot_read_the_secrets_is_refused(self):
        self.send_one()  # secrets (and the key check value) exist under the current key
        with use_keys(self.new_key):
            # The savepoint stands for the request's transaction, rolled back by the error.
            with self.assertRaisesRegex(UserError, 'cannot read the KSeF secrets already stored'), \
                    self.env.cr.savepoint():
                self.env['ksef.token'].create({'name': 'Under another key', 'company_id': self.company.id,
                                               'token': 'token-under-wrong-key'})
            with self.assertRaisesRegex(UserError, 'cannot read the KSeF secrets already stored'):
                self.company._l10n_pl_ksef_reencrypt_secrets()
        self.assertFalse(self.env['ksef.token'].search([('name', '=', 'Under another key')]))
        # Rotation order (new first, old after) is accepted.
        with use_keys(self.new_key, self.old_key):
            self.env['ksef.token'].create({'name': 'Under the new key', 'company_id': self.company.id,
                                           'token': 'token-under-new-key'})

    def test_without_check_value_an_existing_secret_is_the_proof(self):
        self.send_one()
        self.env['ir.config_parameter'].sudo().search(
            [('key', '=', ksef_secret_store.KEY_CHECK_PARAMETER)]).unlink()
        with use_keys(self.new_key):
            with self.assertRaisesRegex(UserError, 'cannot read the KSeF secrets already stored'):
                ksef_secret_store.encrypt_secret(self.env, 'x')
        ksef_secret_store.encrypt_secret(self.env, 'x')
        self.assertTrue(self.env['ir.config_parameter'].sudo().get_param(ksef_secret_store.KEY_CHECK_PARAMETER))
