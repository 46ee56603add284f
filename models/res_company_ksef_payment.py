"""Per-company choice of the payment reference offered on customer invoices accepted by KSeF."""
from odoo import fields, models

PAYMENT_REFERENCE_CHOICES = [
    ('ksef_with_odoo', "Odoo's reference and the KSeF number"),
    ('ksef', "The KSeF number alone"),
    ('odoo', "Odoo's reference only"),
]


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_payment_reference = fields.Selection(
        PAYMENT_REFERENCE_CHOICES, string="Payment reference of invoices in KSeF", default='ksef_with_odoo',
        required=True,
        help="What customers are asked to quote in their transfer once KSeF accepted the invoice. From 1 January "
             "2027 a business payment must quote the invoice's KSeF number (or a collective identifier).")


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    l10n_pl_ksef_payment_reference = fields.Selection(related='company_id.l10n_pl_ksef_payment_reference',
                                                      readonly=False)
