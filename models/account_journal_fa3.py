from odoo import fields, models

from ..ksef_protocol.fa3 import model as fa3

# FA(3) FormaPlatnosci (TFormaPlatnosci) a journal's payments are reported with.
PAYMENT_FORM_SELECTION = [
    (str(fa3.PAYMENT_CASH), "Cash (gotówka)"),
    (str(fa3.PAYMENT_CARD), "Card (karta)"),
    (str(fa3.PAYMENT_VOUCHER), "Voucher (bon)"),
    (str(fa3.PAYMENT_CHEQUE), "Cheque (czek)"),
    (str(fa3.PAYMENT_CREDIT), "Credit (kredyt)"),
    (str(fa3.PAYMENT_TRANSFER), "Bank transfer (przelew)"),
    (str(fa3.PAYMENT_MOBILE), "Mobile payment (płatność mobilna)"),
]
# Without an explicit form, cash journals report cash and bank journals transfers.
_DEFAULT_PAYMENT_FORM = {'cash': fa3.PAYMENT_CASH, 'bank': fa3.PAYMENT_TRANSFER}


class AccountJournal(models.Model):
    _inherit = 'account.journal'

    l10n_pl_ksef_payment_form = fields.Selection(
        PAYMENT_FORM_SELECTION, string="KSeF payment form",
        help="How payments received in this journal are reported on KSeF invoices (FA(3) FormaPlatnosci), "
             "e.g. Card for a bank journal that receives card terminal settlements. When empty, cash "
             "journals report cash and bank journals bank transfer.")

    def _l10n_pl_ksef_fa3_payment_form(self):
        """FA(3) FormaPlatnosci (int) of payments received in this journal, or None when unknown."""
        if not self:
            return None
        self.ensure_one()
        if self.l10n_pl_ksef_payment_form:
            return int(self.l10n_pl_ksef_payment_form)
        return _DEFAULT_PAYMENT_FORM.get(self.type)
