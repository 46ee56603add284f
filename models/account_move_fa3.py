"""FA(3) for account.move: map a posted invoice to the neutral FA(3) model,
render and validate its XML, and explain in plain words why it cannot be sent.

Public API (used by the sending flow, scripts and other modules):

- ``move._l10n_pl_ksef_fa3_values(created_at=None)`` -> ``ksef_protocol.fa3.model.Invoice``
- ``move._l10n_pl_ksef_render_fa3(created_at=None)`` -> ``bytes`` (built and XSD-validated)
- ``move._l10n_pl_ksef_check_fa3()`` -> ``list[str]`` (translated findings; empty when sendable)

Amounts come from Odoo's tax engine (``_get_rounded_base_and_tax_lines`` and
``account.tax._aggregate_base_lines_tax_details``), the same numbers as the
invoice's own totals.  Taxes map to FA(3) rates through
``account.tax._l10n_pl_ksef_fa3_rate`` (see ``account_tax_fa3.py``).
"""
import re
from datetime import timezone
from decimal import ROUND_HALF_UP, Decimal

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext

from ..ksef_protocol.fa3 import Fa3ValidationError, build_fa3, nip_is_valid, validate_fa3
from ..ksef_protocol.fa3 import model as fa3
from ..ksef_protocol.fa3.rates import PLN_TAX_BUCKETS, TAXED_BUCKETS, bucket_of

SYSTEM_INFO = "Odoo 19 l10n_pl_ksef"
SPLIT_PAYMENT_THRESHOLD = Decimal("15000")
# FA(3) uses the VAT-prefix country codes: Greece is EL, Northern Ireland XI.
_EU_VAT_PREFIX = {'GR': 'EL'}
_CENT = Decimal("0.01")
_P7_MAX = 512
_NOTE_MAX = 256
_FOOTER_MAX = 3500


