from odoo import fields, models

THIRD_PARTY_ROLES = [
    ('1', "Factor"), ('2', "Recipient"), ('3', "Original entity"), ('4', "Additional buyer"),
    ('5', "Invoice issuer"), ('6', "Payer"), ('7', "Local government unit (JST) - issuer"),
    ('8', "Local government unit (JST) - recipient"), ('9', "VAT group member - issuer"),
    ('10', "VAT group member - recipient"), ('11', "Employee"), ('other', "Other role"),
]


class L10nPlKsefFa3Party(models.Model):
    """An additional party of a KSeF invoice (FA(3) Podmiot3): a recipient, a payer,
    a JST sub-unit or a VAT group member."""
    _name = 'l10n_pl_ksef.fa3.party'
    _description = "KSeF invoice third party (Podmiot3)"
    _order = 'sequence, id'

    move_id = fields.Many2one('account.move', required=True, ondelete='cascade', index=True)
    sequence = fields.Integer(default=10)
    partner_id = fields.Many2one('res.partner', string="Partner", required=True)
    role = fields.Selection(THIRD_PARTY_ROLES, required=True, default='2')
    role_description = fields.Char(string="Role description", help="Describes the role when it is \"Other role\".")
    share = fields.Float(string="Share (%)", digits=(5, 2),
                         help="For additional buyers: their percentage share of the invoice.")
