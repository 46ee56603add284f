"""Links of a received bill to the bills it corrects and to the advance bills it settles.

A correction (KOR, KOR_ZAL, KOR_ROZ) names the invoices it corrects (``DaneFaKorygowanej``); a
settlement (ROZ, KOR_ROZ) the advance invoices it deducts (``FakturaZaliczkowa``). Each is looked up
by its KSeF number (and, when both are known, the same invoice number), else — issued outside KSeF or
entered by hand — by supplier, number and date when exactly one bill matches. The links are the
addon's own fields, so a correction that raises the amount is linked as well as one that lowers it
(no dependency on ``account_debit_note``); a refund of a single bill is also its Odoo reversal. Every
reference gets a note saying whether it was found.
"""
from odoo import api, fields, models
from odoo.tools.misc import format_date

from ..ksef_protocol.fa3.model import CORRECTION_KINDS, KIND_ADVANCE, KIND_ADVANCE_CORRECTION

_ADVANCE_KINDS = (KIND_ADVANCE, KIND_ADVANCE_CORRECTION)


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_corrected_move_ids = fields.Many2many(
        'account.move', 'l10n_pl_ksef_move_corrected_rel', 'correction_id', 'corrected_id',
        string="Corrected bills", copy=False, readonly=True,
        help="The bills this received correction (KOR, KOR_ZAL, KOR_ROZ) corrects, found by KSeF number.")
    l10n_pl_ksef_advance_move_ids = fields.Many2many(
        'account.move', 'l10n_pl_ksef_move_advance_rel', 'settlement_id', 'advance_id',
        string="Advance bills settled", copy=False, readonly=True,
        help="The advance bills (ZAL) this received settlement (ROZ, KOR_ROZ) deducts.")

    def _l10n_pl_ksef_links_vals(self, company, partner, invoice, plan, notes):
        """Create values linking the new bill to corrected and advance bills; adds a note per reference."""
        vals = {}
        corrected = self._l10n_pl_ksef_received_corrected(company, partner, invoice, notes)
        if corrected:
            vals['l10n_pl_ksef_corrected_move_ids'] = [fields.Command.set(corrected.ids)]
            if len(corrected) == 1:
                if plan.refund:
                    vals['reversed_entry_id'] = corrected.id
                elif 'debit_origin_id' in self._fields:  # account_debit_note installed: its link too
                    vals['debit_origin_id'] = corrected.id
        advances = self._l10n_pl_ksef_received_advances(company, partner, invoice, notes)
        if advances:
            vals['l10n_pl_ksef_advance_move_ids'] = [fields.Command.set(advances.ids)]
        return vals

    @api.model
    def _l10n_pl_ksef_received_corrected(self, company, partner, invoice, notes):
        """The bills a received correction corrects (``DaneFaKorygowanej``); one note per reference."""
        correction = invoice.correction
        if invoice.kind not in CORRECTION_KINDS or not correction:
            return self.browse()
        found = self.browse()
        for corrected in correction.invoices:
            bill = self._l10n_pl_ksef_find_bill(company, partner, corrected.ksef_number, corrected.number,
                                                corrected.issue_date)
            found |= bill
            params = {'number': corrected.number or '', 'ksef_number': corrected.ksef_number,
                      'date': format_date(self.env, corrected.issue_date) if corrected.issue_date else '',
                      'bill': bill.display_name}
            if bill and corrected.ksef_number:
                notes.append(self.env._("Correction of invoice %(number)s of %(date)s (KSeF number %(ksef_number)s), "
                                        "found in Odoo as %(bill)s.", **params))
            elif bill:
                notes.append(self.env._("Correction of invoice %(number)s of %(date)s, found in Odoo as %(bill)s.",
                                        **params))
            elif corrected.ksef_number:
                notes.append(self.env._("Correction of invoice %(number)s of %(date)s (KSeF number %(ksef_number)s), "
                                        "which is not in Odoo.", **params))
            else:
                notes.append(self.env._("Correction of invoice %(number)s of %(date)s, which is not in Odoo.",
                                        **params))
        if correction.reason:
            notes.append(self.env._("Reason for the correction: %(reason)s", reason=correction.reason))
        if correction.amount_paid_before is not None:
            notes.append(self.env._("Advance received before the correction (P_15ZK): %(amount)s.",
                                    amount=correction.amount_paid_before))
        return found

    @api.model
    def _l10n_pl_ksef_received_advances(self, company, partner, invoice, notes):
        """The advance bills a settlement lists (``FakturaZaliczkowa``); one note per reference."""
        found = self.browse()
        for ref in invoice.advance_invoices:
            bill = self._l10n_pl_ksef_find_bill(company, partner, ref.ksef_number, ref.number, None,
                                                kinds=_ADVANCE_KINDS)
            found |= bill
            label = ref.ksef_number or ref.number or ''
            if bill:
                notes.append(self.env._("Settles the advance invoice %(advance)s, found in Odoo as %(bill)s.",
                                        advance=label, bill=bill.display_name))
            else:
                notes.append(self.env._("Settles the advance invoice %(advance)s, which is not in Odoo (or not as "
                                        "an advance bill): check the advances deducted.", advance=label))
        return found

    @api.model
    def _l10n_pl_ksef_find_bill(self, company, partner, ksef_number, number, issue_date, kinds=None):
        """The company's vendor bill of another invoice: by KSeF number (with the same invoice number when
        both are known), else by supplier, number and date when exactly one bill matches."""
        domain = [('company_id', '=', company.id), ('move_type', 'in', ('in_invoice', 'in_refund')),
                  ('state', '!=', 'cancel')]
        if kinds:
            domain += ['|', ('l10n_pl_ksef_invoice_kind', 'in', kinds), ('l10n_pl_ksef_invoice_kind', '=', False)]
        if ksef_number:
            bill = self.search([*domain, ('l10n_pl_ksef_number', '=', ksef_number)], limit=1)
            if bill and (not number or not bill.ref or bill.ref == number):
                return bill
            if bill:
                return self.browse()  # that KSeF number belongs to another invoice: never link by guess
        if not number:
            return self.browse()
        bills = self.search([*domain, ('commercial_partner_id', '=', partner.commercial_partner_id.id),
                             ('ref', '=', number)], order='id')
        if issue_date:
            bills = bills.filtered(lambda bill: bill.invoice_date == issue_date) or bills
        return bills if len(bills) == 1 else self.browse()
