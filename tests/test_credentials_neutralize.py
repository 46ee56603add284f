"""``data/neutralize.sql``: a duplicated database keeps no KSeF secret and never talks to production."""
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from odoo.addons.l10n_pl_ksef.models import ksef_secret_store
from odoo.addons.l10n_pl_ksef.tests.credentials_common import KsefCredentialsCommon


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestCredentialsNeutralize(KsefCredentialsCommon):

    def test_neutralize_wipes_secrets_and_forces_test(self):
        certificate, key = self.make_certificate()
        stored = self.store_certificate(certificate, key)
        token = self.env['ksef.token'].create({'name': 'Prod token', 'company_id': self.company.id,
                                               'environment': 'prod', 'token': 'prod-secret'})
        wizard = self.save_wizard('ksef.certificate.upload', {
            'company_id': self.company.id, 'certificate_filename': 'x.p12', 'password': 'wizard-password'})
        self.assertTrue(self.env['ir.config_parameter'].sudo().get_param(ksef_secret_store.KEY_CHECK_PARAMETER))
        self.company.l10n_pl_ksef_environment = 'prod'
        self.env.flush_all()
        queries = list(get_neutralization_queries(['l10n_pl_ksef']))
        self.assertTrue(queries, "the module ships data/neutralize.sql")
        for query in queries:
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.env.registry.clear_cache('stable')  # get_param's cache
        self.assertEqual(self.company.l10n_pl_ksef_environment, 'test')
        self.assertFalse(stored.has_private_key)
        self.assertFalse(token.has_token)
        self.assertTrue(stored.certificate_der, "the public certificate is kept for reference")
        self.assertFalse(wizard.exists(), "credential wizard rows are removed")
        self.assertFalse(self.env['ir.config_parameter'].sudo().get_param(ksef_secret_store.KEY_CHECK_PARAMETER),
                         "with no secret left, the copy may run under another key")
