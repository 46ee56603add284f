"""The certificate upload wizard: every accepted format and every refusal, each with a clear message."""
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import new_test_user

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.tests.credentials_common import COMPANY_NIP, OTHER_NIP, KsefCredentialsCommon, b64


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsUpload(KsefCredentialsCommon):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certificate, cls.key = cls.make_certificate(key_type='RSA', kind='seal')

    def assert_stored(self, record, certificate, key):
        self.assertEqual(record.fingerprint, ksef_certificates.fingerprint_sha256(certificate))
        self.assertEqual(record.nip, COMPANY_NIP)
        self.assertEqual(record.identifier_kind, 'VATPL')
        self.assertEqual(record.state, 'valid')
        self.assertEqual(record.environment, 'test')
        self.assertEqual(record.subject_identifier_type, 'certificateSubject')
        self.assertTrue(record.has_private_key)
        self.assertEqual(record._get_private_key().private_numbers(), key.private_numbers())

    def test_pem_certificate_and_pem_key(self):
        record = self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key))
        self.assert_stored(record, self.certificate, self.key)
        self.assertEqual(record.key_type, 'RSA')
        self.assertEqual(record.key_size, 2048)

    def test_der_certificate(self):
        certificate, key = self.make_certificate(key_type='EC', kind='personal')
        record = self.upload(self.cert_der(certificate), 'personal.cer', self.key_pem(key))
        self.assertEqual(record.identifier_kind, 'TINPL')
        self.assertEqual(record.key_type, 'EC')
        self.assertEqual(record._get_certificate(), certificate)

    def test_encrypted_key_with_password(self):
        record = self.upload(self.cert_pem(self.certificate), 'seal.pem', self.key_pem(self.key, 'S3cret!'),
                             password='S3cret!')
        self.assert_stored(record, self.certificate, self.key)

    def test_single_pem_with_certificate_and_key(self):
        bundle = self.cert_pem(self.certificate) + self.key_pem(self.key)
        record = self.upload(bundle, 'both.pem')
        self.assert_stored(record, self.certificate, self.key)

    def test_pkcs12(self):
        bundle = ksef_certificates.to_pkcs12(self.certificate, self.key, 'p12-pass')
        record = self.upload(bundle, 'seal.p12', password='p12-pass')
        self.assert_stored(record, self.certificate, self.key)

    def test_wizard_forgets_files_and_password(self):
        wizard = self.save_wizard('ksef.certificate.upload', {
            'company_id': self.company.id, 'certificate_file': b64(self.cert_pem(self.certificate)).decode(),
            'certificate_filename': 'a.crt', 'key_file': b64(self.key_pem(self.key, 'pw')).decode(),
            'password': 'pw'})
        self.assertTrue(wizard.password_encrypted.startswith('fernet:'), "saved encrypted, never in clear")
        self.assertTrue(wizard.key_file_encrypted.startswith('fernet:'))
        self.assertFalse(wizard.password, "the password never reads back")
        wizard.action_upload()
        self.env.flush_all()
        self.env.cr.execute("SELECT certificate_file_encrypted, key_file_encrypted, password_encrypted "
                            "FROM ksef_certificate_upload WHERE id = %s", [wizard.id])
        self.assertEqual(self.env.cr.fetchone(), (None, None, None), "even the ciphertext is wiped after use")

    def test_retry_after_wrong_password_keeps_the_files(self):
        """As in the browser: the dialog stays open after a refusal; fixing the password is enough."""
        wizard = self.save_wizard('ksef.certificate.upload', {
            'company_id': self.company.id, 'certificate_file': b64(self.cert_pem(self.certificate)).decode(),
            'certificate_filename': 'a.crt', 'key_file': b64(self.key_pem(self.key, 'right')).decode(),
            'key_filename': 'a.key', 'password': 'wrong'})
        with self.assertRaisesRegex(UserError, 'password is missing or wrong'):
            wizard.action_upload()
        self.assertFalse(self.env['ksef.certificate'].search([('company_id', '=', self.company.id)]))
        wizard.web_save({'password': 'right'}, {'password': {}})
        self.env.invalidate_all()
        record = self.env['ksef.certificate'].browse(wizard.action_upload()['res_id'])
        self.assert_stored(record, self.certificate, self.key)

    def test_wizard_rows_are_visible_to_their_creator_only(self):
        other_manager = new_test_user(
            self.env, login='ksef_manager_2', groups='l10n_pl_ksef.group_ksef_manager',
            company_id=self.company.id, company_ids=[self.company.id])
        wizard = self.save_wizard('ksef.certificate.upload', {
            'company_id': self.company.id, 'certificate_file': b64(self.cert_pem(self.certificate)).decode(),
            'certificate_filename': 'a.crt', 'password': 'secret'}, user=self.manager)
        self.assertFalse(self.env['ksef.certificate.upload'].with_user(other_manager).search(
            [('id', '=', wizard.id)]))
        with self.assertRaises(AccessError):
            wizard.with_user(other_manager).read(['password_encrypted'])

    def test_environment_is_chosen_in_the_dialog(self):
        record = self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key),
                             environment='demo')
        self.assertEqual(record.environment, 'demo')

    # ------------------------------------------------------------------ refusals

    def test_wrong_password_of_encrypted_key(self):
        with self.assertRaisesRegex(UserError, 'password is missing or wrong') as caught:
            self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key, 'right'),
                        password='wrong-guess')
        self.assertNotIn('wrong-guess', str(caught.exception))

    def test_missing_password_of_encrypted_key(self):
        with self.assertRaisesRegex(UserError, 'password'):
            self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key, 'right'))

    def test_wrong_password_of_pkcs12(self):
        bundle = ksef_certificates.to_pkcs12(self.certificate, self.key, 'p12-pass')
        with self.assertRaisesRegex(UserError, 'PKCS#12 file cannot be opened'):
            self.upload(bundle, 'seal.pfx', password='nope')

    def test_key_not_matching(self):
        _other_certificate, other_key = self.make_certificate(key_type='RSA')
        with self.assertRaisesRegex(UserError, 'does not belong to this certificate'):
            self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(other_key))

    def test_expired(self):
        certificate, key = self.expired_certificate()
        with self.assertRaisesRegex(UserError, 'expired on'):
            self.upload(self.cert_pem(certificate), 'old.crt', self.key_pem(key))
        self.assertFalse(self.env['ksef.certificate'].search([('company_id', '=', self.company.id)]))

    def test_wrong_nip(self):
        certificate, key = self.make_certificate(nip=OTHER_NIP)
        with self.assertRaisesRegex(UserError, 'NIP %s but the company' % OTHER_NIP):
            self.upload(self.cert_pem(certificate), 'other.crt', self.key_pem(key))

    def test_wrong_nip_confirmed_as_fingerprint_certificate(self):
        certificate, key = self.make_certificate(nip=OTHER_NIP)
        record = self.upload(self.cert_pem(certificate), 'other.crt', self.key_pem(key), identity_confirmed=True)
        self.assertEqual(record.subject_identifier_type, 'certificateFingerprint')

    def test_corrupt_certificate_file(self):
        with self.assertRaisesRegex(UserError, 'damaged or not of the expected kind'):
            self.upload(b'-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n',
                        'broken.crt', self.key_pem(self.key))
        with self.assertRaisesRegex(UserError, 'PKCS#12 file cannot be opened'):
            self.upload(b'\x30\x82garbage' * 10, 'broken.p12', password='x')

    def test_key_file_given_as_certificate(self):
        with self.assertRaisesRegex(UserError, 'damaged or not of the expected kind'):
            self.upload(self.key_pem(self.key), 'swapped.crt', self.cert_pem(self.certificate))

    def test_missing_key_file(self):
        with self.assertRaisesRegex(UserError, 'private key file'):
            self.upload(self.cert_pem(self.certificate), 'seal.crt')

    def test_key_usage_must_fit_the_purpose(self):
        offline_certificate, key = self.make_certificate(purpose='Offline')
        with self.assertRaisesRegex(UserError, 'cannot be used to log in'):
            self.upload(self.cert_pem(offline_certificate), 'offline.crt', self.key_pem(key))
        record = self.upload(self.cert_pem(offline_certificate), 'offline.crt', self.key_pem(key),
                             use_authentication=False, use_offline=True)
        self.assertEqual(self.company._l10n_pl_ksef_get_offline_certificate(), record)
        with self.assertRaisesRegex(UserError, 'cannot sign offline invoices'):
            self.upload(self.cert_pem(self.certificate), 'auth.crt', self.key_pem(self.key),
                        use_authentication=False, use_offline=True)

    def test_same_certificate_twice(self):
        self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key))
        with self.assertRaisesRegex(UserError, 'already stored'):
            self.upload(self.cert_der(self.certificate), 'seal.cer', self.key_pem(self.key))

    def test_manager_uploads_and_downloads_key_with_a_chatter_trace(self):
        record = self.upload(self.cert_pem(self.certificate), 'seal.crt', self.key_pem(self.key), user=self.manager)
        self.assertEqual(record.create_uid, self.manager)
        filename, pem = record.with_user(self.manager)._export_private_key_pem()
        self.assertTrue(filename.endswith('.key'))
        self.assertEqual(ksef_certificates.load_private_key(pem).private_numbers(), self.key.private_numbers())
        self.assertIn('Private key downloaded by', record.message_ids[0].body)
        filename, pem = record.with_user(self.accountant)._export_certificate_pem()
        self.assertEqual(ksef_certificates.load_certificate(pem), self.certificate)

    def test_generate_test_certificate_only_on_test_environments(self):
        wizard = self.env['ksef.certificate.generate'].create({
            'company_id': self.company.id, 'kind': 'personal', 'key_type': 'RSA'})
        record = self.env['ksef.certificate'].browse(wizard.action_generate()['res_id'])
        self.assertEqual((record.source, record.nip, record.identifier_kind, record.key_type),
                         ('generated', COMPANY_NIP, 'TINPL', 'RSA'))
        self.company.l10n_pl_ksef_environment = 'prod'
        wizard = self.env['ksef.certificate.generate'].create({'company_id': self.company.id})
        with self.assertRaisesRegex(UserError, 'only on the KSeF TEST environment'):
            wizard.action_generate()
