"""Shared set-up of the credentials tests: a Polish company, users, certificate files, the emulator."""
import base64
import datetime
import os
import sys

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.tests.common import new_test_user

from odoo.addons.l10n_pl_ksef.ksef_protocol import certificates as ksef_certificates
from odoo.addons.l10n_pl_ksef.tests.common import reset_ksef_rate_limits

COMPANY_NIP = '5265877635'
OTHER_NIP = '7740001454'
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def b64(data):
    return base64.b64encode(data)


class KsefCredentialsCommon(AccountTestInvoicingCommon):
    """A Polish company with a NIP, a KSeF manager and a plain accountant."""

    @classmethod
    @AccountTestInvoicingCommon.setup_country('pl')
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_data['company']
        cls.company.write({'vat': 'PL%s' % COMPANY_NIP, 'l10n_pl_ksef_environment': 'test'})
        # The common class runs as an accounting user; credentials are managed by KSeF managers.
        cls.env.user.write({'group_ids': [(4, cls.env.ref('l10n_pl_ksef.group_ksef_manager').id)]})
        cls.manager = new_test_user(
            cls.env, login='ksef_manager', groups='l10n_pl_ksef.group_ksef_manager',
            company_id=cls.company.id, company_ids=[cls.company.id])
        cls.accountant = new_test_user(
            cls.env, login='ksef_accountant', groups='account.group_account_invoice',
            company_id=cls.company.id, company_ids=[cls.company.id])

    # ------------------------------------------------------------------ certificate material

    @staticmethod
    def make_certificate(nip=COMPANY_NIP, kind='seal', key_type='EC', purpose='Authentication',
                         valid_days=365, now=None):
        return ksef_certificates.generate_test_certificate(
            nip=nip, kind=kind, key_type=key_type, purpose=purpose, valid_days=valid_days, now=now)

    @staticmethod
    def expired_certificate(nip=COMPANY_NIP):
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=400)
        return ksef_certificates.generate_test_certificate(nip=nip, kind='seal', key_type='EC', valid_days=30, now=past)

    @staticmethod
    def cert_pem(certificate):
        return ksef_certificates.certificate_to_pem(certificate)

    @staticmethod
    def cert_der(certificate):
        return ksef_certificates.certificate_to_der(certificate)

    @staticmethod
    def key_pem(private_key, password=None):
        return ksef_certificates.private_key_to_pem(private_key, password)

    def store_certificate(self, certificate, private_key, **values):
        """A stored certificate record, bypassing the upload checks (for states the wizard refuses)."""
        values.setdefault('use_authentication', True)
        return self.env['ksef.certificate']._create_from_objects(self.company, certificate, private_key, **values)

    def save_wizard(self, model, values, user=None):
        """Save a wizard dialog as the web client does (``web_save`` of a new record), in a fresh cache.

        Returns the saved record read back from the database, as the button call of the next
        request sees it.
        """
        env = self.env(user=user) if user else self.env
        Wizard = env[model].with_company(self.company)
        specification = {name: {} for name in values if name in Wizard._fields}
        saved = Wizard.web_save(values, specification)[0]
        for name, value in values.items():
            if Wizard._fields[name].type in ('binary', 'char') and value and name in self.SECRET_INPUTS:
                self.assertFalse(saved.get(name), "web_save must not send %s back to the browser" % name)
        env.flush_all()
        env.invalidate_all()
        return Wizard.browse(saved['id'])

    #: Wizard fields that carry secrets typed or uploaded by the user.
    SECRET_INPUTS = ('certificate_file', 'key_file', 'password')

    def upload(self, certificate_data, filename, key_data=None, password=None, user=None, **values):
        """Run the upload dialog with the given files: save it, then press Upload on the saved record.

        Returns the created ksef.certificate.
        """
        wizard = self.save_wizard('ksef.certificate.upload', {
            'company_id': self.company.id,
            'certificate_file': b64(certificate_data).decode(),
            'certificate_filename': filename,
            'key_file': key_data and b64(key_data).decode(),
            'key_filename': key_data and 'private.key',
            'password': password or False,
            **values,
        }, user=user)
        action = wizard.action_upload()
        return wizard.env['ksef.certificate'].browse(action['res_id'])


class KsefEmulatorCredentialsCommon(KsefCredentialsCommon):
    """The same company pointed at a local KSeF emulator (started once per class)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if REPO_ROOT not in sys.path:
            sys.path.insert(0, REPO_ROOT)
        from ksef_emulator.testing import start_emulator  # noqa: PLC0415 (test-only dependency)
        cls.emulator = start_emulator()
        cls.addClassCleanup(cls.emulator.stop)
        cls.company.write({
            'l10n_pl_ksef_environment': 'custom',
            'l10n_pl_ksef_custom_url': cls.emulator.base_url,
        })

    def setUp(self):
        super().setUp()
        reset_ksef_rate_limits(self.env)  # each test is a scenario of its own
        # The test fails if the emulator answered outside open-api.json or crashed while serving it.
        self.emulator.contract_violations()
        self.addCleanup(self.emulator.assert_contract_clean)

    def emulator_has(self, method, path):
        """True when the emulator implements ``method path`` (404 for unknown routes)."""
        import json
        import urllib.error
        import urllib.request
        request = urllib.request.Request(self.emulator.base_url.rsplit('/v2', 1)[0] + path, method=method,
                                         data=json.dumps({}).encode() if method != 'GET' else None,
                                         headers={'Content-Type': 'application/json'})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            body = error.read()
            return not (error.code in (404, 405) and b'No such endpoint' in body or error.code == 405)
        return True

    def skip_unless_emulator_has(self, method, path):
        # Reported in the hand-over: the emulator area is written in parallel; never fake it here.
        if not self.emulator_has(method, path):
            self.skipTest("KSeF emulator does not implement %s %s yet" % (method, path))
