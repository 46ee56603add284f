"""Credit notes: the reason typed in the "Credit Note" dialog is the FA(3) correction reason shown on the form."""
from odoo import models


class AccountMoveReversal(models.TransientModel):
    _inherit = 'account.move.reversal'

    def _prepare_default_reversal(self, move):
        values = super()._prepare_default_reversal(move)
        if self.reason and move.move_type == 'out_invoice' and move.company_id._l10n_pl_ksef_is_polish():
            values['l10n_pl_ksef_correction_reason'] = self.reason
        return values
