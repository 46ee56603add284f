"""What KSeF holds (or is about to receive) cannot change in Odoo.

Once an invoice is queued, being sent, sent, accepted or issued offline, it cannot be reset to draft,
cancelled or have anything that goes into its FA(3) changed: not from the form (the button is hidden)
and not over RPC (server-side guard). A queued invoice not sent yet can be taken out of the queue
("Cancel KSeF sending"), atomically against a running scheduled action: both take the invoice's row
lock. Accepted invoices are changed by credit notes; rejected ones can be reset, fixed and posted again.
"""
from odoo import api, models
from odoo.exceptions import LockError, UserError

#: KSeF holds the invoice, is receiving it, or it was handed to the buyer as issued offline.
LOCKED_STATES = ('queued', 'sending', 'sent', 'accepted', 'offline_issued', 'offline_sent')
#: Invoice fields that go into its FA(3) (directly or through the lines): frozen while locked.
FA3_MOVE_FIELDS = frozenset({
    'name', 'partner_id', 'commercial_partner_id', 'partner_shipping_id', 'partner_bank_id', 'invoice_date',
    'delivery_date', 'invoice_date_due', 'invoice_payment_term_id', 'currency_id', 'journal_id', 'move_type',
    'fiscal_position_id', 'invoice_line_ids', 'line_ids', 'narration', 'ref',
    'invoice_origin', 'reversed_entry_id', 'company_id', 'state', 'invoice_incoterm_id',
})
FA3_LINE_FIELDS = frozenset({
    'name', 'quantity', 'price_unit', 'discount', 'product_id', 'product_uom_id', 'tax_ids', 'currency_id',
    'account_id', 'move_id', 'display_type', 'balance', 'debit', 'credit', 'amount_currency', 'price_subtotal',
    'price_total', 'sequence', 'partner_id',
})


class AccountMove(models.Model):
    _inherit = 'account.move'

    def _l10n_pl_ksef_is_locked(self):
        """True when KSeF holds (or is about to receive) this invoice as it is."""
        self.ensure_one()
        return self.l10n_pl_ksef_state in LOCKED_STATES

    def _l10n_pl_ksef_lock_reason(self):
        """Why this invoice cannot be reset to draft or changed (translated), or False."""
        self.ensure_one()
        state = self.l10n_pl_ksef_state
        if state == 'queued':
            return self.env._("Invoice %(invoice)s is queued for KSeF: use \"Cancel KSeF sending\" first, then reset "
                              "it to draft.", invoice=self.display_name)
        if state in ('sending', 'sent'):
            return self.env._("Invoice %(invoice)s is being sent to KSeF and cannot be changed. Wait for KSeF's "
                              "answer: if KSeF rejects it, you can reset it and correct it.",
                              invoice=self.display_name)
        if state in ('accepted', 'offline_sent'):
            return self.env._("Invoice %(invoice)s is registered in KSeF (%(number)s) and cannot be changed: "
                              "issue a credit note (correcting invoice) instead.",
                              invoice=self.display_name, number=self.l10n_pl_ksef_number or '-')
        if state == 'offline_issued':
            return self.env._("Invoice %(invoice)s was issued offline and handed to the buyer with its KSeF QR "
                              "codes; it cannot be changed: issue a credit note (correcting invoice) instead.",
                              invoice=self.display_name)
        return False

    def _l10n_pl_ksef_raise_if_locked(self):
        reasons = [reason for reason in (move._l10n_pl_ksef_lock_reason() for move in self) if reason]
        if reasons:
            raise UserError('\n'.join(reasons))

    def _l10n_pl_ksef_lock_rows(self):
        """Take the row locks of these invoices (the scheduled action holds them while it sends) and
        re-read their KSeF state; a clear error when the scheduled action is on them right now."""
        try:
            self.lock_for_update()
        except LockError:
            raise UserError(self.env._(
                "The scheduled action is sending this invoice to KSeF right now. Try again in a moment.")) from None
        self.invalidate_recordset(['l10n_pl_ksef_state', 'state'])

    # ------------------------------------------------------------------
    # Reset to draft, cancel, edit
    # ------------------------------------------------------------------
    @api.depends('l10n_pl_ksef_state')
    def _compute_show_reset_to_draft_button(self):
        super()._compute_show_reset_to_draft_button()
        for move in self:
            if move.l10n_pl_ksef_state in LOCKED_STATES:
                move.show_reset_to_draft_button = False

    def button_draft(self):
        ksef = self.filtered(lambda m: m.id and m.l10n_pl_ksef_state != 'not_sent')
        if ksef:
            ksef._l10n_pl_ksef_lock_rows()
            ksef._l10n_pl_ksef_raise_if_locked()
        return super().button_draft()

    def write(self, vals):
        if FA3_MOVE_FIELDS.intersection(vals) and not self.env.context.get('l10n_pl_ksef_allow_locked_write'):
            locked = self.filtered(lambda m: m.id and m.l10n_pl_ksef_state in LOCKED_STATES)
            if locked:
                locked._l10n_pl_ksef_check_locked_write(vals)
        return super().write(vals)

    def _l10n_pl_ksef_check_locked_write(self, vals):
        """Refuse a change of what went (or goes) into the FA(3) of a locked invoice."""
        for move in self:
            changed = [name for name in FA3_MOVE_FIELDS.intersection(vals)
                       if self._fields[name].convert_to_write(move[name], move) != vals[name]]
            if changed:
                raise UserError(move._l10n_pl_ksef_lock_reason())

    # ------------------------------------------------------------------
    # Cancel KSeF sending
    # ------------------------------------------------------------------
    def action_l10n_pl_ksef_cancel_sending(self):
        """Take queued invoices out of the KSeF queue (they were not sent); then they can be reset to draft."""
        self._l10n_pl_ksef_check_send_rights()
        moves = self.sudo()
        moves._l10n_pl_ksef_lock_rows()
        not_queued = moves.filtered(lambda m: m.l10n_pl_ksef_state != 'queued')
        if not_queued:
            raise UserError(self.env._(
                "Only invoices waiting in the queue can be taken out of it; %(invoices)s already went to KSeF "
                "(or never were queued).", invoices=', '.join(not_queued.mapped('display_name'))))
        # An invoice issued offline stays issued offline (it was handed to the buyer): only out of the queue.
        offline = moves.filtered(lambda m: 'l10n_pl_ksef_offline_mode' in m._fields and m.l10n_pl_ksef_offline_mode)
        for target, part in (('offline_issued', offline), ('not_sent', moves - offline)):
            if part:
                part.write({'l10n_pl_ksef_state': target, 'l10n_pl_ksef_error': False,
                            'l10n_pl_ksef_retry_at': False, 'l10n_pl_ksef_retry_count': 0})
        for move in moves:
            move.message_post(body=self.env._("KSeF sending cancelled by %(user)s; the invoice was not sent.",
                                              user=self.env.user.name))
        return True


class AccountMoveLine(models.Model):
    _inherit = 'account.move.line'

    def write(self, vals):
        if FA3_LINE_FIELDS.intersection(vals) and not self.env.context.get('l10n_pl_ksef_allow_locked_write'):
            locked = self.move_id.filtered(lambda m: m.l10n_pl_ksef_state in LOCKED_STATES)
            if locked:
                for line in self.filtered(lambda l: l.move_id in locked):
                    changed = [name for name in FA3_LINE_FIELDS.intersection(vals)
                               if line._fields[name].convert_to_write(line[name], line) != vals[name]]
                    if changed:
                        raise UserError(line.move_id._l10n_pl_ksef_lock_reason())
        return super().write(vals)
