"""Purchase invoices received from KSeF become draft vendor bills.

The FA(3) XML is read into ``ksef_protocol.fa3`` neutral data, then mapped to a
draft ``in_invoice`` (``in_refund`` for a correction that lowers the amount):
supplier found or created by NIP, one line per ``FaWiersz`` with the company's
purchase tax of the same FA(3) rate, currency, dates, due date, bank account,
the KSeF number and the original XML attached. A KSeF number is imported at
most once per company (see the unique constraint in ``account_move.py``).

A correction (KOR, KOR_ZAL, KOR_ROZ) names the invoices it corrects
(``DaneFaKorygowanej``): the corrected bill is looked up by its KSeF number,
else by supplier and reference; a refund is linked to it (``reversed_entry_id``)
and the chatter says which invoice is corrected, found in Odoo or not.
"""
import logging
import re
from decimal import Decimal

from lxml import etree

from odoo import api, fields, models
from odoo.fields import Command
from odoo.tools.misc import format_date

from ..ksef_protocol.fa3 import parse_fa3
from ..ksef_protocol.fa3.model import CORRECTION_KINDS, Party
from ..ksef_protocol.fa3.rates import rate_percent

_logger = logging.getLogger(__name__)

#: FA(3) rate (P_12) -> purchase taxes of the l10n_pl chart template, first found wins.
PURCHASE_TAX_TEMPLATES = {
    '23': ('vz_kraj_23', 'vz_kraj_usl_23'),
    '22': ('vz_kraj_23',),
    '8': ('vz_kraj_8',),
    '7': ('vz_kraj_8',),
    '5': ('vz_kraj_5',),
    '0 KR': ('vz_kraj_0',),
    'zw': ('vz_kraj_zw',),
}
#: A Polish postal code at the start of an address line ("00-624 Warszawa").
_ZIP_CITY = re.compile(r'^\s*(\d{2}-\d{3})\s+(.+)$')


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_received_date = fields.Datetime(
        string="Received from KSeF on", copy=False, readonly=True,
        help="When this vendor bill was created from the purchase invoice downloaded from KSeF.")

    # ------------------------------------------------------------------
    # Public entry point
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_import_received_invoice(self, company, ksef_number, xml_bytes, metadata=None):
        """Create a draft vendor bill of ``company`` from one FA(3) invoice received from KSeF.

        :param company: the buyer company (``res.company``).
        :param ksef_number: the invoice's KSeF number (stored on the bill, unique per company).
        :param xml_bytes: the exact FA(3) XML downloaded from KSeF (attached to the bill).
        :param metadata: the KSeF ``InvoiceMetadata`` dict, used when the XML cannot be read.
        :returns: the new ``account.move``, or the existing one when that KSeF number was
            already imported (nothing is created twice).
        """
        existing = self._l10n_pl_ksef_find_received(company, [ksef_number])
        if existing:
            return existing[ksef_number]
        Move = self.with_company(company).with_context(default_move_type='in_invoice')
        try:
            invoice = parse_fa3(xml_bytes)
        except (etree.XMLSyntaxError, ValueError, TypeError, AttributeError, KeyError) as error:
            # Never lose a received invoice: keep it as an empty bill with the XML and the reason.
            _logger.info("KSeF invoice %s of company %s could not be read: %s", ksef_number, company.id, error)
            move = Move.create(Move._l10n_pl_ksef_unreadable_bill_vals(company, ksef_number, metadata or {}))
            notes = [self.env._("The FA(3) XML could not be read (%(error)s): enter the bill from the "
                                "attached original.", error=str(error)[:300])]
        else:
            vals, notes = Move._l10n_pl_ksef_bill_vals(company, ksef_number, invoice)
            move = Move.create(vals)
            notes += move._l10n_pl_ksef_compare_total(invoice)
        move._l10n_pl_ksef_attach_received_xml(ksef_number, xml_bytes, notes)
        return move

    @api.model
    def _l10n_pl_ksef_find_received(self, company, ksef_numbers):
        """``{ksef_number: move}`` of the given numbers already on a document of ``company``."""
        moves = self.sudo().search([('company_id', '=', company.id), ('l10n_pl_ksef_number', 'in', list(ksef_numbers))])
        return {move.l10n_pl_ksef_number: move for move in moves}

    # ------------------------------------------------------------------
    # Mapping
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_bill_vals(self, company, ksef_number, invoice):
        """``(vals, notes)``: ``account.move`` create values for ``invoice`` and remarks for the chatter."""
        notes = []
        refund = invoice.kind in CORRECTION_KINDS and invoice.totals.total < 0
        sign = Decimal(-1) if refund else Decimal(1)
        partner = self._l10n_pl_ksef_received_partner(company, invoice.seller)
        origin = self._l10n_pl_ksef_received_corrected(company, partner, invoice, notes)
        currency = self._l10n_pl_ksef_received_currency(invoice.currency, notes)
        lines = []
        for line in invoice.lines:
            line_vals = self._l10n_pl_ksef_received_line_vals(company, line, sign, notes)
            if line_vals:
                lines.append(Command.create(line_vals))
        vals = {
            'move_type': 'in_refund' if refund else 'in_invoice',
            'company_id': company.id,
            'partner_id': partner.id,
            'ref': invoice.number,
            'invoice_date': invoice.issue_date,
            'l10n_pl_ksef_number': ksef_number,
            'l10n_pl_ksef_received_date': fields.Datetime.now(),
            'invoice_line_ids': lines,
        }
        if currency:
            vals['currency_id'] = currency.id
        if origin:
            if refund:
                vals['reversed_entry_id'] = origin.id
            elif 'debit_origin_id' in self._fields:  # account_debit_note: a correction raising the amount
                vals['debit_origin_id'] = origin.id
        if invoice.delivery_date and 'delivery_date' in self._fields:
            vals['delivery_date'] = invoice.delivery_date
        payment = invoice.payment
        due_dates = [due.date for due in (payment.due_dates if payment else []) if due.date]
        if due_dates:
            vals['invoice_date_due'] = max(due_dates)
        if payment and payment.bank_accounts:
            vals['partner_bank_id'] = self._l10n_pl_ksef_received_bank(partner, payment.bank_accounts[0]).id
        return vals, notes

    @api.model
    def _l10n_pl_ksef_received_corrected(self, company, partner, invoice, notes):
        """The bill a received correction is linked to, or an empty recordset; adds to ``notes``
        one remark per corrected invoice (``DaneFaKorygowanej``), found in Odoo or not.

        A bill is linked only when the correction corrects a single invoice (a collective
        correction of several invoices is mentioned, not linked).
        """
        correction = invoice.correction
        if invoice.kind not in CORRECTION_KINDS or not correction:
            return self.browse()
        found = self.browse()
        for corrected in correction.invoices:
            bill = self._l10n_pl_ksef_find_corrected_bill(company, partner, corrected)
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
        return found if len(correction.invoices) == 1 else self.browse()

    @api.model
    def _l10n_pl_ksef_find_corrected_bill(self, company, partner, corrected):
        """The company's vendor bill of the corrected invoice ``corrected`` (``CorrectedInvoice``):
        by its KSeF number first, else by supplier and reference (the same issue date preferred)."""
        domain = [('company_id', '=', company.id), ('move_type', 'in', ('in_invoice', 'in_refund')),
                  ('state', '!=', 'cancel')]
        if corrected.ksef_number:
            bill = self.search([*domain, ('l10n_pl_ksef_number', '=', corrected.ksef_number)], limit=1)
            if bill:
                return bill
        if not corrected.number:
            return self.browse()
        bills = self.search([*domain, ('commercial_partner_id', '=', partner.commercial_partner_id.id),
                             ('ref', '=', corrected.number)], order='id')
        return bills.filtered(lambda bill: bill.invoice_date == corrected.issue_date)[:1] or bills[:1]

    def _l10n_pl_ksef_received_line_vals(self, company, line, sign, notes):
        """Values of one bill line; the net amount (P_11) is authoritative."""
        net = line.net
        if net is None and line.gross is not None:
            # Gross-price invoice (P_11A): the net part is the gross minus its VAT.
            net = line.gross - (line.vat if line.vat is not None
                                else (line.gross * rate_percent(line.rate) / (100 + rate_percent(line.rate))))
        if net is None:
            return None
        if line.before_correction:
            net = -net  # "before" rows (StanPrzed) of a before/after correction are subtracted
        net *= sign
        quantity = line.quantity or Decimal(1)
        price_unit = line.unit_price_net
        if price_unit is None or (quantity * price_unit).quantize(Decimal('0.01')) != net:
            # Discounts or rounding: keep the quantity and derive the price from the net amount.
            price_unit = net / quantity
        if quantity < 0 and price_unit < 0:
            quantity, price_unit = -quantity, -price_unit
        taxes = self._l10n_pl_ksef_purchase_taxes(company, line.rate)
        if line.rate and not taxes:
            notes.append(self.env._("No purchase tax of the company matches the FA(3) rate \"%(rate)s\" of line "
                                    "\"%(line)s\": set the tax by hand.", rate=line.rate, line=line.description or ''))
        return {
            'name': line.description or line.index or '/',
            'quantity': float(quantity),
            'price_unit': float(price_unit),
            'tax_ids': [Command.set(taxes.ids)],
        }

    @api.model
    def _l10n_pl_ksef_purchase_taxes(self, company, rate):
        """The company's purchase tax for the FA(3) rate ``rate`` (P_12), or an empty recordset.

        The l10n_pl chart's domestic purchase taxes come first; otherwise any active purchase
        tax whose FA(3) rate (set or derived, see ``account_tax_fa3.py``) is ``rate``.
        """
        Tax = self.env['account.tax'].with_company(company)
        if not rate:
            return Tax
        chart = self.env['account.chart.template'].with_company(company)
        for template_id in PURCHASE_TAX_TEMPLATES.get(rate, ()):
            tax = chart.ref(template_id, raise_if_not_found=False)
            if tax and tax.active and tax.company_id == company:
                return tax
        candidates = Tax.search([*Tax._check_company_domain(company), ('type_tax_use', '=', 'purchase'),
                                 ('amount_type', '=', 'percent')], order='sequence, id')
        return candidates.filtered(lambda tax: tax._l10n_pl_ksef_fa3_rate() == rate)[:1]

    @api.model
    def _l10n_pl_ksef_received_partner(self, company, party):
        """The supplier of ``party`` (FA(3) Podmiot1) found by NIP / VAT number, else created."""
        Partner = self.env['res.partner'].with_company(company)
        vat = None
        if party.nip:
            vat = 'PL' + party.nip
            candidates = (vat, party.nip)
        elif party.eu_vat_number:
            vat = (party.eu_country or '') + party.eu_vat_number
            candidates = (vat, party.eu_vat_number)
        elif party.tax_id:
            vat = party.tax_id
            candidates = (vat,)
        if vat:
            partner = Partner.search([*Partner._check_company_domain(company), ('vat', 'in', candidates)],
                                     order='parent_id desc, is_company desc, id', limit=1)
            if partner:
                return partner.commercial_partner_id
        vals = {'name': party.name or vat or self.env._("Unknown KSeF supplier"), 'is_company': True, 'vat': vat}
        address = party.address
        if address:
            country = self.env['res.country'].search([('code', '=', address.country_code)], limit=1)
            vals['country_id'] = country.id
            vals['street'] = address.line1
            match = _ZIP_CITY.match(address.line2 or '')
            if match:
                vals['zip'], vals['city'] = match.groups()
            elif address.line2:
                vals['street2'] = address.line2
        emails = [contact.email for contact in party.contacts if contact.email]
        phones = [contact.phone for contact in party.contacts if contact.phone]
        if emails:
            vals['email'] = emails[0]
        if phones:
            vals['phone'] = phones[0]
        return Partner.create(vals)

    @api.model
    def _l10n_pl_ksef_received_currency(self, code, notes):
        currency = self.env['res.currency'].with_context(active_test=False).search([('name', '=', code)], limit=1)
        if not currency:
            notes.append(self.env._("The invoice currency %(code)s is unknown: the bill uses the company currency.",
                                    code=code))
            return currency
        if not currency.active:
            currency.sudo().active = True
            notes.append(self.env._("The currency %(code)s was activated for this bill.", code=code))
        return currency

    @api.model
    def _l10n_pl_ksef_received_bank(self, partner, account):
        """The supplier's bank account ``account`` (FA(3) RachunekBankowy), created when new."""
        number = re.sub(r'\s+', '', account.number)
        Bank = self.env['res.partner.bank'].sudo()
        existing = Bank.search([('partner_id', '=', partner.id)]).filtered(
            lambda bank: bank.sanitized_acc_number == number.upper())
        if existing:
            return existing[:1]
        return Bank.create({'partner_id': partner.id, 'acc_number': number})

    def _l10n_pl_ksef_unreadable_bill_vals(self, company, ksef_number, metadata):
        seller = metadata.get('seller') or {}
        vals = {
            'move_type': 'in_invoice',
            'company_id': company.id,
            'ref': metadata.get('invoiceNumber'),
            'l10n_pl_ksef_number': ksef_number,
            'l10n_pl_ksef_received_date': fields.Datetime.now(),
        }
        if seller.get('nip'):
            vals['partner_id'] = self._l10n_pl_ksef_received_partner(
                company, Party(name=seller.get('name'), nip=seller['nip'])).id
        if metadata.get('issueDate'):
            vals['invoice_date'] = metadata['issueDate']
        return vals

    # ------------------------------------------------------------------
    # After creation
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_compare_total(self, invoice):
        """A remark when the bill's total differs from the invoice's P_15 (e.g. a tax set by hand)."""
        self.ensure_one()
        expected = abs(invoice.totals.total)
        if self.currency_id.compare_amounts(float(expected), self.amount_total):
            return [self.env._("The total on KSeF is %(expected)s but the bill totals %(actual)s: check the taxes.",
                               expected=expected, actual=self.amount_total)]
        return []

    def _l10n_pl_ksef_attach_received_xml(self, ksef_number, xml_bytes, notes):
        self.ensure_one()
        attachment = self.env['ir.attachment'].create({
            'name': '%s.xml' % ksef_number,
            'raw': xml_bytes,
            'mimetype': 'application/xml',
            'res_model': 'account.move',
            'res_id': self.id,
        })
        body = self.env._("Received from KSeF with number %(number)s.", number=ksef_number)
        self.with_context(no_new_invoice=True).message_post(body=body, attachment_ids=attachment.ids)
        for note in notes:
            self.message_post(body=note)
