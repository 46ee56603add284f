"""Payment data of a received invoice kept on the bill, so it is paid once, on time, to the right account.

- due date: the earliest ``TerminPlatnosci`` (all of them listed when there are several; a described
  term counted from the issue date); an invoice already paid is due on its payment date;
- bank account: the factor's (``RachunekBankowyFaktora``) when present, said so on the bill, else the
  seller's (``RachunekBankowy``);
- ``Zaplacono``/``DataZaplaty`` and partial payments shown on the bill; registering a payment for such
  a bill asks for confirmation first;
- ``Rozliczenie/DoZaplaty`` (amount to pay after the invoice's own charges and deductions) kept next to
  the total.
"""
import re

from odoo import fields, models
from odoo.tools.misc import format_date


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_paid = fields.Boolean(
        string="Paid according to the invoice", copy=False, readonly=True,
        help="The received invoice says it is already paid (Zaplacono, or paid in full in parts): do not pay "
             "it again.")
    l10n_pl_ksef_paid_date = fields.Date(string="Paid on (invoice)", copy=False, readonly=True)
    l10n_pl_ksef_paid_amount = fields.Monetary(string="Paid already (invoice)", copy=False, readonly=True,
                                               currency_field='currency_id')
    l10n_pl_ksef_amount_due = fields.Monetary(
        string="Amount to pay (invoice)", copy=False, readonly=True, currency_field='currency_id',
        help="Rozliczenie/DoZaplaty of the received invoice: the total after the charges and deductions the "
             "invoice lists outside its VAT summary.")
    l10n_pl_ksef_due_dates = fields.Char(string="Due dates (invoice)", copy=False, readonly=True)
    l10n_pl_ksef_factor_bank = fields.Boolean(
        string="Pay to the factor", copy=False, readonly=True,
        help="The invoice names a factor's bank account (RachunekBankowyFaktora): pay to it, not to the seller.")

    def _l10n_pl_ksef_payment_vals(self, company, partner, invoice, plan, notes):
        facts = plan.payment
        vals = {}
        due_dates = list(facts.due_dates)
        if not due_dates and facts.paid and facts.paid_date:
            due_dates = [facts.paid_date]
        if due_dates:
            vals['invoice_date_due'] = due_dates[0]
            vals['invoice_payment_term_id'] = False
            vals['l10n_pl_ksef_due_dates'] = ', '.join(format_date(self.env, day) for day in facts.due_dates) \
                or False
            if len(facts.due_dates) > 1:
                notes.append(self.env._("The invoice has several payment dates (%(dates)s): the bill is due on the "
                                        "first; the invoice's other terms may say how much is due when.",
                                        dates=vals['l10n_pl_ksef_due_dates']))
        if not facts.bank_account:
            vals['partner_bank_id'] = False  # not the supplier's first account: it may be a factor's
        else:
            vals['partner_bank_id'] = self._l10n_pl_ksef_received_bank(partner, facts.bank_account,
                                                                       facts.factor).id
            if facts.factor is not None:
                vals['l10n_pl_ksef_factor_bank'] = True
                notes.append(self.env._("The invoice is factored: pay to the factor's account %(account)s "
                                        "(%(factor)s), not to the seller's.", account=facts.bank_account.number,
                                        factor=facts.factor.name or self.env._("factor not named")))
        sign = -1 if plan.refund else 1
        if facts.paid_amount is not None:
            vals['l10n_pl_ksef_paid_amount'] = float(facts.paid_amount) * sign
        if facts.paid:
            vals.update({'l10n_pl_ksef_paid': True, 'l10n_pl_ksef_paid_date': facts.paid_date})
            notes.append(self.env._("The invoice says it was paid on %(date)s: do not pay it again; register the "
                                    "existing payment instead.",
                                    date=format_date(self.env, facts.paid_date) if facts.paid_date else '?'))
        elif facts.paid_amount:
            vals['l10n_pl_ksef_paid_date'] = facts.paid_date
            notes.append(self.env._("The invoice says %(amount)s was paid already (last on %(date)s): pay only the "
                                    "rest.", amount=facts.paid_amount, date=format_date(self.env, facts.paid_date)))
        if facts.amount_due is not None:
            vals['l10n_pl_ksef_amount_due'] = float(facts.amount_due) * sign
            if facts.amount_due != plan.total:
                notes.append(self.env._("The invoice asks for %(due)s (DoZaplaty) instead of its total %(total)s, "
                                        "after charges or deductions outside its VAT summary: pay the amount due.",
                                        due=facts.amount_due, total=plan.total))
        if facts.amount_to_settle:
            notes.append(self.env._("The invoice leaves %(amount)s to settle (DoRozliczenia).",
                                    amount=facts.amount_to_settle))
        return vals

    def _l10n_pl_ksef_received_bank(self, partner, account, factor=None):
        """The bank account ``account`` (FA(3) RachunekBankowy / RachunekBankowyFaktora) of the supplier,
        created when new; a factor's account is held by the factor (its name as holder)."""
        number = re.sub(r'\s+', '', account.number)
        Bank = self.env['res.partner.bank'].sudo()
        existing = Bank.search([('partner_id', '=', partner.id)]).filtered(
            lambda bank: bank.sanitized_acc_number == number.upper())
        if existing:
            return existing[:1]
        vals = {'partner_id': partner.id, 'acc_number': number}
        if factor is not None and factor.name:
            vals['acc_holder_name'] = factor.name
        return Bank.create(vals)

    def action_register_payment(self):
        """Ask before paying a bill the invoice says is paid already (the form's button shows a confirmation;
        this covers the list view and other callers)."""
        if not self.env.context.get('l10n_pl_ksef_paid_confirmed'):
            paid = self.filtered('l10n_pl_ksef_paid')
            if paid:
                return {
                    'type': 'ir.actions.client',
                    'tag': 'display_notification',
                    'params': {
                        'type': 'warning', 'sticky': True,
                        'title': self.env._("Already paid according to the invoice"),
                        'message': self.env._(
                            "%(bills)s: the invoice says it was paid already. Register the existing payment "
                            "(bank statement) instead of paying again, or use \"Pay anyway\" on the bill.",
                            bills=', '.join(paid.mapped('display_name'))),
                    },
                }
        return super().action_register_payment()

    def action_l10n_pl_ksef_register_payment_anyway(self):
        return self.with_context(l10n_pl_ksef_paid_confirmed=True).action_register_payment()
