"""Accounting office mode end to end against the emulator over HTTP: two client companies grant the
office through their "KSeF permissions" screen (saved wizard, then its button), the office's one
certificate sends and receives for both in their own contexts, revoking stops it with a message
that says what to grant, and the KSeF overview shows who needs attention."""
import datetime
from unittest.mock import patch

from odoo import sql_db
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from ..ksef_protocol import certificates as ksef_certificates
from ..models.res_company_ksef_fairness import _RECEIVE_LOCK_NAMESPACE
from .common import BUYER_NIP, SECOND_SELLER_NIP, SELLER_NIP, KsefEmulatorCase

OFFICE_NIP = '7740001454'
CLIENT_B_NIP = SECOND_SELLER_NIP


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestOfficeMode(KsefEmulatorCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.client_a = cls.company
        cls.client_a.name = "Klient Jeden Sp. z o.o."
        cls.client_b = cls._polish_company("Klient Dwa Sp. z o.o.", CLIENT_B_NIP)
        cls.office = cls._polish_company("Biuro Rachunkowe Sp. z o.o.", OFFICE_NIP)
        # The office's one credential: its company seal (a test certificate with its NIP).
        certificate, key = ksef_certificates.generate_test_certificate(OFFICE_NIP, kind='seal', key_type='EC')
        cls.office.l10n_pl_ksef_auth_method = 'certificate'
        cls.env['ksef.certificate']._create_from_objects(cls.office, certificate, key, use_authentication=True)
        # Each client keeps a credential of its own, used only to manage its permissions.
        for company, nip in ((cls.client_a, SELLER_NIP), (cls.client_b, CLIENT_B_NIP)):
            issued = cls.emulator.create_token(nip, permissions=['CredentialsManage', 'CredentialsRead'])
            cls.env['ksef.token'].sudo().create({
                'name': "Właściciel", 'company_id': company.id, 'environment': 'custom',
                'token': issued['token'], 'reference_number': issued['referenceNumber'],
                'permissions': 'CredentialsManage, CredentialsRead'})
            company.l10n_pl_ksef_receive_enabled = True
        cls.partner_a = cls._partner("Klient Jeden", SELLER_NIP)
        cls.partner_b = cls._partner("Klient Dwa", CLIENT_B_NIP)
        cls.manager = new_test_user(
            cls.env, login='office_ksef_manager', groups='account.group_account_manager,l10n_pl_ksef.group_ksef_manager',
            company_id=cls.office.id, company_ids=[cls.office.id, cls.client_a.id, cls.client_b.id])

    @classmethod
    def _polish_company(cls, name, nip):
        company = cls.setup_other_company(name=name)['company']
        cls.change_company_country(company, cls.env.ref('base.pl'))
        cls.configure_ksef_company(company, nip)
        return company

    @classmethod
    def _partner(cls, name, nip):
        return cls.env['res.partner'].create({
            'name': name, 'is_company': True, 'vat': 'PL' + nip, 'street': "ul. Prosta 1", 'zip': '00-001',
            'city': "Warszawa", 'country_id': cls.env.ref('base.pl').id})

    def as_manager(self, company):
        return self.env(user=self.manager, context=dict(self.env.context, allowed_company_ids=[company.id]))

    def start_receiving_now(self, company):
        moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        company.write({'l10n_pl_ksef_receive_checkpoint': moment.isoformat(timespec='microseconds'),
                       'l10n_pl_ksef_receive_env_key': company._l10n_pl_ksef_environment_key()})

    def grant_office(self, company):
        """What the KSeF manager does on the company's permissions screen: Grant, fill, save, Grant."""
        env = self.as_manager(company)
        screen = env['res.company'].browse(company.id).action_l10n_pl_ksef_open_permissions()
        dialog = env['ksef.permission'].with_context(screen['context']).action_open_grant()
        wizard = env['ksef.permission.grant'].with_context(dialog['context']).create({
            'grantee_type': 'office', 'office_id': self.office.id, 'identifier': OFFICE_NIP,
            'name': self.office.name, 'invoice_read': True, 'invoice_write': True})
        self.assertEqual(wizard.company_id, company)
        wizard.action_grant()

    def office_rows(self, company):
        return self.as_manager(company)['ksef.permission'].search(
            [('company_id', '=', company.id), ('subject_value', '=', OFFICE_NIP)])

    def test_office_serves_two_clients_from_grant_to_revocation(self):
        (self.client_a | self.client_b).write({'l10n_pl_ksef_credential_company_id': self.office.id})
        for company in (self.client_a, self.client_b):
            self.start_receiving_now(company)

        # Not granted yet: the user is told exactly what the client must grant, nothing is lost.
        sale_a = self.create_invoice(company=self.client_a, partner=self.partner_b)
        sale_a._l10n_pl_ksef_queue()
        self.process_queue(self.client_a)
        self.assertEqual(sale_a.l10n_pl_ksef_state, 'queued')
        for expected in ("Brak przypisanych uprawnień", "NIP %s" % OFFICE_NIP, "InvoiceRead", "InvoiceWrite",
                         "Klient Jeden Sp. z o.o. (NIP %s) must grant" % SELLER_NIP):
            self.assertIn(expected, sale_a.l10n_pl_ksef_error)
        self.assertIn(OFFICE_NIP, self.client_b.l10n_pl_ksef_required_grant)
        refused = self.client_b._l10n_pl_ksef_receive_invoices()
        self.assertIn("must grant the NIP %s" % OFFICE_NIP, refused['error'])

        # Both clients grant the office on their permissions screen.
        for company in (self.client_a, self.client_b):
            self.grant_office(company)
            rows = self.office_rows(company)
            self.assertEqual(sorted(rows.mapped('scope')), ['InvoiceRead', 'InvoiceWrite'])
            self.assertEqual(set(rows.mapped('state')), {'active'})
            self.assertEqual(set(rows.mapped('kind')), {'entity'})

        # The office's certificate sends for both clients, each in its own context.
        sale_b = self.create_invoice(company=self.client_b, partner=self.partner_a)
        sale_b._l10n_pl_ksef_queue()
        self.process_until(sale_a, ('accepted',))
        self.process_until(sale_b, ('accepted',))
        self.assertTrue(sale_a.l10n_pl_ksef_number.startswith(SELLER_NIP))
        self.assertTrue(sale_b.l10n_pl_ksef_number.startswith(CLIENT_B_NIP))
        self.assertEqual(sale_a.l10n_pl_ksef_session_id.company_id, self.client_a)
        self.assertEqual(sale_b.l10n_pl_ksef_session_id.company_id, self.client_b)
        # Tokens are kept per context: on each client, none on the office.
        tokens = (self.client_a | self.client_b | self.office).sudo().mapped('l10n_pl_ksef_refresh_token')
        self.assertTrue(tokens[0] and tokens[1] and tokens[0] != tokens[1])
        self.assertFalse(self.office.sudo().l10n_pl_ksef_access_token)

        # ... and receives for both: each gets the other's invoice as a vendor bill.
        for company, sale in ((self.client_a, sale_b), (self.client_b, sale_a)):
            result = company._l10n_pl_ksef_receive_invoices()
            self.assertFalse(result['error'])
            self.assertEqual(result['moves'].mapped('l10n_pl_ksef_number'), [sale.l10n_pl_ksef_number])
            self.assertEqual(result['moves'].company_id, company)

        # Client A revokes the office on its screen (row button): the office is stopped with a clear message.
        # (each revocation reloads the list from KSeF, as the screen does)
        for _scope in ('InvoiceRead', 'InvoiceWrite'):
            self.office_rows(self.client_a)[0].action_revoke()
        self.assertFalse(self.office_rows(self.client_a))
        again = self.create_invoice(company=self.client_a, partner=self.partner_b)
        again._l10n_pl_ksef_queue()
        self.process_queue(self.client_a)
        self.assertEqual(again.l10n_pl_ksef_state, 'queued')
        self.assertIn("KSeF refused the login of %s" % self.office.name, again.l10n_pl_ksef_error)
        self.assertIn("must grant the NIP %s" % OFFICE_NIP, again.l10n_pl_ksef_error)
        self.assertIn("must grant", self.client_a._l10n_pl_ksef_receive_invoices()['error'])
        # Client B, still granted, is not affected.
        other = self.create_invoice(company=self.client_b, partner=self.partner_a)
        other._l10n_pl_ksef_queue()
        self.process_until(other, ('accepted',))

        # The overview: client A needs attention (its invoice waits with an error), B is fine.
        overview = self.env['ksef.company.overview'].with_context(
            allowed_company_ids=(self.client_a | self.client_b | self.office).ids)
        attention = overview.search([('needs_attention', '=', True)]).mapped('company_id')
        self.assertIn(self.client_a, attention)
        self.assertNotIn(self.client_b, attention)
        row_a = overview.search([('company_id', '=', self.client_a.id)])
        self.assertEqual((row_a.queued_count, row_a.error_count, row_a.ksef_status), (1, 1, 'error'))
        self.assertEqual(row_a.credential_company_id, self.office)
        self.assertEqual(row_a.auth_method, 'certificate')
        self.assertTrue(row_a.certificate_expiry)
        self.assertTrue(row_a.last_receive_date)
        self.assertIn("must grant", row_a.last_error)
        # Actions from the overview: the errors list and the permissions screen of the company.
        errors = row_a.action_open_errors()
        self.assertEqual(self.env['account.move'].search(errors['domain']), again)
        self.assertEqual(row_a.action_open_permissions()['domain'], [('company_id', '=', self.client_a.id)])

    def test_overview_shows_ksef_status_read_from_the_status_service(self):
        # The status service's scheduled action runs as ir.cron runs it (its own cursor, wrapped in test mode).
        self.registry_enter_test_mode()
        self.emulator.admin('/status-service', method='DELETE')
        self.addCleanup(self.emulator.admin, '/status-service', None, 'DELETE')
        clients = self.client_a | self.client_b
        overview = self.as_manager(self.client_a)['ksef.company.overview'].with_context(
            allowed_company_ids=(clients | self.office).ids)

        def statuses():
            self.env.invalidate_all()
            rows = overview.search([('company_id', 'in', clients.ids)])
            return {row.company_id: row.service_status for row in rows}

        self.assertEqual(statuses(), {self.client_a: 'unknown', self.client_b: 'unknown'}, "not read yet")
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_service_status')
        cron.method_direct_trigger()
        self.assertEqual(statuses(), {self.client_a: 'available', self.client_b: 'available'})
        self.assertFalse(overview.search([('company_id', 'in', clients.ids), ('service_status', 'in', ('failure',))]))

        # KSeF announces a failure on its status service: the overview says so after the next read (HTTP).
        self.emulator.admin('/status-service/messages', {
            'category': 'FAILURE', 'type': 'FAILURE_START', 'title': "Awaria KSeF",
            'start': (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).strftime(
                '%Y-%m-%dT%H:%M:%SZ')})
        cron.method_direct_trigger()
        self.assertEqual(statuses(), {self.client_a: 'failure', self.client_b: 'failure'})
        row = overview.search([('company_id', '=', self.client_a.id)])
        self.assertTrue(row.service_checked_at)
        # The filter "KSeF unavailable (status service)" of the overview's search view finds them.
        unavailable = overview.search([('company_id', 'in', clients.ids),
                                       ('service_status', 'in', ('maintenance', 'failure', 'total_failure'))])
        self.assertEqual(unavailable.company_id, clients)
        # The company's own state is a separate column: the status service does not overwrite it.
        self.assertIn(row.ksef_status, ('ok', 'working', 'error', 'setup'))

    def test_a_token_cannot_serve_other_companies_and_permissions_need_a_manager(self):
        self.office.l10n_pl_ksef_auth_method = 'token'
        self.client_b.l10n_pl_ksef_credential_company_id = self.office
        with self.assertRaisesRegex(UserError, "only opens the KSeF context it was generated in"):
            self.client_b._l10n_pl_ksef_get_auth_credentials()
        accountant = new_test_user(self.env, login='office_accountant', groups='account.group_account_invoice',
                                   company_id=self.client_b.id, company_ids=[self.client_b.id])
        with self.assertRaisesRegex(UserError, "Only KSeF managers"):
            self.client_b.with_user(accountant).action_l10n_pl_ksef_refresh_permissions()
        # A credential without CredentialsManage cannot manage permissions: KSeF's 403 is explained.
        issued = self.emulator.create_token(CLIENT_B_NIP, permissions=['InvoiceRead'])
        self.env['ksef.token'].sudo().create({
            'name': "Tylko odczyt", 'company_id': self.client_b.id, 'environment': 'custom',
            'token': issued['token'], 'reference_number': issued['referenceNumber'], 'permissions': 'InvoiceRead'})
        with self.assertRaisesRegex(UserError, "may not manage KSeF permissions: it holds InvoiceRead"):
            self.client_b.with_user(self.manager).action_l10n_pl_ksef_refresh_permissions()

    def test_receiving_turns_are_fair_and_skip_a_company_another_worker_holds(self):
        companies = self.client_a | self.client_b
        (self.client_a | self.client_b | self.office).sudo().write({'l10n_pl_ksef_receive_attempt_date': False})
        self.client_a.sudo().l10n_pl_ksef_receive_attempt_date = datetime.datetime.now() - datetime.timedelta(hours=1)
        turns = self.env['res.company']._l10n_pl_ksef_receiving_turns().filtered(lambda c: c in companies)
        self.assertEqual(turns.ids, [self.client_b.id, self.client_a.id], "never tried comes first")
        # Another worker (its own database connection) is receiving for client A: A is skipped, not awaited.
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute("SELECT pg_advisory_lock(%s, %s)", (_RECEIVE_LOCK_NAMESPACE, self.client_a.id))
            with self.client_a._l10n_pl_ksef_receiving_turn() as mine:
                self.assertFalse(mine)
            # The "Fetch from KSeF" button says so instead of fetching twice.
            with self.assertRaisesRegex(UserError, "being fetched from KSeF right now"):
                self.client_a.action_l10n_pl_ksef_receive_invoices()
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (_RECEIVE_LOCK_NAMESPACE, self.client_a.id))
        finally:
            other.close()
        before = self.client_a.l10n_pl_ksef_receive_attempt_date
        with self.client_a._l10n_pl_ksef_receiving_turn() as mine:
            self.assertTrue(mine)
        self.assertGreater(self.client_a.l10n_pl_ksef_receive_attempt_date, before)
        # Tried last now: it goes after B in the next run.
        turns = self.env['res.company']._l10n_pl_ksef_receiving_turns().filtered(lambda c: c in companies)
        self.assertEqual(turns.ids, [self.client_b.id, self.client_a.id])
        self.client_b.sudo().l10n_pl_ksef_receive_attempt_date = datetime.datetime.now()
        turns = self.env['res.company']._l10n_pl_ksef_receiving_turns().filtered(lambda c: c in companies)
        self.assertEqual(turns.ids, [self.client_a.id, self.client_b.id])

    def test_receiving_runs_end_once_every_company_had_its_turn(self):
        """200 companies never fit in one run: the runs triggered for the rest serve each company once."""
        Company = self.env['res.company']
        now = datetime.datetime.now()
        Company.sudo().search([]).write({'l10n_pl_ksef_receive_attempt_date': now - datetime.timedelta(hours=3)})
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_receive_invoices')
        params = self.env['ir.config_parameter'].sudo()

        def triggers():
            return self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])

        # A run out of time at once: nobody served, the round goes on in a run triggered right away.
        before = triggers()
        with patch.object(type(Company), '_l10n_pl_ksef_receiving_deadline', staticmethod(lambda: 0.0)):
            Company._l10n_pl_ksef_cron_receive_invoices()
        self.assertEqual(triggers(), before + 1)
        started = params.get_param('l10n_pl_ksef.receive_round_start')
        self.assertTrue(started)
        # A had its turn in this round already (an earlier run of it); B did not.
        round_started = datetime.datetime.strptime(started, '%Y-%m-%d %H:%M:%S')
        self.client_a.sudo().l10n_pl_ksef_receive_attempt_date = round_started
        before_a = self.client_a.l10n_pl_ksef_receive_attempt_date
        Company._l10n_pl_ksef_cron_receive_invoices()
        self.assertGreater(self.client_b.l10n_pl_ksef_receive_attempt_date, now - datetime.timedelta(minutes=1),
                           "B's turn came")
        self.assertEqual(self.client_a.l10n_pl_ksef_receive_attempt_date, before_a, "A is not served twice")
        self.assertFalse(self.client_a.l10n_pl_ksef_last_receive_date or self.client_a.l10n_pl_ksef_receive_error)
        # Every company had its turn: the round is over, no run is triggered for it.
        self.assertFalse(params.get_param('l10n_pl_ksef.receive_round_start'))
        self.assertEqual(triggers(), before + 1)
        # The next scheduled run starts a new round: A's turn again.
        Company._l10n_pl_ksef_cron_receive_invoices()
        self.assertTrue(self.client_a.l10n_pl_ksef_last_receive_date or self.client_a.l10n_pl_ksef_receive_error)

    def test_self_billing_authorization_is_granted_and_revoked_on_the_screen(self):
        env = self.as_manager(self.client_a)
        screen = env['res.company'].browse(self.client_a.id).action_l10n_pl_ksef_open_permissions()
        dialog = env['ksef.permission'].with_context(screen['context']).action_open_grant()
        wizard = env['ksef.permission.grant'].with_context(dialog['context']).create({
            'grantee_type': 'authorization', 'authorization': 'SelfInvoicing', 'identifier': CLIENT_B_NIP,
            'name': "Klient Dwa Sp. z o.o."})
        wizard.action_grant()
        rows = env['ksef.permission'].search([('company_id', '=', self.client_a.id), ('kind', '=', 'authorization')])
        self.assertEqual([(r.subject_value, r.scope, r.state) for r in rows], [(CLIENT_B_NIP, 'SelfInvoicing', 'active')])
        rows.action_revoke()
        self.assertFalse(env['ksef.permission'].search([('company_id', '=', self.client_a.id),
                                                        ('kind', '=', 'authorization')]))

    def test_partial_grant_says_which_permission_is_missing(self):
        client_c = self._polish_company("Klient Trzy Sp. z o.o.", BUYER_NIP)
        issued = self.emulator.create_token(BUYER_NIP, permissions=['CredentialsManage'])
        self.env['ksef.token'].sudo().create({
            'name': "Właściciel", 'company_id': client_c.id, 'environment': 'custom', 'token': issued['token'],
            'reference_number': issued['referenceNumber'], 'permissions': 'CredentialsManage'})
        self.manager.company_ids = [(4, client_c.id)]
        env = self.as_manager(client_c)
        wizard = env['ksef.permission.grant'].with_context(default_company_id=client_c.id).create({
            'grantee_type': 'office', 'office_id': self.office.id, 'identifier': OFFICE_NIP,
            'name': self.office.name, 'invoice_read': True, 'invoice_write': False})
        wizard.action_grant()
        self.assertEqual(self.office_rows(client_c).mapped('scope'), ['InvoiceRead'])
        client_c.l10n_pl_ksef_credential_company_id = self.office
        move = self.create_invoice(company=client_c, partner=self.partner_a)
        move._l10n_pl_ksef_queue()
        self.process_queue(client_c)
        self.assertEqual(move.l10n_pl_ksef_state, 'queued')
        self.assertIn("missing-permissions: required any of InvoiceWrite", move.l10n_pl_ksef_error)
        self.assertIn("; present InvoiceRead]", move.l10n_pl_ksef_error)
