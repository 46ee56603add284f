"""Purchase invoices received from KSeF become draft vendor bills with the invoice's own figures.

The FA(3) XML is parsed (``ksef_protocol.fa3``) and planned (``ksef_protocol.fa3.purchase.plan_bill``):
per rate the bill's net and VAT equal the invoice's P_13_x / P_14_x, its total P_15, its PLN VAT the
invoice's P_14_xW at the invoice's own exchange rate. This file maps the plan to a draft ``in_invoice``
(``in_refund`` for a correction that lowers the amount): supplier found or created by NIP, lines with
the company's purchase tax per FA(3) rate (``l10n_pl_ksef.purchase.tax``), the seller's VAT taken
where Odoo would round otherwise, the KSeF number, the original XML and its visual attached. Links to
corrected and advance bills: ``account_move_ksef_import_links.py``; payment data:
``account_move_ksef_import_payment.py``. A KSeF number is imported at most once per company.
"""
import logging
import re
from decimal import Decimal

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tools import float_round

from ..ksef_protocol.fa3 import INVOICE_KINDS, parse_fa3
from ..ksef_protocol.fa3.model import (KIND_ADVANCE, KIND_ADVANCE_CORRECTION, KIND_CORRECTION, KIND_SETTLEMENT,
                                       KIND_SETTLEMENT_CORRECTION, KIND_SIMPLIFIED, Party)
from ..ksef_protocol.fa3.purchase import ORIGIN_ROUNDING, ORIGIN_SUMMARY, company_roles, plan_bill

_logger = logging.getLogger(__name__)