def _dec(value, places=2):
    """Odoo float -> Decimal rounded half up (floats carry binary noise)."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _cut(text, limit):
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _chunks(text, limit):
    """``text`` with its whitespace collapsed, in pieces of at most ``limit`` characters, split
    between words where possible."""
    text = re.sub(r"\s+", " ", text or "").strip()
    parts = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return parts + [text] if text else parts


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_fa3_kind = fields.Selection(
        [('regular', "Regular invoice"),
         ('advance', "Advance invoice (ZAL)"),
         ('settlement', "Final settlement after advances (ROZ)")],
        string="KSeF invoice kind", default='regular', required=True,
        help="Advance invoices document a payment received before delivery; the final settlement invoice "
             "lists the whole supply and deducts the advances (negative lines). Credit notes of them become "
             "KOR_ZAL / KOR_ROZ automatically.")
    l10n_pl_ksef_order_total = fields.Monetary(
        string="Order value (gross)", currency_field='currency_id', copy=False,
        help="Advance invoices: the value of the whole order or contract including VAT (FA(3) WartoscZamowienia).")
    l10n_pl_ksef_advance_invoice_ids = fields.Many2many(
        'account.move', 'l10n_pl_ksef_fa3_settlement_advance_rel', 'settlement_id', 'advance_id',
        string="Advance invoices", copy=False,
        domain="[('move_type', '=', 'out_invoice'), ('l10n_pl_ksef_fa3_kind', '=', 'advance'), "
               "('commercial_partner_id', '=', commercial_partner_id), ('state', '=', 'posted')]",
        help="Final settlement invoices: the advance invoices it settles (FA(3) FakturaZaliczkowa).")
    l10n_pl_ksef_correction_reason = fields.Char(
        string="Correction reason", copy=False,
        help="Credit notes: why the invoice is corrected (FA(3) PrzyczynaKorekty). Empty: the reversal reason.")
    l10n_pl_ksef_correction_type = fields.Selection(
        [('1', "Effective at the date of the original invoice"),
         ('2', "Effective at the date of the correction"),
         ('3', "Effective at another date")],
        string="Correction effect date", copy=False,
        help="Credit notes: when the correction takes tax effect (FA(3) TypKorekty).")
    l10n_pl_ksef_correction_method = fields.Selection(
        [('quantity', "Quantities (goods returned)"), ('price', "Prices or amounts")],
        string="Correction of", default='quantity', copy=False,
        help="Credit notes: quantity corrections are reported with negative quantities, price corrections "
             "with negative unit prices.")
    l10n_pl_ksef_contract_number = fields.Char(
        string="Contract number", copy=False,
        help="The contract this invoice is issued under, shown on the KSeF invoice "
             "(FA(3) WarunkiTransakcji/Umowy/NrUmowy).")
    l10n_pl_ksef_contract_date = fields.Date(
        string="Contract date", copy=False,
        help="The date of that contract (FA(3) WarunkiTransakcji/Umowy/DataUmowy).")
    l10n_pl_ksef_self_billing = fields.Boolean(
        string="Self-billing (samofakturowanie)", copy=False,
        help="The invoice is issued by the buyer on behalf of the seller (FA(3) P_17).")
    l10n_pl_ksef_fa3_party_ids = fields.One2many(
        'l10n_pl_ksef.fa3.party', 'move_id', string="KSeF third parties",
        help="Recipients, payers, JST sub-units or VAT group members shown on the invoice (FA(3) Podmiot3).")

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_fa3_values(self, created_at=None):
        """Map this posted customer invoice or credit note to ``ksef_protocol.fa3.model.Invoice``.

        :param created_at: aware UTC datetime for DataWytworzeniaFa (default: now); tests inject it.
        :raises UserError: listing every finding when the invoice cannot be mapped.
        """
        invoice, findings = self._l10n_pl_ksef_fa3_collect(created_at)
        if findings:
            raise UserError("\n".join(findings))
        return invoice

    def _l10n_pl_ksef_render_fa3(self, created_at=None):
        """The FA(3) XML of this invoice (UTF-8 bytes), validated against the official XSD.

        Call :meth:`_l10n_pl_ksef_check_fa3` first: this method raises ``UserError`` (with the same
        findings) only for an invoice that check would have refused, so invalid XML is never returned.
        """
        self.ensure_one()
        invoice, findings = self._l10n_pl_ksef_fa3_collect(created_at)
        if not findings:
            try:
                xml = build_fa3(invoice)
                validate_fa3(xml)
                return xml
            except Fa3ValidationError as error:
                findings = self._l10n_pl_ksef_fa3_translate_findings(error.errors)
        raise UserError("\n".join(findings))

    def _l10n_pl_ksef_check_fa3(self):
        """Readable, translated reasons why this invoice's FA(3) cannot be sent; empty when sendable.

        Covers missing or invalid NIPs, taxes without an FA(3) rate, business rules and the XSD
        (each XSD finding names the FA(3) field and line).
        """
        self.ensure_one()
        invoice, findings = self._l10n_pl_ksef_fa3_collect(None)
        if findings:
            return findings
        try:
            validate_fa3(build_fa3(invoice))
        except Fa3ValidationError as error:
            return self._l10n_pl_ksef_fa3_translate_findings(error.errors)
        return []

    # ------------------------------------------------------------------
    # Mapping
    # ------------------------------------------------------------------
    def _l10n_pl_ksef_fa3_translate_findings(self, errors):
        _ = self.env._
        return [_("FA(3) field %(field)s (line %(line)s): %(message)s", field=e.path or "Faktura", line=e.line,
                  message=e.message) if e.line else
                _("FA(3) field %(field)s: %(message)s", field=e.path or "Faktura", message=e.message)
                for e in errors]

    def _l10n_pl_ksef_fa3_sign(self):
        return -1 if self.move_type == 'out_refund' else 1

    def _l10n_pl_ksef_fa3_kind_code(self):
        if self.move_type == 'out_refund':
            origin_kind = self.reversed_entry_id.l10n_pl_ksef_fa3_kind
            return {'advance': fa3.KIND_ADVANCE_CORRECTION,
                    'settlement': fa3.KIND_SETTLEMENT_CORRECTION}.get(origin_kind, fa3.KIND_CORRECTION)
        return {'advance': fa3.KIND_ADVANCE, 'settlement': fa3.KIND_SETTLEMENT}.get(
            self.l10n_pl_ksef_fa3_kind, fa3.KIND_VAT)

    def _l10n_pl_ksef_fa3_collect(self, created_at):
        """Return ``(invoice or None, findings)``; findings are translated strings."""
        self.ensure_one()
        _ = self.env._
        findings = []
        if self.move_type not in ('out_invoice', 'out_refund'):
            return None, [_("Only customer invoices and credit notes are sent to KSeF as FA(3).")]
        if not self.invoice_date:
            findings.append(_("Set the invoice date (FA(3) P_1)."))
        if self.company_id.currency_id.name != 'PLN':
            findings.append(_("The company currency must be PLN to report VAT in KSeF."))
        seller = self._l10n_pl_ksef_fa3_seller(findings)
        buyer = self._l10n_pl_ksef_fa3_buyer(findings)
        kind = self._l10n_pl_ksef_fa3_kind_code()
        lines, totals, flags = self._l10n_pl_ksef_fa3_lines_and_totals(kind, findings)
        if findings:
            return None, findings

        if created_at is None:
            created_at = fields.Datetime.now().replace(tzinfo=timezone.utc)
        ann = self._l10n_pl_ksef_fa3_annotations(flags, totals, buyer, findings)
        if flags['eu_prefix']:
            seller.vat_prefix = 'PL'
        third_parties = [self._l10n_pl_ksef_fa3_third_party(p, findings) for p in self.l10n_pl_ksef_fa3_party_ids]
        buyer.jst = any(p.role in (fa3.ROLE_JST_RECIPIENT, fa3.ROLE_JST_ISSUER) for p in third_parties)
        buyer.vat_group = any(p.role in (fa3.ROLE_VAT_GROUP_RECIPIENT, fa3.ROLE_VAT_GROUP_ISSUER)
                              for p in third_parties)
        invoice = fa3.Invoice(
            seller=seller,
            buyer=buyer,
            third_parties=third_parties,
            number=self.name,
            issue_date=self.invoice_date,
            created_at=created_at,
            system_info=SYSTEM_INFO,
            totals=totals,
            kind=kind,
            currency=self.currency_id.name,
            delivery_date=(self.taxable_supply_date
                           if self.taxable_supply_date and self.taxable_supply_date != self.invoice_date else None),
            annotations=ann,
            related_parties=bool(self.commercial_partner_id.l10n_pl_links_with_customer),
            notes=self._l10n_pl_ksef_fa3_notes(flags),
            payment=self._l10n_pl_ksef_fa3_payment(kind),
            terms=self._l10n_pl_ksef_fa3_terms(),
            footer=self._l10n_pl_ksef_fa3_footer(),
            registries=self._l10n_pl_ksef_fa3_registries(),
        )
        if kind in (fa3.KIND_ADVANCE, fa3.KIND_ADVANCE_CORRECTION):
            invoice.order = self._l10n_pl_ksef_fa3_order(lines, findings)
            if self.currency_id.name != 'PLN':
                invoice.advance_exchange_rate = flags['rate']
        else:
            invoice.lines = lines
        if kind == fa3.KIND_SETTLEMENT:
            invoice.advance_invoices = [
                fa3.AdvanceInvoiceRef(ksef_number=adv.l10n_pl_ksef_number or None,
                                      number=None if adv.l10n_pl_ksef_number else adv.name)
                for adv in self.l10n_pl_ksef_advance_invoice_ids.sorted(lambda m: (m.invoice_date, m.name))]
            if not invoice.advance_invoices:
                findings.append(_("A final settlement invoice must list the advance invoices it settles."))
        if self.move_type == 'out_refund':
            invoice.correction = self._l10n_pl_ksef_fa3_correction(kind, findings)
        return (None, findings) if findings else (invoice, [])

    # --- parties ---------------------------------------------------------
    def _l10n_pl_ksef_fa3_address(self, partner):
        if not partner.street and not partner.city:
            return None
        line1 = ", ".join(filter(None, [partner.street, partner.street2])) or partner.city
        line2 = " ".join(filter(None, [partner.zip, partner.city])) if partner.street else None
        return fa3.Address(country_code=partner.country_id.code or 'PL', line1=_cut(line1, 512),
                           line2=_cut(line2, 512) or None)

    def _l10n_pl_ksef_fa3_identification(self, partner, party, findings, label):
        """Fill the identification of ``party`` from ``partner``'s VAT number and country."""
        vat = re.sub(r"[^0-9A-Za-z+*]", "", partner.vat or "").upper()
        country = partner.country_id.code or ''
        eu_codes = set(self.env.ref('base.europe').country_ids.mapped('code'))
        if not vat:
            return  # BrakID: private persons and others without a number
        if country in ('PL', '') and (vat.isdigit() or vat.startswith('PL')):
            nip = vat[2:] if vat.startswith('PL') else vat
            if not nip_is_valid(nip):
                findings.append(self.env._(
                    "%(label)s %(partner)s: the NIP %(nip)s is not valid (10 digits with a correct check digit).",
                    label=label, partner=partner.display_name, nip=partner.vat))
            party.nip = nip
        elif country in eu_codes:
            prefix = _EU_VAT_PREFIX.get(country, country)
            party.eu_country = prefix
            party.eu_vat_number = vat[2:] if vat[:2] in (prefix, country) else vat
        else:
            party.tax_id = _cut(partner.vat, 50)
            party.tax_id_country = country or None

    def _l10n_pl_ksef_fa3_contacts(self, partner):
        email = partner.email and partner.email.split(',')[0].strip()
        phone = partner.phone and _cut(partner.phone, 16)
        return [fa3.Contact(email=email or None, phone=phone or None)] if (email or phone) else []

    def _l10n_pl_ksef_fa3_seller(self, findings):
        company = self.company_id
        partner = company.partner_id
        vat = re.sub(r"[^0-9A-Za-z]", "", company.vat or "").upper()
        nip = vat[2:] if vat.startswith('PL') else vat
        if not nip:
            findings.append(self.env._("Set the NIP (Tax ID) of the company %(company)s.", company=company.name))
        elif not nip_is_valid(nip):
            findings.append(self.env._("The company NIP %(nip)s is not valid (10 digits with a correct check "
                                       "digit).", nip=company.vat))
        address = self._l10n_pl_ksef_fa3_address(partner)
        if address is None:
            findings.append(self.env._("Set the address of the company %(company)s.", company=company.name))
        return fa3.Party(name=_cut(company.name, 512), nip=nip or None, address=address,
                         contacts=self._l10n_pl_ksef_fa3_contacts(partner))

    def _l10n_pl_ksef_fa3_buyer(self, findings):
        partner = self.commercial_partner_id
        party = fa3.Party(name=_cut(partner.name, 512), address=self._l10n_pl_ksef_fa3_address(partner),
                          contacts=self._l10n_pl_ksef_fa3_contacts(partner))
        self._l10n_pl_ksef_fa3_identification(partner, party, findings, self.env._("Customer"))
        if partner.is_company and partner.country_id.code in ('PL', False) and not party.nip:
            findings.append(self.env._(
                "The customer %(partner)s is a company in Poland without a NIP: set its Tax ID.",
                partner=partner.display_name))
        if partner.ref:
            party.customer_number = _cut(partner.ref, 256)
        return party

    def _l10n_pl_ksef_fa3_third_party(self, record, findings):
        partner = record.partner_id
        party = fa3.Party(name=_cut(partner.name, 512), address=self._l10n_pl_ksef_fa3_address(partner))
        self._l10n_pl_ksef_fa3_identification(partner, party, findings, self.env._("Third party"))
        if record.role == 'other':
            party.other_role = _cut(record.role_description or self.env._("Other"), 256)
        else:
            party.role = int(record.role)
        if record.share:
            party.share = _dec(record.share)
        return party

    # --- lines and totals --------------------------------------------------
    def _l10n_pl_ksef_fa3_line_rate(self, taxes):
        rates = {tax._l10n_pl_ksef_fa3_rate() for tax in taxes.flatten_taxes_hierarchy()
                 if tax.amount_type != 'fixed'}
        return rates.pop() if len(rates) == 1 else (False if not rates else None)

    def _l10n_pl_ksef_fa3_lines_and_totals(self, kind, findings):
        """FA(3) lines and P_13/P_14/P_15 from Odoo's tax computation.

        Returns ``(lines, totals, flags)``; ``flags`` tells which annotations the lines imply.
        """
        _ = self.env._
        AccountTax = self.env['account.tax']
        sign = self._l10n_pl_ksef_fa3_sign()
        foreign = self.currency_id != self.company_id.currency_id
        rate = None
        if foreign and self.invoice_currency_rate:
            rate = Decimal(repr(1 / self.invoice_currency_rate)).quantize(Decimal("0.000001"),
                                                                          rounding=ROUND_HALF_UP).normalize()
        flags = {'rate': rate, 'annex_15': False, 'reverse_charge': False, 'eu_prefix': False,
                 'triangular': False, 'exempt_taxes': self.env['account.tax'], 'margin': False}

        base_lines, _tax_lines = self._get_rounded_base_and_tax_lines()
        base_lines = [bl for bl in base_lines if bl['special_type'] in (False, 'early_payment')]

        def grouping(base_line, tax_data):
            if not tax_data:
                return 'none'
            if tax_data['tax'].amount_type == 'fixed':
                return 'fixed'
            return tax_data['tax']._l10n_pl_ksef_fa3_rate() or 'unknown'

        move_procedure = ('B_SPV' if self.l10n_pl_vat_b_spv else 'B_SPV_DOSTAWA' if self.l10n_pl_vat_b_spv_dostawa
                          else 'B_MPV_PROWIZJA' if self.l10n_pl_vat_b_mpv_prowizja else None)
        lines = []
        for base_line in base_lines:
            if base_line['special_type']:
                continue
            aml = base_line['record']
            taxes = base_line['tax_ids']
            code = self._l10n_pl_ksef_fa3_line_rate(taxes)
            if not code:
                findings.append(_(
                    "Line \"%(line)s\": %(problem)s",
                    line=_cut(aml.name, 60),
                    problem=_("it has no tax; every KSeF invoice line needs one.") if code is False and not taxes
                    else _("set the FA(3) tax rate on its tax (Invoicing > Configuration > Taxes).")))
                continue
            flat_taxes = taxes.flatten_taxes_hierarchy()
            if code == 'zw':
                flags['exempt_taxes'] |= flat_taxes
            if code in ('oo', 'np II'):
                flags['reverse_charge'] = True
            if code in ('0 WDT', 'np II'):
                flags['eu_prefix'] = True
            if code == 'margin':
                flags['margin'] = flat_taxes.filtered('l10n_pl_ksef_margin_scheme')[:1].l10n_pl_ksef_margin_scheme
            procedures = {t._l10n_pl_ksef_fa3_procedure() for t in flat_taxes} - {False}
            procedure = move_procedure or (procedures.pop() if len(procedures) == 1 else None)
            if procedure == 'TT_D':
                flags['triangular'] = flags['eu_prefix'] = True
            product = aml.product_id
            annex = bool(product.l10n_pl_ksef_annex_15 or any(flat_taxes.mapped('l10n_pl_ksef_annex_15')))
            flags['annex_15'] |= annex
            lines.append(self._l10n_pl_ksef_fa3_line(base_line, code, procedure, annex, sign, rate))

        aggregated = AccountTax._aggregate_base_lines_aggregated_values(
            AccountTax._aggregate_base_lines_tax_details(base_lines, grouping))
        buckets = {}
        for code, values in aggregated.items():
            if code in ('none', 'unknown', 'fixed', None):
                continue
            bucket = bucket_of(None if code in ('oss', 'margin') else code, oss=code == 'oss',
                               margin=code == 'margin')
            net = sign * _dec(values['base_amount_currency'])
            tax = sign * _dec(values['tax_amount_currency'])
            amount = buckets.setdefault(bucket, fa3.BucketAmount(net=Decimal(0), tax=Decimal(0)))
            if bucket == '11':
                net += tax  # the margin scheme reports the whole price
            amount.net += net
            amount.tax += tax
            if foreign and bucket in PLN_TAX_BUCKETS:
                amount.tax_pln = (amount.tax_pln or Decimal(0)) + sign * _dec(values['tax_amount'])
        for bucket, amount in buckets.items():
            if bucket not in TAXED_BUCKETS:
                amount.tax = None
        ordered = {key: buckets[key] for key in sorted(buckets, key=lambda k: [int(p) for p in k.split('_')])}
        totals = fa3.Totals(buckets=ordered, total=sign * _dec(self.amount_total))

        if kind == fa3.KIND_SETTLEMENT:
            # Advance deductions (negative lines) reduce the totals but are not part of the supply.
            lines = [line for line in lines if (line.net if line.net is not None else line.gross) >= 0]
        return lines, totals, flags

    def _l10n_pl_ksef_fa3_line(self, base_line, code, procedure, annex, sign, rate):
        aml = base_line['record']
        details = base_line['tax_details']
        net = _dec(details['total_excluded_currency'] + details['delta_total_excluded_currency'])
        tax = _dec(sum(td['tax_amount_currency'] for td in details['taxes_data']))
        price_included = any(aml.tax_ids.flatten_taxes_hierarchy().mapped('price_include'))
        quantity = Decimal(repr(aml.quantity)).quantize(Decimal("0.000001")).normalize()
        unit_price = _dec(aml.price_unit, 8).normalize()
        if unit_price.as_tuple().exponent > -2:
            unit_price = unit_price.quantize(_CENT)
        if sign < 0 and self.l10n_pl_ksef_correction_method == 'price':
            unit_price = -unit_price
        elif sign < 0:
            quantity = -quantity
        discount = None
        if aml.discount:
            discount = _dec(aml.price_unit * aml.quantity * aml.discount / 100.0)
        product = aml.product_id
        line = fa3.Line(
            description=_cut(aml.name or product.display_name, _P7_MAX),
            rate=None if code in ('oss', 'margin') else code,
            unit=_cut(aml.product_uom_id.name, 256) or None,
            quantity=quantity,
            discount=discount,
            annex_15=annex,
            gtu=product.l10n_pl_vat_gtu or None,
            procedure=procedure,
            index=_cut(product.default_code, 50) or None,
            exchange_rate=rate,
        )
        if code == 'oss':
            line.oss_rate = _dec(aml.tax_ids.flatten_taxes_hierarchy()[:1].amount, 6).normalize()
        if price_included or code == 'margin':
            line.unit_price_gross = unit_price
            line.gross = sign * (net + tax)
        else:
            line.unit_price_net = unit_price
            line.net = sign * net
        return line

    # --- annotations -------------------------------------------------------
    def _l10n_pl_ksef_fa3_annotations(self, flags, totals, buyer, findings):
        ann = fa3.Annotations(
            cash_accounting=bool(self.company_id.l10n_pl_ksef_cash_accounting),
            self_billing=bool(self.l10n_pl_ksef_self_billing),
            reverse_charge=flags['reverse_charge'],
            simplified_triangular=flags['triangular'],
            margin_scheme=flags['margin'] or None,
        )
        gross_pln = abs(_dec(self.amount_total_signed))
        if flags['annex_15'] and buyer.nip and gross_pln > SPLIT_PAYMENT_THRESHOLD:
            ann.split_payment = True
        if flags['exempt_taxes']:
            with_basis = flags['exempt_taxes'].filtered('l10n_pl_ksef_exemption_basis')[:1]
            source = with_basis or self.fiscal_position_id
            if source.l10n_pl_ksef_exemption_basis and source.l10n_pl_ksef_exemption_kind:
                ann.exemption_basis_kind = source.l10n_pl_ksef_exemption_kind
                ann.exemption_basis = _cut(source.l10n_pl_ksef_exemption_basis, 256)
            else:
                findings.append(self.env._(
                    "The invoice has exempt (zw) lines: set the legal basis of the exemption on the tax "
                    "%(taxes)s or on the fiscal position (FA(3) P_19A/P_19B/P_19C).",
                    taxes=", ".join(flags['exempt_taxes'].mapped('name'))))
        return ann

    # --- corrections and advances -------------------------------------------
    def _l10n_pl_ksef_fa3_correction(self, kind, findings):
        origin = self.reversed_entry_id
        if not origin:
            findings.append(self.env._(
                "The credit note %(name)s is not linked to the invoice it corrects: create it with "
                "\"Credit Note\" from that invoice.", name=self.name))
            return None
        reason = self.l10n_pl_ksef_correction_reason
        if not reason and self.ref:
            reason = self.ref.split(origin.name, 1)[-1].lstrip(" ,:") if origin.name in self.ref else self.ref
        correction = fa3.Correction(
            invoices=[fa3.CorrectedInvoice(issue_date=origin.invoice_date, number=origin.name,
                                           ksef_number=origin.l10n_pl_ksef_number or None)],
            reason=_cut(reason, 256) or None,
            type=int(self.l10n_pl_ksef_correction_type) if self.l10n_pl_ksef_correction_type else None,
        )
        if kind in (fa3.KIND_ADVANCE_CORRECTION, fa3.KIND_SETTLEMENT_CORRECTION):
            correction.amount_paid_before = _dec(origin.amount_total)
        return correction

    def _l10n_pl_ksef_fa3_order(self, lines, findings):
        """Zamowienie of an advance invoice: the order value and, per advance line, the ordered net
        and VAT scaled from the advance to the whole order."""
        source = self.reversed_entry_id if self.move_type == 'out_refund' else self
        if source != self:
            # A correction of an advance repeats the order of the corrected advance invoice.
            lines = source._l10n_pl_ksef_fa3_lines_and_totals(fa3.KIND_ADVANCE, findings)[0]
        total = _dec(source.l10n_pl_ksef_order_total)
        if not total:
            findings.append(self.env._("Set the order value (gross) of the advance invoice %(name)s.",
                                       name=source.name))
            return None
        advance_gross = _dec(source.amount_total)
        factor = total / advance_gross if advance_gross else Decimal(1)
        order_lines = []
        for line in lines:
            net = abs(line.net if line.net is not None else line.gross)
            order_net = (net * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
            pct = Decimal(line.rate) if line.rate and line.rate.isdigit() else Decimal(0)
            order_lines.append(fa3.OrderLine(
                description=line.description, rate=line.rate, unit=line.unit, net=order_net,
                vat=(order_net * pct / 100).quantize(_CENT, rounding=ROUND_HALF_UP) if pct else None,
                annex_15=line.annex_15, gtu=line.gtu, index=line.index))
        return fa3.Order(total=total, lines=order_lines)

    # --- payment, notes, footer ---------------------------------------------
    def _l10n_pl_ksef_fa3_received_payments(self):
        """Payments received on this invoice: a list of ``(amount, date, journal)`` in the invoice
        currency, oldest first, and the amount settled by credit notes (not a payment in FA(3)).

        Covers payments reconciled with the invoice and payments without a journal entry, only
        matched to it (with Odoo's accounting app, a payment method without an outstanding account
        posts no entry until the bank statement is reconciled).
        """
        received, credited = [], Decimal(0)
        for partial in self.sudo()._get_all_reconciled_invoice_partials():
            counterpart = partial['aml']
            if partial['is_exchange']:
                continue
            if counterpart.move_id.is_invoice(include_receipts=True):
                credited += _dec(partial['amount'])
                continue
            received.append((_dec(partial['amount']), counterpart.date, counterpart.journal_id, counterpart.id))
        left = _dec(self.amount_total) - credited - sum(r[0] for r in received)
        for pay in self.sudo().matched_payment_ids.filtered(
                lambda p: not p.move_id and p.state in ('in_process', 'paid')).sorted(lambda p: (p.date, p.id)):
            amount = _dec(pay.currency_id._convert(pay.amount, self.currency_id, self.company_id, pay.date))
            amount = min(amount, left)  # a payment matched to several invoices pays each one up to its total
            if amount > 0:
                received.append((amount, pay.date, pay.journal_id, 0))
                left -= amount
        received.sort(key=lambda r: (r[1], r[3]))
        return [r[:3] for r in received], credited

    def _l10n_pl_ksef_fa3_payment(self, kind):
        bank = self.partner_bank_id if self.move_type == 'out_invoice' else self.env['res.partner.bank']
        payment = fa3.Payment()
        if self.move_type == 'out_invoice':
            received, credited = self._l10n_pl_ksef_fa3_received_payments()
            paid_total = sum(r[0] for r in received)
            if received and paid_total + credited >= _dec(self.amount_total):
                payment.paid = True
                payment.paid_date = max(r[1] for r in received)
                methods = {r[2]._l10n_pl_ksef_fa3_payment_form() for r in received}
                payment.method = methods.pop() if len(methods) == 1 else None
            else:
                if received:
                    payment.partial_marker = 1
                    payment.partial_payments = [
                        fa3.PartialPayment(amount=amount, payment_date=date,
                                           method=journal._l10n_pl_ksef_fa3_payment_form())
                        for amount, date, journal in received]
                due = sorted(set(self.line_ids.filtered(lambda l: l.display_type == 'payment_term')
                                 .mapped('date_maturity')))
                payment.due_dates = [fa3.DueDate(date=d) for d in due if d]
                # The payment form set on the journal of the invoice's preferred payment method, if any.
                expected = self.preferred_payment_method_line_id.journal_id.l10n_pl_ksef_payment_form
                if expected:
                    payment.method = int(expected)
                elif bank:
                    payment.method = fa3.PAYMENT_TRANSFER
        if bank and payment.method in (fa3.PAYMENT_TRANSFER, None):
            # An invoice paid in cash no longer asks for a transfer to the company's account.
            payment.bank_accounts = [fa3.BankAccount(
                number=re.sub(r"\s", "", bank.acc_number), swift=bank.bank_id.bic or None,
                bank_name=_cut(bank.bank_id.name, 256) or None)]
        if not (payment.paid or payment.partial_payments or payment.due_dates or payment.bank_accounts):
            return None
        return payment

    def _l10n_pl_ksef_fa3_notes(self, flags):
        notes = []
        if flags['rate']:
            rate_date = self._get_invoice_currency_rate_date()
            rate_record = self.env['res.currency.rate'].search([
                ('currency_id', '=', self.currency_id.id), ('name', '<=', rate_date),
                ('company_id', 'in', [False] + self.company_id.parent_ids.ids)], order='name desc', limit=1)
            notes.append(fa3.Note(self.env._("Kurs waluty"), self.env._(
                "1 %(currency)s = %(rate)s PLN, kurs z dnia %(date)s",
                currency=self.currency_id.name, rate=flags['rate'],
                date=fields.Date.to_string(rate_record.name or rate_date))))
        seen = set()
        for tax in self.invoice_line_ids.tax_ids.flatten_taxes_hierarchy():
            legal = html2plaintext(tax.invoice_legal_notes or "").strip()
            if legal and legal not in seen:
                seen.add(legal)
                notes.append(fa3.Note(self.env._("Podstawa prawna"), _cut(legal, _NOTE_MAX)))
        if self.invoice_origin:
            notes.append(fa3.Note(self.env._("Dokument źródłowy"), _cut(self.invoice_origin, _NOTE_MAX)))
        # Free-text note lines of the invoice, printed among its lines, are part of the invoice too;
        # long ones continue in further entries rather than being cut.
        for note_line in self.invoice_line_ids.filtered(lambda l: l.display_type == 'line_note'):
            for part in _chunks(note_line.name, _NOTE_MAX):
                notes.append(fa3.Note(self.env._("Uwagi"), part))
        return notes

    def _l10n_pl_ksef_fa3_terms(self):
        """WarunkiTransakcji: the contract set on the invoice and the customer's order number
        (the invoice's Customer Reference)."""
        terms = fa3.TransactionTerms()
        if self.l10n_pl_ksef_contract_number or self.l10n_pl_ksef_contract_date:
            terms.contracts.append(fa3.Reference(number=_cut(self.l10n_pl_ksef_contract_number, 256) or None,
                                                 date=self.l10n_pl_ksef_contract_date or None))
        if self.move_type == 'out_invoice' and self.ref:
            terms.orders.append(fa3.Reference(number=_cut(self.ref, 256)))
        return terms if (terms.contracts or terms.orders) else None

    def _l10n_pl_ksef_fa3_footer(self):
        text = html2plaintext(self.narration or "").strip() if self.narration else ""
        return [text[:_FOOTER_MAX]] if text else []

    def _l10n_pl_ksef_fa3_registries(self):
        krs = re.sub(r"\D", "", self.company_id.company_registry or "")
        if len(krs) != 10:
            return []
        return [fa3.Registry(full_name=_cut(self.company_id.name, 256), krs=krs)]
