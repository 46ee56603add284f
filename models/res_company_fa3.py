from odoo import fields, models


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_cash_accounting = fields.Boolean(
        string="Cash accounting (metoda kasowa)",
        help="The company settles VAT with the cash method (art. 21 of the VAT act): KSeF invoices carry "
             "the \"metoda kasowa\" annotation (P_16).")
