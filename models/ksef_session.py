"""KSeF interactive sessions: one encryption key, up to 12 hours, many invoices, one collective UPO."""
import datetime
import logging

from odoo import api, fields, models

from ..ksef_protocol import SessionKey
from ..ksef_protocol.errors import KsefError
from .ksef_secret_store import decrypt_secret, encrypt_secret
from .res_company import KSEF_ENVIRONMENTS
from .res_company_ksef_client import _to_naive_utc

_logger = logging.getLogger(__name__)

#: A session this close to its end is no longer used for new invoices (KSeF allows 12 hours).
SESSION_EXPIRY_MARGIN = datetime.timedelta(minutes=30)
#: A session nobody sent to for this long is closed so its collective UPO can be produced.
SESSION_IDLE_DELAY = datetime.timedelta(minutes=15)
#: Session status codes (GET /sessions/{ref}): 100 open, 170 closed, 150 processing, 200 processed.
SESSION_FINAL_OK = 200


class KsefSession(models.Model):
    _name = 'ksef.session'
    _description = "KSeF session"
    _inherit = ['mail.thread']
    _order = 'create_date desc, id desc'
    _rec_name = 'reference_number'
    _check_company_auto = True

    company_id = fields.Many2one('res.company', required=True, readonly=True, index=True,
                                 default=lambda self: self.env.company)
    environment = fields.Selection(KSEF_ENVIRONMENTS, required=True, readonly=True)
    environment_key = fields.Char(readonly=True, help="Environment and API URL the session was opened on.")
    kind = fields.Selection([('online', "Interactive (online)"), ('batch', "Batch")],
                            required=True, default='online', readonly=True)
    reference_number = fields.Char(readonly=True, index=True, copy=False)
    state = fields.Selection([
        ('open', "Open"),
        ('closing', "Closed, being processed"),
        ('done', "Processed"),
        ('failed', "Failed"),
    ], default='open', required=True, readonly=True, tracking=True)
    valid_until = fields.Datetime(readonly=True)
    last_used = fields.Datetime(readonly=True, help="When an invoice was last sent in this session.")
    refused_code = fields.Integer(
        string="Refused by KSeF with", readonly=True, copy=False,
        help="KSeF refused to take invoices in this session (21180 closed or expired, 21184 temporarily "
             "unavailable, 21173 unknown, 21155 full): it is not used again; its invoices went out in a new one.")
    status_code = fields.Integer(readonly=True)
    status_text = fields.Char(readonly=True)
    invoice_count = fields.Integer(readonly=True)
    successful_invoice_count = fields.Integer(readonly=True)
    failed_invoice_count = fields.Integer(readonly=True)
    # The AES key of the session, needed to encrypt every invoice sent in it. Secret.
    key_material = fields.Char(groups='l10n_pl_ksef.group_ksef_manager', copy=False)
    upo_attachment_ids = fields.Many2many('ir.attachment', string="Collective UPO", readonly=True, copy=False)
    move_ids = fields.One2many('account.move', 'l10n_pl_ksef_session_id', string="Invoices", readonly=True)
    move_count = fields.Integer(compute='_compute_move_count')
    accepted_move_count = fields.Integer(string="Accepted", compute='_compute_move_count')
    rejected_move_count = fields.Integer(string="Rejected", compute='_compute_move_count')
    pending_move_count = fields.Integer(string="Waiting for KSeF", compute='_compute_move_count')

    _reference_unique = models.Constraint(
        'UNIQUE(company_id, reference_number)',
        "A KSeF session reference number is unique per company.",
    )

    @api.depends('move_ids', 'move_ids.l10n_pl_ksef_state')
    def _compute_move_count(self):
        # Counted from the invoices themselves: KSeF's own counters come only with the session status.
        for session in self:
            states = session.move_ids.mapped('l10n_pl_ksef_state')
            session.move_count = len(states)
            session.accepted_move_count = sum(state in ('accepted', 'offline_sent') for state in states)
            session.rejected_move_count = states.count('rejected')
            session.pending_move_count = sum(state in ('queued', 'sending', 'sent') for state in states)

    # ------------------------------------------------------------------
    # Opening and re-use
    # ------------------------------------------------------------------
    @api.model
    def _get_usable_session(self, company):
        """An open online session of ``company`` on its current environment, not near expiry."""
        return self.search([
            ('company_id', '=', company.id),
            ('kind', '=', 'online'),
            ('state', '=', 'open'),
            ('environment_key', '=', company._l10n_pl_ksef_environment_key()),
            ('valid_until', '>', fields.Datetime.now() + SESSION_EXPIRY_MARGIN),
            ('refused_code', '=', 0),
        ], order='valid_until desc', limit=1)

    @api.model
    def _get_or_open_session(self, company, client):
        """Re-use the company's usable session or open a new one on KSeF (key stored encrypted)."""
        session = self._get_usable_session(company)
        if session:
            return session
        key = SessionKey.generate()
        info = client.open_online_session(key)
        session = self.sudo().create({
            'company_id': company.id,
            'environment': company.l10n_pl_ksef_environment,
            'environment_key': company._l10n_pl_ksef_environment_key(),
            'kind': 'online',
            'reference_number': info.reference_number,
            'valid_until': _to_naive_utc(info.valid_until) or fields.Datetime.now() + datetime.timedelta(hours=12),
            'key_material': encrypt_secret(self.env, key.to_json()),
            'last_used': fields.Datetime.now(),
        })
        session.message_post(body=self.env._("KSeF session %(ref)s opened.", ref=info.reference_number))
        return session.with_env(self.env)

    def _get_session_key(self):
        """The session's ``ksef_protocol.SessionKey`` (decrypted; never log it)."""
        self.ensure_one()
        return SessionKey.from_json(decrypt_secret(self.env, self.sudo().key_material).decode())

    # ------------------------------------------------------------------
    # Closing and the collective UPO
    # ------------------------------------------------------------------
    def _should_close(self):
        """Open sessions that are idle or near expiry and have no invoice waiting to be sent in them."""
        now = fields.Datetime.now()
        return self.filtered(lambda s: s.state == 'open' and (
            s.refused_code or (s.valid_until and s.valid_until <= now + SESSION_EXPIRY_MARGIN)
            or not s.last_used or s.last_used <= now - SESSION_IDLE_DELAY
        ) and not s.move_ids.filtered(lambda m: m.l10n_pl_ksef_state == 'sending'))

    def _mark_refused(self, error):
        """KSeF refused to take an invoice in this session (a session problem, not the invoice's): never use
        it again. A session KSeF already closed (21180) is followed until its collective UPO."""
        self.ensure_one()
        codes = sorted(error.codes & {21173, 21180, 21184, 21155})
        code = codes[0] if codes else 0
        vals = {'refused_code': code, 'status_text': error.message[:500]}
        if code == 21180:
            vals['state'] = 'closing'
        elif code == 21173:
            vals['state'] = 'failed'
        self.sudo().write(vals)
        _logger.info("KSeF refused session %s (%s); a new session is used", self.reference_number, code)

    def _close_on_ksef(self, client):
        """Close the session on KSeF; KSeF then processes it and prepares the collective UPO."""
        self.ensure_one()
        try:
            client.close_online_session(self.reference_number)
        except KsefError as error:
            # An already closed or expired session cannot be closed again: just follow its status.
            if error.http_status not in (400, 404, 410):
                raise
            _logger.info("KSeF session %s could not be closed (HTTP %s); following its status",
                         self.reference_number, error.http_status)
        self.write({'state': 'closing'})
        self.message_post(body=self.env._("KSeF session closed; waiting for its collective UPO."))

    def _update_from_status(self, client):
        """Read the session status; when processed, attach every collective UPO page once."""
        self.ensure_one()
        status = client.get_session_status(self.reference_number)
        vals = {
            'status_code': status.code or 0,
            'status_text': status.description,
            'invoice_count': status.invoice_count or 0,
            'successful_invoice_count': status.successful_invoice_count or 0,
            'failed_invoice_count': status.failed_invoice_count or 0,
        }
        if status.code == SESSION_FINAL_OK and status.upo_pages:
            attachments = self.env['ir.attachment']
            for page in status.upo_pages:
                upo = client.get_session_upo(self.reference_number, page.reference_number)
                attachments |= self.env['ir.attachment'].sudo().create({
                    'name': 'UPO-%s-%s.xml' % (self.reference_number, page.reference_number),
                    'raw': upo.content,
                    'mimetype': 'application/xml',
                    'res_model': self._name,
                    'res_id': self.id,
                })
            vals.update({'state': 'done', 'upo_attachment_ids': [fields.Command.set(attachments.ids)]})
        elif status.code and status.code >= 400:
            vals['state'] = 'failed'
        old_state = self.state
        self.write(vals)
        if self.state != old_state:
            if self.state == 'done':
                self.message_post(body=self.env._("KSeF processed the session; collective UPO attached."))
            else:
                self.message_post(body=self.env._(
                    "KSeF reports the session failed: %(code)s %(text)s", code=status.code,
                    text=' '.join([status.description] + list(status.details))))

    def action_view_invoices(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Invoices"),
            'res_model': 'account.move',
            'view_mode': 'list,form',
            'domain': [('id', 'in', self.move_ids.ids)],
        }
