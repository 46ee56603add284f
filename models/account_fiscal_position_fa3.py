from odoo import fields, models

from .account_tax_fa3 import EXEMPTION_KIND_SELECTION


class AccountFiscalPosition(models.Model):
    _inherit = 'account.fiscal.position'

    l10n_pl_ksef_exemption_kind = fields.Selection(
        EXEMPTION_KIND_SELECTION, string="Exemption basis type",
        help="Used on KSeF invoices with exempt (zw) lines when the exempt tax has no basis of its own.")
    l10n_pl_ksef_exemption_basis = fields.Char(
        string="Exemption legal basis",
        help="E.g. \"art. 113 ust. 1 ustawy o VAT\" for the small-business exemption.")
