"""Credentials against the KSeF emulator over HTTP: XAdES logins, tokens, enrollment and revocation."""
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.ksef_protocol import KsefClient
from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.ksef_protocol.errors import KsefError
from odoo.addons.l10n_pl_ksef.tests.credentials_common import COMPANY_NIP, KsefEmulatorCredentialsCommon


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsEmulator(KsefEmulatorCredentialsCommon):

    def _generate(self, key_type, kind='seal', purpose='Authentication'):
        wizard = self.env['ksef.certificate.generate'].create({
            'company_id': self.company.id, 'kind': kind, 'key_type': key_type, 'purpose': purpose})
        return self.env['ksef.certificate'].browse(wizard.action_generate()['res_id'])

    def _assert_xades_login(self, certificate):
        client = self.company._l10n_pl_ksef_xades_client(certificate=certificate)
        self.assertTrue(client.access_token)
        # The access token really works: a protected call succeeds.
        self.assertIsInstance(client.get_rate_limits(), dict)

    def test_generated_rsa_certificate_logs_in_by_xades(self):
        certificate = self._generate('RSA', kind='personal')
        self.assertEqual(certificate.key_type, 'RSA')
        self._assert_xades_login(certificate)

    def test_generated_ec_certificate_logs_in_by_xades(self):
        certificate = self._generate('EC', kind='seal')
        self.assertEqual(certificate.key_type, 'EC')
        self._assert_xades_login(certificate)

    def test_sending_client_uses_the_certificate(self):
        """The sending helper's client authenticates with what ``_l10n_pl_ksef_get_auth_credentials`` returns."""
        self._generate('EC')
        self.company.l10n_pl_ksef_auth_method = 'certificate'
        client = self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.assertTrue(client.access_token)

    def test_entered_token_is_used_to_log_in(self):
        created = self.emulator.admin('/tokens', {'nip': COMPANY_NIP, 'permissions': ['InvoiceWrite', 'InvoiceRead'],
                                                  'description': 'Entered by hand'})
        self.env['ksef.token'].create({
            'name': 'Entered by hand', 'company_id': self.company.id, 'token': created['token'],
            'reference_number': created['referenceNumber'], 'permissions': 'InvoiceWrite, InvoiceRead'})
        self.company.l10n_pl_ksef_auth_method = 'token'
        client = self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.assertTrue(client.access_token)
        self.assertIsInstance(client.get_rate_limits(), dict)

    def test_wrong_token_is_refused_by_ksef(self):
        self.env['ksef.token'].create({'name': 'Typo', 'company_id': self.company.id,
                                       'token': 'not-a-real-token|nip-%s|00' % COMPANY_NIP})
        with self.assertRaises(KsefError) as caught:
            self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.assertNotIn('not-a-real-token', str(caught.exception))
        self.assertNotIn('not-a-real-token', repr(caught.exception.args))

    def test_token_generation_use_and_revocation(self):
        self.skip_unless_emulator_has('POST', '/v2/tokens')
        login = self._generate('EC')
        wizard = self.env['ksef.token.generate'].create({
            'company_id': self.company.id, 'description': 'Odoo invoicing test', 'login_certificate_id': login.id})
        token = self.env['ksef.token'].browse(wizard.action_generate()['res_id'])
        self.assertTrue(token.reference_number)
        self.assertEqual(token.ksef_status, 'Active')
        self.assertEqual(token._permission_list(), ['InvoiceWrite', 'InvoiceRead'])
        # Use it: the sending client logs in with the generated token.
        self.company.l10n_pl_ksef_auth_method = 'token'
        self.assertTrue(self.company._l10n_pl_ksef_get_client(authenticated=True).access_token)
        # KSeF lists it.
        client = self.company._l10n_pl_ksef_xades_client(certificate=login)
        self.assertIn(token.reference_number, [item['referenceNumber'] for item in client.iter_ksef_tokens()])
        # Revoke: KSeF marks it revoked and the value is forgotten here.
        token.action_revoke()
        self.assertEqual(token.state, 'revoked')
        self.assertFalse(token.has_token)
        self.assertIn(client.get_ksef_token(token.reference_number)['status'], ('Revoking', 'Revoked'))
        with self.assertRaisesRegex(UserError, 'revoked'):
            self.company._l10n_pl_ksef_get_client(authenticated=True)

    def test_enrollment_and_revocation(self):
        self.skip_unless_emulator_has('GET', '/v2/certificates/enrollments/data')
        login = self._generate('RSA', kind='personal')
        wizard = self.env['ksef.certificate.request'].create({
            'company_id': self.company.id, 'name': 'Odoo KSeF test', 'certificate_type': 'Authentication',
            'key_type': 'EC', 'login_certificate_id': login.id})
        issued = self.env['ksef.certificate'].browse(wizard.action_request()['res_id'])
        self.assertEqual(issued.ksef_status, 'active', issued.message_ids.mapped('body'))
        self.assertEqual((issued.source, issued.key_type), ('enrolled', 'EC'))
        self.assertTrue(issued.serial_number)
        self.assertTrue(ksef_certificates.keys_match(issued._get_certificate(), issued._get_private_key()))
        # The KSeF-issued certificate logs in by itself.
        self._assert_xades_login(issued)
        # Revoke through KSeF (logged in with the other certificate).
        issued.action_revoke()
        self.assertEqual(issued.state, 'revoked')
        client = self.company._l10n_pl_ksef_xades_client(certificate=login)
        listed = client.query_certificates(certificateSerialNumber=issued.serial_number)
        self.assertEqual([item.get('status') for item in listed], ['Revoked'])
        with self.assertRaises(UserError):
            self.company._l10n_pl_ksef_xades_client(certificate=issued)

    def test_entered_token_revoked_with_its_own_session(self):
        """Without any certificate, a token can still revoke itself (KSeF >= 2.4.0)."""
        self.skip_unless_emulator_has('DELETE', '/v2/tokens/20251010-EC-0000000000-0000000000-00')
        created = self.emulator.admin('/tokens', {'nip': COMPANY_NIP, 'permissions': ['InvoiceWrite'],
                                                  'description': 'Self-revoking token'})
        token = self.env['ksef.token'].create({
            'name': 'Self-revoking token', 'company_id': self.company.id, 'token': created['token'],
            'reference_number': created['referenceNumber']})
        token.action_revoke()
        self.assertEqual(token.state, 'revoked')
        self.assertFalse(token.has_token)
        with self.assertRaises(KsefError):  # KSeF itself refuses the revoked token (status 450)
            KsefClient(self.company._l10n_pl_ksef_get_environment()).authenticate_with_ksef_token(
                COMPANY_NIP, created['token'], wait=5)

    def test_tokens_listed_in_ksef_are_mirrored(self):
        self.skip_unless_emulator_has('GET', '/v2/tokens')
        self._generate('EC')
        created = self.emulator.admin('/tokens', {'nip': COMPANY_NIP, 'permissions': ['InvoiceRead'],
                                                  'description': 'Made in the portal'})
        count = self.env['ksef.token']._l10n_pl_ksef_sync_from_ksef(self.company)
        self.assertGreaterEqual(count, 1)
        mirrored = self.env['ksef.token'].search([('reference_number', '=', created['referenceNumber'])])
        self.assertEqual((mirrored.name, mirrored.ksef_status, mirrored.has_token),
                         ('Made in the portal', 'Active', False))
        self.assertEqual(mirrored._permission_list(), ['InvoiceRead'])
