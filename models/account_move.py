"""KSeF state, fields and user actions on invoices. The network work is in account_move_ksef_queue.py."""
import logging
import re

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol.errors import KsefError
from ..ksef_protocol.upo import parse_upo

_logger = logging.getLogger(__name__)

KSEF_STATES = [
    ('not_sent', "Not sent"),
    ('queued', "Queued"),
    ('sending', "Sending"),
    ('sent', "Sent, awaiting KSeF"),
    ('accepted', "Accepted"),
    ('rejected', "Rejected"),
    # Offline modes (offline24 / emergency): issued with QR code II, to be sent later.
    ('offline_issued', "Issued offline, to send"),
    ('offline_sent', "Sent after offline issue"),
]
#: States from which an invoice may be (re)queued.
QUEUEABLE_STATES = ('not_sent', 'rejected', 'offline_issued')
#: States in which KSeF may already hold (or soon hold) the invoice: never queue again.
IN_FLIGHT_STATES = ('queued', 'sending', 'sent')


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_state = fields.Selection(
        KSEF_STATES, string="KSeF status", default='not_sent', copy=False, tracking=True, index=True,
        readonly=True)
    l10n_pl_ksef_number = fields.Char(string="KSeF number", copy=False, readonly=True, tracking=True, index=True,
                                      help="Number KSeF assigned to the invoice on acceptance.")
    l10n_pl_ksef_reference = fields.Char(string="KSeF invoice reference", copy=False, readonly=True,
                                         help="Reference of the sending, used to follow its status.")
    l10n_pl_ksef_session_id = fields.Many2one('ksef.session', string="KSeF session", copy=False, readonly=True,
                                              index='btree_not_null')
    l10n_pl_ksef_invoice_hash = fields.Char(string="Sent XML hash (SHA-256)", copy=False, readonly=True)
    l10n_pl_ksef_invoice_size = fields.Integer(string="Sent XML size (bytes)", copy=False, readonly=True)
    l10n_pl_ksef_xml_attachment_id = fields.Many2one('ir.attachment', string="Sent FA(3) XML", copy=False,
                                                     readonly=True)
    l10n_pl_ksef_upo_attachment_id = fields.Many2one('ir.attachment', string="UPO", copy=False, readonly=True)
    l10n_pl_ksef_original_session_reference = fields.Char(
        string="Original KSeF session", copy=False, readonly=True,
        help="Session in which KSeF first received this invoice, when a later sending was a duplicate (440).")
    l10n_pl_ksef_invoicing_mode = fields.Selection(
        [('Online', "Online"), ('Offline', "Offline")], string="KSeF invoicing mode", copy=False, readonly=True,
        help="How KSeF classified the invoice: 'Offline' when its issue date (P_1) is before the day KSeF "
             "received it (automatic offline determination).")
    l10n_pl_ksef_status_code = fields.Integer(string="KSeF status code", copy=False, readonly=True)
    l10n_pl_ksef_error = fields.Text(string="KSeF message", copy=False, readonly=True)
    l10n_pl_ksef_sent_date = fields.Datetime(string="Sent to KSeF on", copy=False, readonly=True)
    l10n_pl_ksef_accepted_date = fields.Datetime(string="Accepted by KSeF on", copy=False, readonly=True)
    l10n_pl_ksef_next_step = fields.Char(compute='_compute_l10n_pl_ksef_next_step')
    l10n_pl_ksef_applicable = fields.Boolean(compute='_compute_l10n_pl_ksef_next_step')
    l10n_pl_ksef_fa3_findings = fields.Text(
        string="What KSeF still needs", compute='_compute_l10n_pl_ksef_fa3_findings',
        help="What to fix on the invoice before KSeF can accept its FA(3).")
    l10n_pl_ksef_show_send = fields.Boolean(string="Can be sent to KSeF", compute='_compute_l10n_pl_ksef_next_step')
    l10n_pl_ksef_can_issue_offline = fields.Boolean(
        string="Can issue offline", compute='_compute_l10n_pl_ksef_can_issue_offline',
        help="The company holds a valid Offline KSeF certificate, needed for KOD II on invoices issued offline.")
    l10n_pl_ksef_pending_send = fields.Json(
        string="Send waiting for KSeF", copy=False, groups='account.group_account_invoice',
        help="Settings of a \"Send\" waiting for the KSeF number: the PDF and e-mail go out once it is known.")

    _l10n_pl_ksef_number_unique = models.Constraint(
        'UNIQUE(company_id, l10n_pl_ksef_number)',
        "This KSeF number is already on another invoice of the company.",
    )

    # ------------------------------------------------------------------
    # Applicability and the banner
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_is_applicable(self):
        """True for customer invoices/credit notes of a Polish company (what KSeF expects)."""
        self.ensure_one()
        return self.move_type in ('out_invoice', 'out_refund') and self.company_id._l10n_pl_ksef_is_polish()

    def _l10n_pl_ksef_handled_by_pl_edi(self):
        """True when Odoo's own ``l10n_pl_edi`` already sends (or sent) this invoice.

        One invoice must never reach KSeF twice: such invoices are left to that module.
        """
        self.ensure_one()
        if 'l10n_pl_edi_status' not in self._fields:
            return False
        return bool(self.l10n_pl_edi_status) or bool(
            'l10n_pl_edi_number' in self._fields and self.l10n_pl_edi_number)

    @api.depends('company_id')
    def _compute_l10n_pl_ksef_can_issue_offline(self):
        for company, moves in self.grouped('company_id').items():
            moves.l10n_pl_ksef_can_issue_offline = bool(company) and company._l10n_pl_ksef_is_polish() \
                and bool(company._l10n_pl_ksef_get_offline_certificate())

    def _l10n_pl_ksef_upo_readable(self):
        """``(upo, [its entries for this invoice])`` for the readable UPO report, or ``(None, [])``."""
        self.ensure_one()
        raw = self.sudo().l10n_pl_ksef_upo_attachment_id.raw
        if not raw:
            return None, []
        try:
            upo = parse_upo(raw)
        except KsefError as error:
            _logger.info("UPO of invoice %s cannot be shown: %s", self.id, error)
            return None, []
        entry = upo.find(ksef_number=self.l10n_pl_ksef_number) if self.l10n_pl_ksef_number else None
        return upo, [entry] if entry else upo.documents

    def action_l10n_pl_ksef_show_upo(self):
        """The UPO as a reader sees it (the signed XML stays the legal document, downloadable beside it)."""
        self.ensure_one()
        if not self.l10n_pl_ksef_upo_attachment_id:
            raise UserError(self.env._("KSeF issues a UPO only once it accepted the invoice."))
        return self.env.ref('l10n_pl_ksef.action_report_l10n_pl_ksef_upo').report_action(self, config=False)

    def _compute_l10n_pl_ksef_fa3_findings(self):
        # Recomputed at every read (no dependencies): the FA(3) depends on most of the invoice.
        date_finding = self.env._("Set the invoice date (FA(3) P_1).")
        for move in self:
            findings = []
            if move.id and move.company_id and move._l10n_pl_ksef_is_applicable() and move.invoice_line_ids \
                    and (move.state == 'draft' or (move.state == 'posted' and move.l10n_pl_ksef_state in (
                        'not_sent', 'rejected', 'offline_issued'))) and not move._l10n_pl_ksef_handled_by_pl_edi():
                findings = move._l10n_pl_ksef_check_fa3()
                if move.state == 'draft':
                    # Posting sets today's date itself.
                    findings = [finding for finding in findings if finding != date_finding]
            move.l10n_pl_ksef_fa3_findings = '\n'.join('• %s' % finding for finding in findings) or False

    @api.depends('l10n_pl_ksef_state', 'state', 'move_type', 'company_id', 'l10n_pl_ksef_error')
    def _compute_l10n_pl_ksef_next_step(self):
        texts = {
            'not_sent': self.env._("Not sent to KSeF yet. Click \"Send to KSeF\" to queue it."),
            'queued': self.env._("Queued: it will be sent to KSeF by the scheduled action within minutes."),
            'sending': self.env._("Being sent to KSeF; the status is checked automatically."),
            'sent': self.env._("Sent; waiting for KSeF to verify it. Click \"Refresh KSeF status\" to check now."),
            'accepted': self.env._("Accepted by KSeF. The UPO (official receipt) is attached."),
            'rejected': self.env._("Rejected by KSeF. Correct the invoice as explained below, then send it again."),
            'offline_issued': self.env._("Issued offline: it must be sent to KSeF within the legal deadline."),
            'offline_sent': self.env._("Sent to KSeF after being issued offline."),
        }
        for move in self:
            move.l10n_pl_ksef_applicable = bool(move.company_id) and move._l10n_pl_ksef_is_applicable() \
                and move.state == 'posted'
            move.l10n_pl_ksef_next_step = texts.get(move.l10n_pl_ksef_state) if move.l10n_pl_ksef_applicable \
                else False
            move.l10n_pl_ksef_show_send = move.l10n_pl_ksef_applicable \
                and move.l10n_pl_ksef_state in QUEUEABLE_STATES and not move._l10n_pl_ksef_handled_by_pl_edi()

    @api.depends('l10n_pl_ksef_state')
    def _compute_highlight_send_button(self):
        # EXTENDS 'account': one call to action (as l10n_my_edi): "Send to KSeF" first, then "Send".
        super()._compute_highlight_send_button()
        for move in self:
            if move.l10n_pl_ksef_show_send or move.l10n_pl_ksef_state in IN_FLIGHT_STATES:
                move.highlight_send_button = False

    def write(self, vals):
        res = super().write(vals)
        if vals.get('l10n_pl_ksef_state') in ('accepted', 'offline_issued'):
            self._l10n_pl_ksef_set_aside_pdf_without_codes()
        if vals.get('l10n_pl_ksef_state') in ('accepted', 'offline_issued', 'offline_sent'):
            self._l10n_pl_ksef_release_pending_send()
        return res

    def _l10n_pl_ksef_set_aside_pdf_without_codes(self):
        """KSeF gave the number (or the invoice is issued offline): the invoice PDF kept by Odoo (made by an
        earlier Send or Download) has no KSeF codes. Odoo reuses it for every later Send and for the portal,
        so it is detached (kept in the attachments, renamed) and the next one is rendered with the codes."""
        self.sudo().filtered('invoice_pdf_report_id')._detach_attachments()

    def _l10n_pl_ksef_release_pending_send(self):
        """The "Send" that waited for the KSeF number (or for the offline issue) goes out through Odoo's
        asynchronous sending."""
        pending = self.sudo().filtered('l10n_pl_ksef_pending_send')
        if not pending:
            return
        for move in pending:
            move.sending_data = {
                'author_user_id': move.l10n_pl_ksef_pending_send.get('author_user_id'),
                'author_partner_id': move.l10n_pl_ksef_pending_send.get('author_partner_id'),
                'l10n_pl_ksef_settings': move.l10n_pl_ksef_pending_send,
            }
        pending.l10n_pl_ksef_pending_send = False
        cron = self.env.ref('account.ir_cron_account_move_send', raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()

    # ------------------------------------------------------------------
    # Queueing
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_eligibility_reason(self):
        """Why this invoice cannot go to KSeF at all through this addon (translated), or False."""
        self.ensure_one()
        if not self._l10n_pl_ksef_is_applicable():
            return self.env._("Only customer invoices and credit notes of a Polish company go to KSeF.")
        if self.state != 'posted':
            return self.env._("The invoice must be posted first.")
        if self._l10n_pl_ksef_handled_by_pl_edi():
            return self.env._("This invoice is handled by the Odoo module \"Poland - E-invoicing (l10n_pl_edi)\"; "
                              "it is not sent a second time.")
        return False

    def _l10n_pl_ksef_state_label(self):
        """The translated label of the invoice's KSeF state."""
        self.ensure_one()
        return dict(self._fields['l10n_pl_ksef_state']._description_selection(self.env)).get(
            self.l10n_pl_ksef_state)

    def _l10n_pl_ksef_get_send_blockers(self):
        """Why each invoice cannot be queued: ``{move: [reason, ...]}`` (only moves with reasons).

        Reasons are translated and name the field to fix (FA(3) findings included).
        """
        blockers = {}
        for move in self:
            reason = move._l10n_pl_ksef_eligibility_reason()
            if not reason and move.l10n_pl_ksef_state not in QUEUEABLE_STATES:
                reason = self.env._("Already %(state)s in KSeF.", state=move._l10n_pl_ksef_state_label())
            reasons = [reason] if reason else move._l10n_pl_ksef_check_fa3()
            if reasons:
                blockers[move] = reasons
        return blockers

    def _l10n_pl_ksef_queue(self):
        """Queue these invoices for sending to KSeF; no network call (the cron sends them).

        Public API for scripts and other modules. Invoices that cannot be sent are not
        queued and raise nothing: use :meth:`_l10n_pl_ksef_get_send_blockers` to learn why.
        Returns the queued invoices.
        """
        self._l10n_pl_ksef_check_send_rights()
        blockers = self._l10n_pl_ksef_get_send_blockers()
        to_queue = self.filtered(lambda m: m not in blockers)
        if not to_queue:
            return to_queue
        to_queue.company_id._l10n_pl_ksef_take_over_from_pl_edi()
        to_queue.sudo().write({'l10n_pl_ksef_state': 'queued', 'l10n_pl_ksef_error': False,
                               'l10n_pl_ksef_status_code': 0, 'l10n_pl_ksef_original_session_reference': False,
                               'l10n_pl_ksef_retry_at': False, 'l10n_pl_ksef_retry_count': 0,
                               'l10n_pl_ksef_queued_uid': self.env.uid})
        for move in to_queue:
            move.message_post(body=self.env._("Queued for sending to KSeF."))
        self.env['account.move']._l10n_pl_ksef_trigger_cron()
        return to_queue

    def _l10n_pl_ksef_check_send_rights(self):
        """Only invoicing users (and above) may send invoices to KSeF."""
        if not self.env.su and not self.env.user.has_group('account.group_account_invoice'):
            raise UserError(self.env._("Only users with invoicing rights can send invoices to KSeF."))
        self.check_access('write')

    @api.model
    def _l10n_pl_ksef_trigger_cron(self, at=None):
        """Ask the KSeF cron to run at ``at`` (default: as soon as possible)."""
        cron = self.env.ref('l10n_pl_ksef.ir_cron_l10n_pl_ksef_process_queue', raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at=at)

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        auto = posted.filtered(lambda m: m._l10n_pl_ksef_is_applicable() and m.company_id.l10n_pl_ksef_auto_send
                               and m.l10n_pl_ksef_state in QUEUEABLE_STATES and not m._l10n_pl_ksef_handled_by_pl_edi())
        if auto and self.env.user.has_group('account.group_account_invoice'):
            # Invoices with FA(3) findings stay 'not sent'; the banner and the wizard tell why.
            auto._l10n_pl_ksef_queue()
        return posted

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------
    def action_l10n_pl_ksef_send(self):
        """Open the send wizard (what will be sent, what cannot and why)."""
        self._l10n_pl_ksef_check_send_rights()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Send to KSeF"),
            'res_model': 'l10n_pl_ksef.send.wizard',
            'view_mode': 'form',
            'target': 'new',
            'context': {'default_move_ids': [fields.Command.set(self.ids)]},
        }

    def action_l10n_pl_ksef_refresh_status(self):
        """Ask KSeF now for the status of these invoices (and download their UPO when accepted)."""
        self._l10n_pl_ksef_check_send_rights()
        moves = self.filtered(lambda m: m.l10n_pl_ksef_state in ('sending', 'sent'))
        if not moves:
            raise UserError(self.env._("None of these invoices is waiting for a KSeF answer."))
        for company, company_moves in moves.grouped('company_id').items():
            try:
                company_moves.sudo()._l10n_pl_ksef_poll_company(company)
            except KsefError as error:
                raise UserError(self.env._("KSeF answered with an error: %(error)s", error=error.message)) from None
        return True

    def action_l10n_pl_ksef_download_upo(self):
        """Download the UPO (official receipt) attached to the invoice; fetch it first if missing."""
        self.ensure_one()
        if not self.l10n_pl_ksef_upo_attachment_id:
            if self.l10n_pl_ksef_state != 'accepted':
                raise UserError(self.env._("KSeF issues a UPO only once it accepted the invoice."))
            self._l10n_pl_ksef_check_send_rights()
            try:
                self.sudo()._l10n_pl_ksef_fetch_upo(self.company_id._l10n_pl_ksef_get_client())
            except KsefError as error:
                raise UserError(self.env._("The UPO could not be downloaded from KSeF: %(error)s",
                                           error=error.message)) from None
        return {
            'type': 'ir.actions.act_url',
            'url': '/web/content/%s?download=true' % self.l10n_pl_ksef_upo_attachment_id.id,
            'target': 'download',
        }

    def _l10n_pl_ksef_fa3_filename(self):
        """Attachment name of the FA(3) XML; invoice numbers such as FV/2026/00001 hold slashes,
        which are not allowed in file names."""
        self.ensure_one()
        return 'FA3-%s.xml' % re.sub(r'[\\/:*?"<>|\s]+', '_', self.name or str(self.id))

    # ------------------------------------------------------------------
    # Chatter
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_log(self, message, error=None):
        """Post a KSeF transition on the invoice's chatter (``error`` shown as a detail list)."""
        body = Markup('%s') % message
        if error:
            body += Markup('<br/>%s') % error
        for move in self:
            move.message_post(body=body)
