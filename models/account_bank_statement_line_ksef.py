"""Bank statement lines quoting a KSeF number or a collective identifier (IZ) reconcile with those invoices.

Odoo 19 Community has no automatic matching engine for statement lines (the ``_get_invoice_matching_*``
rules of reconciliation models live in the Enterprise bank-reconciliation module), so the match is done
here: when a line is created, by the scheduled action (for IZs KSeF could not be asked about at once) and
by the "Match KSeF references" action. An IZ unknown to Odoo is resolved through KSeF and recorded.
The line's suspense item is replaced by one counterpart per invoice (what it pays, or the amount the IZ
states for it), reconciled with the invoice; what is left stays in suspense.
"""
import datetime
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..ksef_protocol.api_collective import find_collective_identifiers, find_ksef_numbers
from ..ksef_protocol.errors import KsefError
from .ksef_collective_identifier_errors import collective_error_message

_logger = logging.getLogger(__name__)

#: Statement lines older than this are left alone by the scheduled action.
MATCH_WINDOW_DAYS = 90
OPEN_ACCOUNT_TYPES = ('asset_receivable', 'liability_payable')


class AccountBankStatementLine(models.Model):
    _inherit = 'account.bank.statement.line'

    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines._l10n_pl_ksef_match_references()
        return lines

    def _l10n_pl_ksef_match_references(self, raise_errors=False):
        """Reconcile the unreconciled lines whose label quotes KSeF numbers or IZs; returns the matched lines."""
        matched = self.browse()
        for st_line in self:
            if st_line.is_reconciled or not st_line.payment_ref or not st_line.move_id:
                continue
            label = st_line.payment_ref
            numbers = find_ksef_numbers(label)
            identifiers = find_collective_identifiers(label)
            if not numbers and not identifiers:
                continue
            try:
                wanted = st_line._l10n_pl_ksef_wanted_invoices(numbers, identifiers)
            except KsefError as error:
                if raise_errors:
                    raise UserError(collective_error_message(self.env, error, st_line.company_id)) from error
                _logger.info("KSeF could not resolve a collective identifier of statement line %s: %s", st_line.id, error)
                continue
            except UserError as error:
                # KSeF not configured for the company: importing a statement must not fail for it.
                if raise_errors:
                    raise
                _logger.info("Collective identifier of statement line %s not resolved: %s", st_line.id, error)
                continue
            if wanted and st_line._l10n_pl_ksef_reconcile_with(wanted):
                matched |= st_line
        return matched

    def _l10n_pl_ksef_wanted_invoices(self, numbers, identifiers):
        """``{move: amount or None}``: the invoices the label names (None: pay what is open)."""
        self.ensure_one()
        wanted = {}
        moves = self.env['account.move'].search([
            ('company_id', '=', self.company_id.id), ('l10n_pl_ksef_number', 'in', numbers), ('state', '=', 'posted'),
        ]) if numbers else self.env['account.move']
        for move in moves:
            wanted[move] = None
        for number in identifiers:
            identifier = self.env['ksef.collective.identifier']._l10n_pl_ksef_resolve(self.company_id, number)
            for line in identifier.line_ids.filtered(lambda l: l.move_id.state == 'posted'):
                amount = line.amount if line.has_amount else None
                wanted[line.move_id] = None if amount is None else amount + (wanted.get(line.move_id) or 0.0)
        return wanted

    def _l10n_pl_ksef_reconcile_with(self, wanted):
        """Replace the suspense item by counterparts of ``wanted``'s open items and reconcile them."""
        self.ensure_one()
        _liquidity, suspense, other = self._seek_for_lines()
        if other or not suspense:
            return False  # someone already started reconciling this line: leave it to them
        transaction_amount, currency = self._get_accounting_amounts_and_currencies()[:2]
        sign = 1 if transaction_amount > 0 else -1
        remaining = abs(transaction_amount)
        open_lines = self.env['account.move.line'].search([
            ('move_id', 'in', [move.id for move in wanted]), ('account_type', 'in', OPEN_ACCOUNT_TYPES),
            ('reconciled', '=', False), ('parent_state', '=', 'posted'),
        ]).filtered(lambda l: sign * l.amount_residual > 0 and l.currency_id == currency)
        left = {move: amount for move, amount in wanted.items()}
        counterparts, pairs = [], []
        for aml in open_lines.sorted(lambda l: (l.date_maturity or l.date, l.id)):
            open_amount = abs(aml.amount_residual_currency)
            cap = left.get(aml.move_id)
            take = min(open_amount, remaining, cap if cap is not None else open_amount)
            if currency.compare_amounts(take, 0) <= 0:
                continue
            amounts = self._prepare_counterpart_amounts_using_st_line_rate(
                currency, -aml.amount_residual * take / open_amount, -sign * take)
            counterparts.append({
                'name': self.payment_ref, 'account_id': aml.account_id.id, 'partner_id': aml.partner_id.id,
                'currency_id': currency.id, 'amount_currency': amounts['amount_currency'], 'balance': amounts['balance'],
            })
            pairs.append(aml)
            remaining -= take
            if cap is not None:
                left[aml.move_id] = cap - take
        if not counterparts:
            return False
        liquidity_vals, suspense_vals = self._prepare_move_line_default_vals()
        partner = pairs[0].partner_id.commercial_partner_id
        liquidity_vals['partner_id'] = partner.id
        new_lines = [liquidity_vals] + counterparts
        if not currency.is_zero(remaining):
            company_left = -(liquidity_vals['debit'] - liquidity_vals['credit'] + sum(c['balance'] for c in counterparts))
            suspense_vals.update(partner_id=partner.id, amount_currency=-sign * remaining, debit=max(company_left, 0.0),
                                 credit=max(-company_left, 0.0))
            new_lines.append(suspense_vals)
        # The partner reaches the statement line from its liquidity item (writing it on the line would rebuild
        # the default items).
        self.with_context(force_delete=True, skip_readonly_check=True).write({
            'line_ids': [fields.Command.clear()] + [fields.Command.create(vals) for vals in new_lines],
        })
        st_move_lines = self.move_id.line_ids
        for aml in pairs:
            counterpart = st_move_lines.filtered(lambda l: l.account_id == aml.account_id and not l.reconciled
                                                 and l.partner_id == aml.partner_id)[:1]
            (counterpart + aml).reconcile()
        return True

    def action_l10n_pl_ksef_match_references(self):
        """List action: reconcile the selected lines with the invoices their labels quote."""
        matched = self._l10n_pl_ksef_match_references(raise_errors=True)
        return {
            'type': 'ir.actions.client', 'tag': 'display_notification',
            'params': {'type': 'success' if matched else 'warning', 'sticky': False,
                       'message': self.env._("%(count)s of %(total)s statement lines reconciled with the invoices "
                                             "whose KSeF number or collective identifier they quote.",
                                             count=len(matched), total=len(self))},
        }

    @api.model
    def _cron_l10n_pl_ksef_match_references(self):
        """Scheduled action: retry recent unreconciled lines that quote KSeF references."""
        since = fields.Date.today() - datetime.timedelta(days=MATCH_WINDOW_DAYS)
        lines = self.search([('is_reconciled', '=', False), ('date', '>=', since), ('payment_ref', 'ilike', '-')])
        lines = lines.filtered(lambda l: find_collective_identifiers(l.payment_ref) or find_ksef_numbers(l.payment_ref))
        for company in lines.company_id:
            lines.filtered(lambda l: l.company_id == company)._l10n_pl_ksef_match_references()
