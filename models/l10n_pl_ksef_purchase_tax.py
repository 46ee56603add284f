"""Which purchase tax a received FA(3) line gets, per company and FA(3) rate (P_12).

Each company can set its own tax per rate (Accounting > Configuration > KSeF purchase taxes). A rate
without a setting takes the tax of the l10n_pl chart; a rate the chart has no tax for (22, 7, 4, 3,
np I, np II, margin scheme, OSS) gets a tax derived once from the chart's nearest one, so no received
line is ever left without a tax. The domestic reverse charge (``oo``) takes the chart's
self-assessment tax (VAT due and deductible, net zero); intra-EU acquisitions and imported services can
be set per rate to the chart's ``23% EU`` / ``23% EX`` self-assessed taxes.
"""
from odoo import api, fields, models

from ..ksef_protocol.fa3.purchase import RATE_MARGIN, RATE_OSS

#: Rate -> (chart template taxes, first found wins; or (template to derive from, percent, name)).
CHART_TAXES = {
    '23': ('vz_kraj_23', 'vz_kraj_usl_23'),
    '8': ('vz_kraj_8',),
    '5': ('vz_kraj_5',),
    '0 KR': ('vz_kraj_0',),
    '0 WDT': ('vz_kraj_0',),
    '0 EX': ('vz_kraj_0',),
    'zw': ('vz_kraj_zw',),
    'oo': ('vz_stal',),
}
DERIVED_TAXES = {
    '22': ('vz_kraj_23', 22.0, "22% (KSeF)"),
    '7': ('vz_kraj_8', 7.0, "7% (KSeF)"),
    '4': ('vz_kraj_5', 4.0, "4% (KSeF)"),
    '3': ('vz_kraj_5', 3.0, "3% (KSeF)"),
    'np I': ('vz_kraj_zw', 0.0, "np I (KSeF)"),
    'np II': ('vz_kraj_zw', 0.0, "np II (KSeF)"),
    RATE_MARGIN: ('vz_kraj_zw', 0.0, "Margin scheme (KSeF)"),
    RATE_OSS: ('vz_kraj_zw', 0.0, "OSS (KSeF)"),
}
RATE_SELECTION = [
    ('23', "23%"), ('22', "22%"), ('8', "8%"), ('7', "7%"), ('5', "5%"), ('4', "4%"), ('3', "3%"),
    ('0 KR', "0% domestic (0 KR)"), ('0 WDT', "0% intra-EU supply (0 WDT)"), ('0 EX', "0% export (0 EX)"),
    ('zw', "Exempt (zw)"), ('oo', "Domestic reverse charge (oo)"), ('np I', "Outside Poland (np I)"),
    ('np II', "Outside Poland, art. 100 services (np II)"), (RATE_MARGIN, "Margin scheme"),
    (RATE_OSS, "OSS special procedure"),
]


class L10nPlKsefPurchaseTax(models.Model):
    _name = 'l10n_pl_ksef.purchase.tax'
    _description = "KSeF purchase tax per FA(3) rate"
    _order = 'company_id, id'
    _check_company_auto = True

    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company,
                                 ondelete='cascade')
    rate = fields.Selection(RATE_SELECTION, string="FA(3) rate", required=True)
    tax_id = fields.Many2one('account.tax', string="Purchase tax", required=True, check_company=True,
                             domain="[('type_tax_use', '=', 'purchase')]", ondelete='cascade')

    _unique_rate = models.Constraint('UNIQUE(company_id, rate)', "Each FA(3) rate has one purchase tax per company.")

    @api.model
    def _tax_for_rate(self, company, rate):
        """The purchase tax of ``company`` for the FA(3) rate ``rate``; empty only when the company has
        no Polish chart to take or derive it from."""
        setting = self.sudo().search([('company_id', '=', company.id), ('rate', '=', rate)], limit=1)
        if setting:
            return setting.tax_id
        chart = self.env['account.chart.template'].with_company(company)
        for template_id in CHART_TAXES.get(rate, ()):
            tax = chart.ref(template_id, raise_if_not_found=False)
            if tax and tax.company_id == company:
                if not tax.active:
                    tax.sudo().active = True  # the chart ships the reverse-charge tax archived
                return tax
        if rate not in DERIVED_TAXES:
            return self.env['account.tax']
        template_id, amount, name = DERIVED_TAXES[rate]
        Tax = self.env['account.tax'].sudo().with_company(company).with_context(active_test=False)
        tax = Tax.search([*Tax._check_company_domain(company), ('type_tax_use', '=', 'purchase'),
                          ('name', '=', name)], limit=1)
        if not tax:
            source = chart.ref(template_id, raise_if_not_found=False)
            if not source or source.company_id != company:
                return self.env['account.tax']
            tax = source.sudo().copy({'name': name, 'amount': amount, 'active': True})
        self.sudo().create({'company_id': company.id, 'rate': rate, 'tax_id': tax.id})
        return tax
