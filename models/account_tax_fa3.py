from odoo import fields, models

# FA(3) TStawkaPodatku codes, plus "oss" for the EU One-Stop-Shop procedure
# (P_12_XII, summed in P_13_5) and "margin" for the margin scheme (P_13_11).
FA3_RATE_SELECTION = [
    ('23', "23%"), ('22', "22%"), ('8', "8%"), ('7', "7%"), ('5', "5%"), ('4', "4% (taxi flat rate)"),
    ('3', "3% (taxi flat rate)"),
    ('0 KR', "0% domestic (0 KR)"), ('0 WDT', "0% intra-EU supply of goods (0 WDT)"), ('0 EX', "0% export (0 EX)"),
    ('zw', "Exempt (zw)"), ('oo', "Domestic reverse charge (oo)"),
    ('np I', "Outside Poland, except art. 100 services (np I)"),
    ('np II', "EU services of art. 100 ust. 1 pkt 4 (np II)"),
    ('oss', "OSS special procedure (P_12_XII)"), ('margin', "Margin scheme (P_13_11)"),
]
EXEMPTION_KIND_SELECTION = [
    ('A', "Polish VAT act or regulation (P_19A)"),
    ('B', "Directive 2006/112/EC (P_19B)"),
    ('C', "Other legal basis (P_19C)"),
]
PROCEDURE_SELECTION = [
    ('WSTO_EE', "WSTO_EE"), ('IED', "IED"), ('TT_D', "TT_D"), ('I_42', "I_42"), ('I_63', "I_63"),
    ('B_SPV', "B_SPV"), ('B_SPV_DOSTAWA', "B_SPV_DOSTAWA"), ('B_MPV_PROWIZJA', "B_MPV_PROWIZJA"),
]
MARGIN_SELECTION = [
    ('travel', "Travel agencies (P_PMarzy_2)"),
    ('used_goods', "Second-hand goods (P_PMarzy_3_1)"),
    ('art', "Works of art (P_PMarzy_3_2)"),
    ('antiques', "Collectors' items and antiques (P_PMarzy_3_3)"),
]

# Sale taxes of the Polish chart (l10n_pl template ids) whose FA(3) rate
# cannot be read from their percentage.
_TEMPLATE_RATES = {
    'vs_kraj_0': '0 KR',
    'vs_zwrot_podróżnych_0': '0 KR',
    'vs_kraj_zw': 'zw',
    'vs_kraj_zw_gold': 'zw',
    'vs_stal': 'oo',
    'vs_unia': '0 WDT',
    'vs_unia_i42': '0 WDT',
    'vs_unia_i63': '0 WDT',
    'vs_unia_triangular': 'np I',
    'vs_dostu': 'np II',
    'vs_eksp_tow': '0 EX',
    'vs_ekspu': 'np I',
}
_TEMPLATE_PROCEDURES = {
    'vs_unia_i42': 'I_42',
    'vs_unia_i63': 'I_63',
    'vs_unia_triangular': 'TT_D',
}
_PERCENT_RATES = {23.0: '23', 22.0: '22', 8.0: '8', 7.0: '7', 5.0: '5', 4.0: '4', 3.0: '3'}


class AccountTax(models.Model):
    _inherit = 'account.tax'

    l10n_pl_ksef_fa3_rate = fields.Selection(
        FA3_RATE_SELECTION, string="FA(3) tax rate",
        help="How KSeF invoices (FA(3), field P_12) report this tax. Leave empty to derive it from the "
             "Polish chart of accounts or the percentage; required for 0% taxes created by hand.")
    l10n_pl_ksef_exemption_kind = fields.Selection(
        EXEMPTION_KIND_SELECTION, string="Exemption basis type",
        help="For exempt (zw) taxes: which kind of law the exemption is based on (FA(3) P_19A/B/C).")
    l10n_pl_ksef_exemption_basis = fields.Char(
        string="Exemption legal basis",
        help="For exempt (zw) taxes: the provision, e.g. \"art. 43 ust. 1 pkt 29 lit. c ustawy o VAT\".")
    l10n_pl_ksef_annex_15 = fields.Boolean(
        string="Annex 15 (split payment)",
        help="Goods or services of Annex 15 to the VAT act: invoices over 15,000 PLN to a taxpayer are "
             "marked for the split payment mechanism (P_18A).")
    l10n_pl_ksef_procedure = fields.Selection(
        PROCEDURE_SELECTION, string="FA(3) procedure marking",
        help="Procedure marking written on invoice lines with this tax (FA(3) Procedura).")
    l10n_pl_ksef_margin_scheme = fields.Selection(
        MARGIN_SELECTION, string="Margin scheme",
        help="For margin-scheme taxes: which scheme applies (FA(3) P_PMarzy).")

    l10n_pl_ksef_chart_template_code = fields.Char(
        string="Polish chart tax code", compute='_compute_l10n_pl_ksef_chart_template_code',
        help="The l10n_pl chart template id of this tax (e.g. 'vs_kraj_zw'), empty for taxes made by hand.")

    def _compute_l10n_pl_ksef_chart_template_code(self):
        # One query for the whole prefetch set: an invoice asks this for every line and tax.
        names = {data.res_id: data.name for data in self.env['ir.model.data'].sudo().search_fetch(
            [('model', '=', 'account.tax'), ('module', '=', 'account'), ('res_id', 'in', self.ids)],
            ['name', 'res_id'], order='id')}
        for tax in self:
            name = names.get(tax.id, '')
            prefix = '%s_' % tax.company_id.root_id.id
            tax.l10n_pl_ksef_chart_template_code = name[len(prefix):] if name.startswith(prefix) else ''

    def _l10n_pl_ksef_template_suffix(self):
        """The l10n_pl chart template id of this tax (e.g. 'vs_kraj_zw'), or ''."""
        self.ensure_one()
        return self.l10n_pl_ksef_chart_template_code or ''

    def _l10n_pl_ksef_fa3_rate(self):
        """The FA(3) rate code of this tax ('23', 'zw', 'np II', 'oss', ...) or False if unknown."""
        self.ensure_one()
        if self.l10n_pl_ksef_fa3_rate:
            return self.l10n_pl_ksef_fa3_rate
        if self.l10n_pl_ksef_margin_scheme:
            return 'margin'
        template_rate = _TEMPLATE_RATES.get(self._l10n_pl_ksef_template_suffix())
        if template_rate:
            return template_rate
        if self.amount_type == 'percent':
            return _PERCENT_RATES.get(float(self.amount), False)
        return False

    def _l10n_pl_ksef_fa3_procedure(self):
        """The FA(3) procedure marking of this tax, or False."""
        self.ensure_one()
        return self.l10n_pl_ksef_procedure or _TEMPLATE_PROCEDURES.get(self._l10n_pl_ksef_template_suffix(), False)
