from odoo import fields, models


class ProductTemplate(models.Model):
    _inherit = 'product.template'

    l10n_pl_ksef_annex_15 = fields.Boolean(
        string="Annex 15 (split payment)",
        help="Listed in Annex 15 to the Polish VAT act: KSeF invoices mark the line (P_12_Zal_15) and, "
             "above 15,000 PLN gross to a taxpayer, the split payment mechanism (P_18A).")
