"""Paying suppliers from 1 January 2027 (art. 108g VAT act): the transfer quotes the bill's KSeF number, or
one collective identifier (IZ) obtained from KSeF when it pays several KSeF bills of one seller.

Odoo Community has no payment-file export (SEPA credit transfer and batch payments are Enterprise
modules); those modules take the transfer's remittance text from the payment's ``memo``, which is what
is set here, so they carry the KSeF number or the IZ without further code.
"""
from collections import defaultdict

from odoo import api, fields, models

#: Longest remittance text of a Polish domestic transfer (Elixir: 4 x 35 characters).
TRANSFER_TITLE_MAX = 140


def _join_title(*parts):
    """Parts separated by spaces, without repeats, cut to what a transfer title holds."""
    seen = []
    for part in parts:
        for word in (part or '').split(' '):
            if word and word not in seen:
                seen.append(word)
    return ' '.join(seen)[:TRANSFER_TITLE_MAX]


class AccountPayment(models.Model):
    _inherit = 'account.payment'

    l10n_pl_ksef_collective_identifier_id = fields.Many2one(
        'ksef.collective.identifier', string="KSeF collective identifier", copy=False, readonly=True,
        index='btree_not_null', help="Collective identifier (IZ) quoted in this payment's memo instead of the KSeF "
                                     "numbers of the bills it pays.")

    def action_view_l10n_pl_ksef_collective_identifier(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'res_model': 'ksef.collective.identifier',
            'view_mode': 'form',
            'res_id': self.l10n_pl_ksef_collective_identifier_id.id,
        }


class AccountPaymentRegister(models.TransientModel):
    _inherit = 'account.payment.register'

    l10n_pl_ksef_bill_count = fields.Integer(string="KSeF bills", compute='_compute_l10n_pl_ksef_bill_count')
    l10n_pl_ksef_use_collective_id = fields.Boolean(
        string="Quote a KSeF collective identifier", default=True,
        help="When one payment pays several KSeF bills of one supplier, Odoo obtains a collective identifier (IZ) "
             "from KSeF for them, with the amounts paid, and puts it in the memo. Untick to quote the KSeF numbers "
             "themselves (as many as the 140-character transfer title holds).")

    @api.depends('line_ids')
    def _compute_l10n_pl_ksef_bill_count(self):
        for wizard in self:
            bills = wizard.line_ids.move_id.filtered(lambda m: m.l10n_pl_ksef_number and m.is_purchase_document())
            wizard.l10n_pl_ksef_bill_count = len(bills) if wizard.payment_type == 'outbound' else 0

    @api.model
    def _get_communication(self, lines):
        label = super()._get_communication(lines)
        moves = lines.move_id
        ksef_bills = moves.filtered(lambda m: m.l10n_pl_ksef_number and m.is_purchase_document())
        if len(moves) == 1 and ksef_bills:
            # One bill: its KSeF number leads the memo, the supplier's own number follows.
            return _join_title(ksef_bills.l10n_pl_ksef_number, label)
        return label

    def _create_payment_vals_from_wizard(self, batch_result):
        vals = super()._create_payment_vals_from_wizard(batch_result)
        return self._l10n_pl_ksef_quote_ksef(vals, batch_result['lines'], self.amount, self.currency_id,
                                             custom_memo=self.communication)

    def _create_payment_vals_from_batch(self, batch_result):
        vals = super()._create_payment_vals_from_batch(batch_result)
        currency = self.env['res.currency'].browse(vals['currency_id'])
        return self._l10n_pl_ksef_quote_ksef(vals, batch_result['lines'], vals['amount'], currency)

    def _l10n_pl_ksef_quote_ksef(self, vals, lines, amount, currency, custom_memo=None):
        """Put the KSeF number(s) or an IZ into the memo of a supplier payment paying ``lines``."""
        if vals.get('payment_type') != 'outbound' or vals.get('partner_type') != 'supplier':
            return vals
        paid = self._l10n_pl_ksef_allocate(lines, amount, currency)
        ksef_paid = {move: value for move, value in paid.items()
                     if move.l10n_pl_ksef_number and move.is_purchase_document()}
        others = [move.ref or move.name for move in paid if move not in ksef_paid]
        if len(ksef_paid) < 2:
            if ksef_paid:
                move = next(iter(ksef_paid))
                vals['memo'] = _join_title(move.l10n_pl_ksef_number, vals.get('memo'))
            return vals
        default_memo = self._get_communication(lines)
        own_text = custom_memo if custom_memo and custom_memo != default_memo else ''
        if not self.l10n_pl_ksef_use_collective_id:
            vals['memo'] = _join_title(*[move.l10n_pl_ksef_number for move in ksef_paid], *others, own_text)
            return vals
        company = lines.company_id[:1]
        identifier = self.env['ksef.collective.identifier']._l10n_pl_ksef_obtain(
            company, [(move, value, currency) for move, value in ksef_paid.items()],
            direction='outbound', origin='payment',
            partner=self.env['res.partner'].browse(vals.get('partner_id')).commercial_partner_id)
        vals['memo'] = _join_title(identifier.name, *others, own_text)
        vals['l10n_pl_ksef_collective_identifier_id'] = identifier.id
        return vals

    def _l10n_pl_ksef_allocate(self, lines, amount, currency):
        """``{move: amount in currency}`` this payment pays on each bill: the open amounts, oldest due first,
        until ``amount`` is used (what the reconciliation then does)."""
        paid = defaultdict(float)
        remaining = amount
        for line in lines.sorted(lambda l: (l.date_maturity or l.date, l.id)):
            if currency.compare_amounts(remaining, 0) <= 0:
                break
            if line.currency_id == currency:
                open_amount = abs(line.amount_residual_currency)
            else:
                open_amount = line.company_currency_id._convert(
                    abs(line.amount_residual), currency, line.company_id, self.payment_date)
            part = min(open_amount, remaining)
            paid[line.move_id] += part
            remaining -= part
        return {move: currency.round(value) for move, value in paid.items() if currency.compare_amounts(value, 0) > 0}
