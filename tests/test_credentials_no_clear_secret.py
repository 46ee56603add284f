"""Every credential flow, the refused ones too, then a scan of the whole database and file store:
none of the secrets the test planted (passwords, key files, private keys, KSeF tokens, access and
refresh tokens) may appear in clear, as hex or as Base64 in any text, bytea or JSON column."""
import base64

from cryptography.hazmat.primitives import serialization

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.models.ksef_secret_store import decrypt_secret
from odoo.addons.l10n_pl_ksef.tests.credentials_common import COMPANY_NIP, KsefEmulatorCredentialsCommon, b64


def encodings(secret):
    """``secret`` (bytes) as it could leak: clear, hex (both cases), Base64 at any alignment, URL-safe Base64."""
    found = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b'\0' * shift + secret)
            # Drop the blocks touched by the padding or the shift: the middle is the same in any context.
            found.add(encoded[4:-4] if shift else encoded[:-4])
    return {needle for needle in found if len(needle) >= 8}


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsNoClearSecret(KsefEmulatorCredentialsCommon):

    def refused(self, call, message):
        """A button that fails: the request's transaction (here a savepoint) is rolled back."""
        with self.assertRaisesRegex(UserError, message), self.env.cr.savepoint():
            call()

    def press(self, model, values, button):
        wizard = self.save_wizard(model, {'company_id': self.company.id, **values})
        return getattr(wizard, button)()

    def test_no_planted_secret_anywhere_in_the_database(self):
        secrets = {}
        # 1. Upload .crt + encrypted PKCS#8 .key + password.
        cert_a, key_a = self.make_certificate(key_type='EC')
        key_a_file = self.key_pem(key_a, 'Upload-Pass-7781')
        secrets.update({'password A': b'Upload-Pass-7781', 'key file A': key_a_file})
        self.upload(self.cert_pem(cert_a), 'a.crt', key_a_file, password='Upload-Pass-7781')
        # 2. .cer (DER) + encrypted PKCS#1 RSA key.
        cert_b, key_b = self.make_certificate(key_type='RSA', kind='personal', purpose='Offline')
        key_b_file = key_b.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.BestAvailableEncryption(b'Pkcs1-Pass-4410'))
        secrets.update({'password B': b'Pkcs1-Pass-4410', 'key file B': key_b_file})
        self.upload(self.cert_der(cert_b), 'b.cer', key_b_file, password='Pkcs1-Pass-4410',
                    use_authentication=False, use_offline=True)
        # 3. .p12 + password, Offline purpose refused (key usage), then accepted as Authentication.
        cert_c, key_c = self.make_certificate(key_type='RSA')
        bundle = ksef_certificates.to_pkcs12(cert_c, key_c, 'P12-Pass-5512')
        secrets.update({'password C': b'P12-Pass-5512', 'p12 file': bundle})
        self.refused(lambda: self.upload(bundle, 'c.p12', password='P12-Pass-5512', use_authentication=False,
                                         use_offline=True), 'cannot sign offline invoices')
        self.upload(bundle, 'c.p12', password='P12-Pass-5512', name='Seal p12')
        # 4. Refusals: wrong password, key of another certificate, wrong .pfx password, unreadable key.
        cert_d, key_d = self.make_certificate(key_type='EC')
        key_d_file = self.key_pem(key_d, 'Right-Pass-1200')
        secrets.update({'password D': b'Right-Pass-1200', 'wrong password': b'Wrong-Pass-3309',
                        'key file D': key_d_file})
        self.refused(lambda: self.upload(self.cert_pem(cert_d), 'd.crt', key_d_file, password='Wrong-Pass-3309'),
                     'password is missing or wrong')
        self.refused(lambda: self.upload(self.cert_pem(cert_d), 'd.crt', self.key_pem(key_a)),
                     'does not belong to this certificate')
        self.refused(lambda: self.upload(bundle, 'c.pfx', password='Wrong-Pass-3309'), 'PKCS#12 file cannot be opened')
        # 5. A token entered in its dialog, and one refused by KSeF.
        entered = self.emulator.admin('/tokens', {'nip': COMPANY_NIP, 'permissions': ['InvoiceWrite', 'InvoiceRead'],
                                                  'description': 'Entered in the dialog'})
        secrets['entered token'] = entered['token'].encode()
        self.save_wizard('ksef.token', {'name': 'Entered in the dialog', 'company_id': self.company.id,
                                        'token': entered['token'], 'reference_number': entered['referenceNumber']})
        # 6. Test certificate, KSeF certificate request, KSeF token generation (after XAdES logins).
        generated = self.env['ksef.certificate'].browse(self.press(
            'ksef.certificate.generate', {'kind': 'seal', 'key_type': 'EC'}, 'action_generate')['res_id'])
        requested = self.env['ksef.certificate'].browse(self.press(
            'ksef.certificate.request', {'name': 'Odoo KSeF scan', 'login_certificate_id': generated.id},
            'action_request')['res_id'])
        self.assertEqual(requested.ksef_status, 'active')
        made_token = self.env['ksef.token'].browse(self.press(
            'ksef.token.generate', {'description': 'Generated for the scan', 'login_certificate_id': generated.id},
            'action_generate')['res_id'])
        secrets['generated token'] = made_token._get_token_value().encode()
        # 7. Log in with the token (access and refresh tokens stored), download a key, revoke, delete.
        self.company.l10n_pl_ksef_auth_method = 'token'
        self.company._l10n_pl_ksef_get_client(authenticated=True)
        company = self.company.sudo()
        secrets['access token'] = decrypt_secret(self.env, company.l10n_pl_ksef_access_token)
        secrets['refresh token'] = decrypt_secret(self.env, company.l10n_pl_ksef_refresh_token)
        _name, downloaded = requested._export_private_key_pem()
        secrets['downloaded key'] = downloaded
        made_token.action_revoke()
        requested.action_revoke()
        self.env['ksef.certificate'].search([('name', '=', 'Seal p12')]).unlink()
        # 8. The switch wizard refused (no token value left for the revoked one is needed: another exists).
        self.refused(lambda: self.press('ksef.certificate.switch', {'name': 'x'}, 'action_switch'),
                     'certificate name must have')
        # Every private key stored or met, as raw DER (the strongest form of the secret).
        for label, key in (('key A', key_a), ('key B', key_b), ('key C', key_c), ('key D', key_d),
                           ('generated key', generated._get_private_key()),
                           ('requested key', requested._get_private_key())):
            secrets[label] = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
            secrets[label + ' PEM body'] = b''.join(ksef_certificates.private_key_to_pem(key).splitlines()[1:-1])
        self.assertTrue(all(secrets.values()))

        self.env.flush_all()
        leaks = self.scan_database(secrets) + self.scan_file_store(secrets)
        self.assertFalse(leaks, "secrets found in the database:\n%s" % '\n'.join(leaks))

    def scan_database(self, secrets):
        """Every text, varchar, json(b) and bytea column of every table of the database."""
        self.env.cr.execute("""
            SELECT c.table_name, c.column_name, c.data_type
              FROM information_schema.columns c
              JOIN information_schema.tables t
                ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
             WHERE c.table_schema = 'public'
               AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')
        """)
        columns = self.env.cr.fetchall()
        self.assertGreater(len(columns), 500, "the scan covers the whole database")
        needles = {needle: label for label, secret in secrets.items() for needle in encodings(secret)}
        patterns = ['%' + needle.decode('latin-1').replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_') + '%'
                    for needle in needles if needle.isascii()]
        raw = [needle for needle in needles]
        leaks = []
        for table, column, data_type in columns:
            if data_type == 'bytea':
                query = SQL("SELECT %s FROM %s WHERE %s IS NOT NULL", SQL.identifier(column),
                            SQL.identifier(table), SQL.identifier(column))
                self.env.cr.execute(query)
                for (value,) in self.env.cr.fetchall():
                    data = bytes(value)
                    leaks += ['%s.%s: %s' % (table, column, needles[needle]) for needle in raw if needle in data]
                continue
            self.env.cr.execute(SQL("SELECT %s::text FROM %s WHERE %s::text LIKE ANY(%s) LIMIT 5",
                                    SQL.identifier(column), SQL.identifier(table), SQL.identifier(column),
                                    patterns))
            for (value,) in self.env.cr.fetchall():
                data = value.encode('utf-8', 'replace')
                leaks += ['%s.%s: %s' % (table, column, needles[needle]) for needle in raw if needle in data]
        return leaks

    def scan_file_store(self, secrets):
        needles = {needle: label for label, secret in secrets.items() for needle in encodings(secret)}
        leaks = []
        for attachment in self.env['ir.attachment'].sudo().search([('store_fname', '!=', False)]):
            data = attachment._file_read(attachment.store_fname) or b''
            leaks += ['filestore %s (%s): %s' % (attachment.store_fname, attachment.name, label)
                      for needle, label in needles.items() if needle in data]
        return leaks

    def test_the_scan_finds_what_it_looks_for(self):
        """The scan can fail: a secret in clear, in hex, in Base64 (text, bytea, file store) is found."""
        secret = b'Planted-Secret-0042'
        partner = self.env['res.partner'].create({'name': 'Scan control', 'comment': 'x %s y' % secret.decode()})
        self.env['res.partner'].create({'name': 'Scan control hex', 'ref': secret.hex()})
        self.env['ir.attachment'].create({'name': 'control.bin', 'raw': b'head' + b64(b'..' + secret) + b'tail'})
        self.env.flush_all()
        leaks = self.scan_database({'control': secret}) + self.scan_file_store({'control': secret})
        self.assertTrue(any(leak.startswith('res_partner.comment') for leak in leaks), leaks)
        self.assertTrue(any(leak.startswith('res_partner.ref') for leak in leaks), leaks)
        self.assertTrue(any(leak.startswith('filestore') for leak in leaks), leaks)
        self.assertTrue(partner)
