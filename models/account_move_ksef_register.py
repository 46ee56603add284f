"""The invoice side of the KSeF register: every sending becomes a ``ksef.transmission``.

The queue, batch and offline code write the invoice's KSeF fields; the register follows those writes
(one write per state change for the whole set), so no sending path can skip it. A new file sent
(state 'sending' with a new XML attachment) opens a new transmission; later answers complete it.
"""
from odoo import api, fields, models

from .ksef_transmission import FINAL_TRANSMISSION_STATES

#: Invoice fields whose changes the register records.
_REGISTERED_FIELDS = frozenset({
    'l10n_pl_ksef_state', 'l10n_pl_ksef_reference', 'l10n_pl_ksef_status_code', 'l10n_pl_ksef_number',
    'l10n_pl_ksef_upo_attachment_id', 'l10n_pl_ksef_xml_attachment_id',
})
#: Context key: why an invoice sent before goes back to the queue ('session_refused' or 'not_received').
REQUEUE_REASON = 'l10n_pl_ksef_requeue_reason'
#: Context key: the 'sending' write of a set whose new files were recorded just before (batch package).
NEW_FILES = 'l10n_pl_ksef_new_files'


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_transmission_ids = fields.One2many('ksef.transmission', 'move_id', string="KSeF transmissions",
                                                    readonly=True)
    l10n_pl_ksef_transmission_id = fields.Many2one(
        'ksef.transmission', string="Current KSeF transmission", compute='_compute_l10n_pl_ksef_transmission_id',
        store=True, readonly=True, copy=False, index='btree_not_null')
    l10n_pl_ksef_transmission_count = fields.Integer(string="KSeF transmission count",
                                                     compute='_compute_l10n_pl_ksef_transmission_count')

    @api.depends('l10n_pl_ksef_transmission_ids')
    def _compute_l10n_pl_ksef_transmission_id(self):
        for move in self:
            move.l10n_pl_ksef_transmission_id = move.l10n_pl_ksef_transmission_ids.sorted('id')[-1:]

    @api.depends('l10n_pl_ksef_transmission_ids')
    def _compute_l10n_pl_ksef_transmission_count(self):
        for move in self:
            move.l10n_pl_ksef_transmission_count = len(move.l10n_pl_ksef_transmission_ids)

    def write(self, vals):
        result = super().write(vals)
        if _REGISTERED_FIELDS.intersection(vals) and self.ids:
            self._l10n_pl_ksef_register_follow(vals)
        return result

    def _l10n_pl_ksef_register_follow(self, vals):
        """Record in the register what ``vals`` just changed on these invoices."""
        state = vals.get('l10n_pl_ksef_state')
        if state == 'sending' and (vals.get('l10n_pl_ksef_xml_attachment_id') or self.env.context.get(NEW_FILES)):
            self._l10n_pl_ksef_register_new_transmissions()
            return
        transmissions = self.sudo().l10n_pl_ksef_transmission_id
        if not transmissions:
            return
        details = {}
        for field, target in (('l10n_pl_ksef_reference', 'reference'), ('l10n_pl_ksef_status_code', 'status_code'),
                              ('l10n_pl_ksef_number', 'ksef_number'),
                              ('l10n_pl_ksef_upo_attachment_id', 'upo_attachment_id')):
            if vals.get(field):
                details[target] = vals[field]
        outcome = {}
        now = fields.Datetime.now()
        if state == 'sent':
            outcome = {'state': 'sent'}
        elif state == 'accepted':
            outcome = {'state': 'duplicate' if vals.get('l10n_pl_ksef_status_code') == 440 else 'accepted',
                       'answered_date': now}
        elif state == 'rejected':
            outcome = {'state': 'rejected', 'answered_date': now, 'status_text': vals.get('l10n_pl_ksef_error')}
        elif state in ('queued', 'not_sent', 'offline_issued'):
            outcome = {'state': self.env.context.get(REQUEUE_REASON) or 'not_received', 'answered_date': now}
        if outcome:
            # Only a transmission still waiting for this answer takes it (a late repeat is ignored).
            waiting = transmissions.filtered(
                lambda t: t.state == 'sending' if state == 'sent' else t.state not in FINAL_TRANSMISSION_STATES)
            if waiting:
                waiting.write({**details, **outcome})
            transmissions -= waiting
        if details and transmissions:
            transmissions.write(details)

    def _l10n_pl_ksef_register_new_transmissions(self):
        """One new transmission per invoice for the file just recorded as being sent."""
        self.env['ksef.transmission'].sudo().create([{
            'move_id': move.id,
            'kind': move._l10n_pl_ksef_transmission_kind(),
            'invoice_number': move.name,
            'session_id': move.l10n_pl_ksef_session_id.id,
            'xml_attachment_id': move.l10n_pl_ksef_xml_attachment_id.id,
            'xml_hash': move.l10n_pl_ksef_invoice_hash,
            'xml_size': move.l10n_pl_ksef_invoice_size,
            'user_id': move.l10n_pl_ksef_queued_uid.id,
        } for move in self])

    def _l10n_pl_ksef_transmission_kind(self):
        self.ensure_one()
        if self.l10n_pl_ksef_session_id.kind == 'batch':
            return 'batch'
        if self._l10n_pl_ksef_hash_of_corrected_invoice():
            return 'technical_correction'
        if self._l10n_pl_ksef_send_in_offline_mode():
            return 'offline'
        if self.l10n_pl_ksef_transmission_id.state == 'session_refused':
            return 'resend'
        return 'online'

    def _l10n_pl_ksef_register_status_text(self, text):
        """KSeF's own status text of the current transmission (e.g. 'Sukces', 'Duplikat faktury')."""
        self.sudo().l10n_pl_ksef_transmission_id.filtered(lambda t: t.status_text != text).write(
            {'status_text': text})

    def action_l10n_pl_ksef_view_register(self):
        """The invoice's transmissions in the KSeF register."""
        action = self.env['ir.actions.act_window']._for_xml_id('l10n_pl_ksef.action_ksef_transmission')
        action['domain'] = [('move_id', 'in', self.ids)]
        action['context'] = {'search_default_group_by_state': 0}
        return action
