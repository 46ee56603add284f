"""KSeF overview: one row per company (SQL view) with its queue, errors, sessions, receiving and credentials.

Built for accounting offices with many client companies: list and kanban views, filters for the
companies that need attention, and buttons that act on the company from there.
"""
import datetime

from odoo import api, fields, models, tools

from .ksef_service_status import SERVICE_STATES

#: KSeF tokens are accepted until the end of 2026; after that only certificates log in.
TOKEN_SUNSET = datetime.datetime(2026, 12, 31, 23, 59, 59)
#: Credentials expiring within this many days (and tokens this close to the sunset) need attention.
ATTENTION_DAYS = 30


class KsefCompanyOverview(models.Model):
    _name = 'ksef.company.overview'
    _description = "KSeF overview of a company"
    _auto = False
    _order = 'needs_attention desc, error_count desc, queued_count desc, company_id'
    _rec_name = 'company_id'

    company_id = fields.Many2one('res.company', string="Company", readonly=True)
    vat = fields.Char(string="NIP", readonly=True)
    environment = fields.Selection(related='company_id.l10n_pl_ksef_environment', string="Environment")
    credential_company_id = fields.Many2one('res.company', string="Credential of", readonly=True,
                                            help="Empty: the company logs in with its own credential.")
    auth_method = fields.Selection([('token', "KSeF token"), ('certificate', "Certificate (XAdES)")],
                                   string="Logs in with", readonly=True)
    queued_count = fields.Integer(string="Queued", readonly=True)
    in_progress_count = fields.Integer(string="Awaiting KSeF", readonly=True)
    error_count = fields.Integer(string="Errors", readonly=True,
                                 help="Invoices waiting with an error message, and rejected invoices.")
    rejected_count = fields.Integer(string="Rejected", readonly=True)
    open_session_count = fields.Integer(string="Open sessions", readonly=True)
    receive_enabled = fields.Boolean(string="Receives purchase invoices", readonly=True)
    last_receive_date = fields.Datetime(string="Last receiving", readonly=True)
    receive_error = fields.Text(string="Receiving error", readonly=True)
    certificate_expiry = fields.Datetime(string="Certificate valid until", readonly=True)
    token_expiry = fields.Datetime(string="Token valid until", readonly=True)
    credential_missing = fields.Boolean(string="No usable credential", readonly=True)
    credential_expiring = fields.Boolean(string="Credential expires soon", readonly=True)
    uses_token = fields.Boolean(string="Uses a KSeF token", readonly=True,
                                help="KSeF tokens are accepted until 31.12.2026; switch to a certificate before.")
    needs_attention = fields.Boolean(string="Needs attention", readonly=True)
    ksef_status = fields.Selection([
        ('ok', "OK"),
        ('working', "Working"),
        ('error', "Error"),
        ('setup', "To set up"),
    ], string="State", readonly=True,
        help="The company's own KSeF work: to set up (no usable credential), error, working (invoices on their "
             "way), OK.")
    service_status = fields.Selection(
        SERVICE_STATES, string="KSeF status", compute='_compute_service_status', search='_search_service_status',
        help="KSeF's availability for the company's KSeF environment, as KSeF's status service last published it "
             "(read every 5 minutes by the scheduled action \"KSeF: read KSeF's status\"). Unknown: not read yet, "
             "or not confirmed for 20 minutes.")
    service_checked_at = fields.Datetime(string="KSeF status confirmed on", compute='_compute_service_status')
    last_error = fields.Text(string="Last error", readonly=True)
    token_sunset_days = fields.Integer(string="Days to token sunset", compute='_compute_token_sunset_days')

    def _compute_token_sunset_days(self):
        days = max((TOKEN_SUNSET - fields.Datetime.now()).days, 0)
        for row in self:
            row.token_sunset_days = days if row.uses_token else 0

    def _service_status_by_company(self, companies):
        """``{company id: l10n_pl_ksef.service.status record}``: one search for every environment's service."""
        urls = {company.id: company._l10n_pl_ksef_service_status_url() for company in companies.sudo()}
        records = self.env['l10n_pl_ksef.service.status'].sudo().search(
            [('url', 'in', [url for url in urls.values() if url])])
        by_url = {record.url: record for record in records}
        return {company_id: by_url.get(url) for company_id, url in urls.items()}

    @api.depends('company_id')
    def _compute_service_status(self):
        statuses = self._service_status_by_company(self.company_id)
        for row in self:
            record = statuses.get(row.company_id.id)
            # A status not confirmed lately is not shown as current (it no longer pauses anything either).
            row.service_status = record.status if record and record._l10n_pl_ksef_is_fresh() else 'unknown'
            row.service_checked_at = record.checked_at if record else False

    def _search_service_status(self, operator, value):
        if operator not in ('in', 'not in'):
            return NotImplemented
        companies = self.env['res.company'].sudo().search([])
        statuses = self._service_status_by_company(companies)
        matching = [company_id for company_id, record in statuses.items()
                    if (record.status if record and record._l10n_pl_ksef_is_fresh() else 'unknown') in value]
        return [('company_id', operator, matching)]

    @property
    def _table_query(self):
        # One pass over the moves with KSeF work; credentials of the company that logs in (itself or its office).
        return """
            WITH moves AS (
                SELECT company_id,
                       count(*) FILTER (WHERE l10n_pl_ksef_state = 'queued') AS queued,
                       count(*) FILTER (WHERE l10n_pl_ksef_state IN ('sending', 'sent')) AS in_progress,
                       count(*) FILTER (WHERE l10n_pl_ksef_state = 'rejected') AS rejected,
                       count(*) FILTER (WHERE l10n_pl_ksef_state = 'rejected' OR (
                           l10n_pl_ksef_state IN ('queued', 'sending', 'sent')
                           AND l10n_pl_ksef_error IS NOT NULL AND l10n_pl_ksef_error != '')) AS errors,
                       (array_agg(l10n_pl_ksef_error ORDER BY write_date DESC)
                            FILTER (WHERE l10n_pl_ksef_error IS NOT NULL AND l10n_pl_ksef_error != ''
                                    AND l10n_pl_ksef_state IN ('queued', 'sending', 'sent', 'rejected')))[1]
                           AS last_error
                  FROM account_move
                 WHERE l10n_pl_ksef_state IN ('queued', 'sending', 'sent', 'rejected')
                 GROUP BY company_id
            ), sessions AS (
                SELECT company_id, count(*) AS open_sessions
                  FROM ksef_session WHERE state = 'open' GROUP BY company_id
            ), logins AS (
                SELECT c.id AS company_id,
                       COALESCE(c.l10n_pl_ksef_credential_company_id, c.id) AS owner_id,
                       owner.l10n_pl_ksef_auth_method AS auth_method,
                       owner.l10n_pl_ksef_environment AS environment
                  FROM res_company c
                  JOIN res_company owner ON owner.id = COALESCE(c.l10n_pl_ksef_credential_company_id, c.id)
            ), certificates AS (
                SELECT l.company_id, max(cert.date_end) AS date_end
                  FROM logins l
                  JOIN ksef_certificate cert ON cert.company_id = l.owner_id AND cert.environment = l.environment
                   AND cert.active AND cert.use_authentication AND cert.ksef_status = 'active'
                   AND cert.private_key_encrypted IS NOT NULL
                 GROUP BY l.company_id
            ), tokens AS (
                SELECT l.company_id, max(COALESCE(tok.valid_until, %(sunset)s)) AS valid_until
                  FROM logins l
                  JOIN ksef_token tok ON tok.company_id = l.owner_id AND tok.environment = l.environment
                   AND tok.active AND tok.ksef_status = 'Active' AND tok.token_encrypted IS NOT NULL
                 GROUP BY l.company_id
            ), rows AS (
                SELECT c.id AS id, c.id AS company_id, p.vat AS vat,
                       c.l10n_pl_ksef_credential_company_id AS credential_company_id,
                       l.auth_method AS auth_method,
                       COALESCE(m.queued, 0) AS queued_count,
                       COALESCE(m.in_progress, 0) AS in_progress_count,
                       COALESCE(m.errors, 0) AS error_count,
                       COALESCE(m.rejected, 0) AS rejected_count,
                       COALESCE(s.open_sessions, 0) AS open_session_count,
                       COALESCE(c.l10n_pl_ksef_receive_enabled, FALSE) AS receive_enabled,
                       c.l10n_pl_ksef_last_receive_date AS last_receive_date,
                       NULLIF(c.l10n_pl_ksef_receive_error, '') AS receive_error,
                       cert.date_end AS certificate_expiry,
                       tok.valid_until AS token_expiry,
                       CASE WHEN l.auth_method = 'certificate' THEN cert.date_end IS NULL OR cert.date_end < now()
                            ELSE tok.valid_until IS NULL OR tok.valid_until < now() END AS credential_missing,
                       CASE WHEN l.auth_method = 'certificate'
                            THEN cert.date_end < now() + interval '%(days)s days'
                            ELSE tok.valid_until < now() + interval '%(days)s days' END AS credential_expiring,
                       l.auth_method = 'token' AS uses_token,
                       COALESCE(m.last_error, NULLIF(c.l10n_pl_ksef_receive_error, '')) AS last_error
                  FROM res_company c
                  JOIN res_partner p ON p.id = c.partner_id
                  JOIN logins l ON l.company_id = c.id
             LEFT JOIN moves m ON m.company_id = c.id
             LEFT JOIN sessions s ON s.company_id = c.id
             LEFT JOIN certificates cert ON cert.company_id = c.id
             LEFT JOIN tokens tok ON tok.company_id = c.id
                 WHERE c.active AND p.vat IS NOT NULL AND p.vat != ''
            )
            SELECT rows.*,
                   (error_count > 0 OR receive_error IS NOT NULL OR credential_missing
                    OR COALESCE(credential_expiring, FALSE)) AS needs_attention,
                   CASE WHEN credential_missing THEN 'setup'
                        WHEN error_count > 0 OR receive_error IS NOT NULL THEN 'error'
                        WHEN queued_count > 0 OR in_progress_count > 0 THEN 'working'
                        ELSE 'ok' END AS ksef_status
              FROM rows
        """ % {'sunset': "'%s'::timestamp" % TOKEN_SUNSET.isoformat(sep=' '), 'days': ATTENTION_DAYS}

    # ------------------------------------------------------------------ actions from the overview

    def _company(self):
        self.ensure_one()
        return self.company_id

    def action_process_queue(self):
        """Send the company's queue and follow its invoices now (what the scheduled action does)."""
        self.env['account.move']._l10n_pl_ksef_process_queue(companies=self.company_id)
        return self._reload()

    def action_receive(self):
        return self._company().action_l10n_pl_ksef_receive_invoices()

    def action_open_permissions(self):
        return self._company().action_l10n_pl_ksef_open_permissions()

    def action_open_errors(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("KSeF errors of %(company)s", company=self.company_id.name),
            'res_model': 'account.move',
            'view_mode': 'list,form',
            'domain': [('company_id', '=', self.company_id.id), '|',
                       ('l10n_pl_ksef_state', '=', 'rejected'), '&',
                       ('l10n_pl_ksef_state', 'in', ('queued', 'sending', 'sent')),
                       ('l10n_pl_ksef_error', '!=', False)],
            'context': {'allowed_company_ids': [self.company_id.id] + self.env.user.company_ids.ids},
        }

    def action_open_sessions(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("KSeF sessions of %(company)s", company=self.company_id.name),
            'res_model': 'ksef.session',
            'view_mode': 'list,form',
            'domain': [('company_id', '=', self.company_id.id)],
        }

    @api.model
    def _reload(self):
        return {'type': 'ir.actions.client', 'tag': 'soft_reload'}