#: A Polish postal code at the start of an address line ("00-624 Warszawa").
_ZIP_CITY = re.compile(r'^\s*(\d{2}-\d{3})\s+(.+)$')
class AccountMoveLine(models.Model):
    _inherit = 'account.move.line'

    l10n_pl_ksef_bucket = fields.Char(
        string="FA(3) rate group", copy=False, readonly=True,
        help="The tax summary group of the received invoice this line belongs to (P_13_x), e.g. 1 for 23%/22%.")


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_received_date = fields.Datetime(
        string="Received from KSeF on", copy=False, readonly=True,
        help="When this vendor bill was created from the purchase invoice downloaded from KSeF.")
    l10n_pl_ksef_invoice_kind = fields.Selection(
        [(kind, kind) for kind in INVOICE_KINDS], string="FA(3) invoice kind", copy=False, readonly=True,
        help="RodzajFaktury of the received invoice: VAT, KOR (correction), ZAL (advance), ROZ (settlement), "
             "UPR (simplified), KOR_ZAL, KOR_ROZ.")
    l10n_pl_ksef_company_role = fields.Char(
        string="Company on the invoice as", copy=False, readonly=True,
        help="How the company is named on the received invoice: buyer (Podmiot2), third party (Podmiot3) with "
             "its role and share, or authorized subject.")
    l10n_pl_ksef_received_xml_id = fields.Many2one('ir.attachment', string="Received FA(3) XML", copy=False,
                                                   readonly=True)

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
            move._l10n_pl_ksef_attach_received_xml(ksef_number, xml_bytes, notes)
            return move
        price_digits = self.env['decimal.precision'].precision_get('Product Price')
        plan = plan_bill(invoice, price_digits=price_digits)
        vals, notes = Move._l10n_pl_ksef_bill_vals(company, ksef_number, invoice, plan)
        move = Move.create(vals)
        notes += move._l10n_pl_ksef_apply_invoice_tax(plan)
        notes += move._l10n_pl_ksef_compare_total(invoice)
        move._l10n_pl_ksef_attach_received_xml(ksef_number, xml_bytes, notes)
        move._l10n_pl_ksef_attach_visual()
        return move

    @api.model
    def _l10n_pl_ksef_find_received(self, company, ksef_numbers):
        """``{ksef_number: move}`` of the given numbers already on a document of ``company``."""
        moves = self.sudo().search([('company_id', '=', company.id), ('l10n_pl_ksef_number', 'in', list(ksef_numbers))])
        return {move.l10n_pl_ksef_number: move for move in moves}

    # ------------------------------------------------------------------
    # Mapping
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_bill_vals(self, company, ksef_number, invoice, plan):
        """``(vals, notes)``: ``account.move`` create values for ``invoice`` and remarks for the chatter."""
        notes = []
        sign = Decimal(-1) if plan.refund else Decimal(1)
        partner = self._l10n_pl_ksef_received_partner(company, invoice.seller)
        currency = self._l10n_pl_ksef_received_currency(invoice.currency, notes)
        lines = [Command.create(self._l10n_pl_ksef_received_line_vals(company, invoice, line, sign, notes))
                 for line in plan.lines]
        vals = {
            'move_type': 'in_refund' if plan.refund else 'in_invoice',
            'company_id': company.id,
            'partner_id': partner.id,
            'ref': invoice.number,
            'invoice_date': invoice.issue_date,
            'l10n_pl_ksef_number': ksef_number,
            'l10n_pl_ksef_received_date': fields.Datetime.now(),
            'l10n_pl_ksef_invoice_kind': invoice.kind if invoice.kind in INVOICE_KINDS else False,
            'l10n_pl_ksef_company_role': self._l10n_pl_ksef_role_text(company, invoice, notes),
            'invoice_line_ids': lines,
        }
        if currency:
            vals['currency_id'] = currency.id
            if plan.exchange_rate and currency != company.currency_id:
                # Odoo's rate is foreign units per company unit; the invoice's is PLN per unit.
                vals['invoice_currency_rate'] = 1 / float(plan.exchange_rate)
        delivery = invoice.delivery_date or invoice.period_end
        if delivery and 'delivery_date' in self._fields:
            vals['delivery_date'] = delivery
        vals.update(self._l10n_pl_ksef_links_vals(company, partner, invoice, plan, notes))
        vals.update(self._l10n_pl_ksef_payment_vals(company, partner, invoice, plan, notes))
        notes += self._l10n_pl_ksef_plan_notes(invoice, plan)
        return vals, notes

    def _l10n_pl_ksef_received_line_vals(self, company, invoice, line, sign, notes):
        """Values of one bill line of the plan (``PlanLine``); its net amount is authoritative."""
        net = line.net * sign
        quantity, price_unit = line.quantity, line.unit_price if line.unit_price is not None else line.net
        price_unit = price_unit * sign
        if quantity < 0 and price_unit < 0:
            quantity, price_unit = -quantity, -price_unit
        if float_round(float(quantity) * float(price_unit), 2) != float(net):
            quantity, price_unit = Decimal(1), net
        taxes = self.env['account.tax']
        if line.rate:
            taxes = self.env['l10n_pl_ksef.purchase.tax']._tax_for_rate(company, line.rate)
            if not taxes:
                notes.append(self.env._(
                    "No purchase tax of the company matches the FA(3) rate \"%(rate)s\" of line \"%(line)s\": "
                    "set the tax by hand (Accounting > Configuration > KSeF purchase taxes).",
                    rate=line.rate, line=line.description or ''))
        return {
            'name': self._l10n_pl_ksef_line_label(invoice, line),
            'quantity': float(quantity),
            'price_unit': float(price_unit),
            'tax_ids': [Command.set(taxes.ids)],
            'l10n_pl_ksef_bucket': line.bucket or False,
        }

    def _l10n_pl_ksef_line_label(self, invoice, line):
        if line.origin == ORIGIN_ROUNDING:
            return self.env._("Difference between the invoice total (P_15) and its tax summary (P_13, P_14)")
        if line.origin != ORIGIN_SUMMARY:
            return line.description or '/'
        details = '; '.join(line.details)
        labels = {
            KIND_ADVANCE: self.env._("Advance payment: %(details)s", details=details),
            KIND_ADVANCE_CORRECTION: self.env._("Correction of the advance payment: %(details)s", details=details),
            KIND_SETTLEMENT: self.env._("Advance payments deducted (%(details)s)", details=details),
            KIND_SETTLEMENT_CORRECTION: self.env._("Correction of the settlement (advances %(details)s)",
                                                   details=details),
            KIND_SIMPLIFIED: self.env._("Simplified invoice: %(details)s", details=details),
            KIND_CORRECTION: self.env._("Correction: %(details)s", details=details),
        }
        label = labels.get(invoice.kind)
        if not label or not details:
            label = self.env._("Amount of the invoice summary P_13_%(bucket)s not itemised in its lines",
                               bucket=line.bucket)
        return label

    def _l10n_pl_ksef_role_text(self, company, invoice, notes):
        """How ``company`` appears on the invoice, for the bill and a note when it is not the buyer."""
        try:
            nip = company._l10n_pl_ksef_nip()
        except UserError:
            nip = None
        texts = []
        for role in company_roles(invoice, nip):
            if role == 'buyer':
                texts.append(self.env._("buyer (Podmiot2)"))
            elif role.startswith('third:'):
                _prefix, number, share = role.split(':', 2)
                name = self._l10n_pl_ksef_third_party_roles().get(number, self.env._("other role"))
                text = self.env._("third party (Podmiot3), role %(number)s %(name)s", number=number, name=name)
                if share:
                    text += self.env._(", share %(share)s%%", share=share)
                texts.append(text)
            else:
                texts.append(self.env._("authorized subject (PodmiotUpowazniony), role %(role)s",
                                        role=role.split(':', 1)[1]))
        text = '; '.join(texts)
        if text and texts[0] != self.env._("buyer (Podmiot2)"):
            notes.append(self.env._("The company is named on this invoice as %(role)s, not as its buyer: the bill "
                                    "carries the whole invoice; book only the company's part.", role=text))
        elif not text:
            notes.append(self.env._("The company's NIP is neither the buyer's (Podmiot2) nor a third party's "
                                    "(Podmiot3) on this invoice: check that it is meant for the company."))
        return text or False

    def _l10n_pl_ksef_third_party_roles(self):
        """Podmiot3 roles (TRolaPodmiotu3) as the bill names them."""
        _ = self.env._
        return {
            '1': _("factor"), '2': _("recipient"), '3': _("original entity"), '4': _("additional buyer"),
            '5': _("issuer"), '6': _("payer"), '7': _("local government unit issuer"),
            '8': _("local government unit recipient"), '9': _("VAT group member issuer"),
            '10': _("VAT group member recipient"), '11': _("employee"),
        }

    def _l10n_pl_ksef_plan_notes(self, invoice, plan):
        """Precise notes for what the plan reports and for the invoice's content the bill cannot hold."""
        notes = []
        for remark in plan.remarks:
            params = remark.params
            if remark.code == 'total_differs':
                notes.append(self.env._(
                    "The invoice total P_15 (%(total)s) differs from the sum of its tax summary (%(summary)s): the "
                    "difference is a line without tax; keep it or ask the seller for a correction.", **params))
            elif remark.code == 'lines_differ':
                notes.append(self.env._(
                    "The lines of rate group P_13_%(bucket)s add up to %(lines)s but the invoice's summary says "
                    "%(summary)s: the bill follows the summary, with one line for the difference.", **params))
            elif remark.code == 'line_without_rate':
                notes.append(self.env._(
                    "Line %(line)s has no or an unknown FA(3) rate (%(rate)s) and was left out: its amount is in "
                    "the summary line of its rate group.", **params))
            elif remark.code == 'several_rates':
                notes.append(self.env._(
                    "The lines use several exchange rates (%(rates)s): the bill uses the first; the VAT in PLN is "
                    "the invoice's own (P_14_xW).", **params))
            elif remark.code == 'rate_derived':
                notes.append(self.env._(
                    "The exchange rate %(rate)s is derived from the invoice's VAT in PLN (P_14_xW).", **params))
            elif remark.code == 'no_rate':
                notes.append(self.env._(
                    "The invoice in %(currency)s gives no exchange rate: the amounts in PLN use Odoo's rate of "
                    "the invoice date; check it against the rate your tax law requires.", **params))
            elif remark.code == 'due_date_described':
                notes.append(self.env._(
                    "The payment term is described (%(term)s): the due date is counted from the issue date.",
                    **params))
            elif remark.code == 'due_date_unknown':
                notes.append(self.env._(
                    "The payment term \"%(term)s\" has no date: set the due date by hand.", **params))
        ignored = {
            'Fa/Podmiot1K': self.env._("seller data before the correction (Podmiot1K)"),
            'Fa/Podmiot2K': self.env._("buyer data before the correction (Podmiot2K)"),
            'Fa/WarunkiTransakcji/Transport': self.env._("transport details (WarunkiTransakcji/Transport)"),
            'Zalacznik': self.env._("an attachment with data blocks (Zalacznik)"),
            'Fa/Platnosc/LinkDoPlatnosci': self.env._("a payment link (LinkDoPlatnosci)"),
            'Fa/Platnosc/IPKSeF': self.env._("a KSeF payment identifier (IPKSeF)"),
        }
        for element in invoice.ignored_elements:
            notes.append(self.env._("The invoice holds %(what)s, which the bill has no place for: read it in the "
                                    "attached visual (PDF) or XML.", what=ignored.get(element, element)))
        if invoice.annotations.reverse_charge or any(line.rate == 'oo' for line in plan.lines):
            notes.append(self.env._("Reverse charge (P_18 / oo): the VAT is due by the company; the purchase tax "
                                    "self-assesses it (VAT due and deductible). Check the rate."))
        if invoice.annotations.margin_scheme:
            notes.append(self.env._("Margin scheme invoice (P_PMarzy): it shows no deductible VAT."))
        if invoice.annotations.split_payment:
            notes.append(self.env._("Split payment is mandatory (P_18A): pay the VAT to the seller's VAT account."))
        if invoice.correction and invoice.kind in (KIND_CORRECTION, KIND_ADVANCE_CORRECTION,
                                                   KIND_SETTLEMENT_CORRECTION) and not plan.lines:
            notes.append(self.env._("This correction changes no amount (e.g. only the parties' data): the bill "
                                    "is empty; post it or cancel it after checking."))
        return notes

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
    def _l10n_pl_ksef_apply_invoice_tax(self, plan):
        """Set each rate's tax lines to the invoice's VAT (P_14_x) and its PLN VAT (P_14_xW) where Odoo's
        own computation rounds otherwise; returns notes for what could not be matched."""
        self.ensure_one()
        notes = []
        foreign = self.currency_id != self.company_currency_id
        taxes_by_bucket = {}
        for line in self.invoice_line_ids.filtered('l10n_pl_ksef_bucket'):
            taxes_by_bucket.setdefault(line.l10n_pl_ksef_bucket, self.env['account.tax'])
            taxes_by_bucket[line.l10n_pl_ksef_bucket] |= line.tax_ids
        updates = []
        for key, bucket in plan.buckets.items():
            if bucket.tax is None:
                continue
            taxes = taxes_by_bucket.get(key, self.env['account.tax'])
            tax_lines = self.line_ids.filtered(lambda l: l.display_type == 'tax' and l.tax_line_id in taxes)
            if not tax_lines:
                if bucket.tax:
                    notes.append(self.env._("The invoice's VAT of rate group P_14_%(bucket)s (%(tax)s) has no tax "
                                            "line on the bill: check the purchase tax of that rate.",
                                            bucket=key, tax=bucket.tax))
                continue
            first, others = tax_lines[0], tax_lines[1:]
            amount = float(bucket.tax) - sum(others.mapped('amount_currency'))
            vals = {}
            if self.currency_id.compare_amounts(first.amount_currency, amount):
                vals['amount_currency'] = amount
            if foreign and bucket.tax_pln is not None:
                balance = float(bucket.tax_pln) - sum(others.mapped('balance'))
                if self.company_currency_id.compare_amounts(first.balance, balance) or vals:
                    vals['balance'] = balance
            elif vals and not foreign:
                vals['balance'] = amount
            if vals:
                updates.append(Command.update(first.id, vals))
        if updates:
            self.write({'line_ids': updates})
        return notes

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
        self.l10n_pl_ksef_received_xml_id = attachment
        body = self.env._("Received from KSeF with number %(number)s.", number=ksef_number)
        self.with_context(no_new_invoice=True).message_post(body=body, attachment_ids=attachment.ids)
        for note in notes:
            self.message_post(body=note)
