"""KSeF numbers and collective identifiers (IZ) on invoices for payments: the payment reference of accepted
customer invoices, a KSeF number typed on a vendor bill, the IZs an invoice belongs to, and the list action
that obtains one IZ for several accepted invoices of one customer."""
from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..ksef_protocol.api_collective import MAX_INVOICES, MIN_INVOICES
from ..ksef_protocol.validators import is_valid_ksef_number


class AccountMove(models.Model):
    _inherit = 'account.move'

    l10n_pl_ksef_collective_identifier_ids = fields.Many2many(
        'ksef.collective.identifier', string="KSeF collective identifiers",
        compute='_compute_l10n_pl_ksef_collective_identifier_ids',
        help="Collective identifiers (IZ) in which this invoice is paid or listed.")
    l10n_pl_ksef_collective_identifier_count = fields.Integer(
        string="Number of KSeF collective identifiers", compute='_compute_l10n_pl_ksef_collective_identifier_ids')

    def _compute_l10n_pl_ksef_collective_identifier_ids(self):
        lines = self.env['ksef.collective.identifier.line'].search([('move_id', 'in', self.ids)]) if self.ids else []
        by_move = {}
        for line in lines:
            by_move.setdefault(line.move_id.id, self.env['ksef.collective.identifier'])
            by_move[line.move_id.id] |= line.identifier_id
        for move in self:
            identifiers = by_move.get(move.id, self.env['ksef.collective.identifier'])
            move.l10n_pl_ksef_collective_identifier_ids = identifiers
            move.l10n_pl_ksef_collective_identifier_count = len(identifiers)

    @api.constrains('l10n_pl_ksef_number', 'move_type')
    def _check_l10n_pl_ksef_number_typed(self):
        # Numbers received from KSeF are KSeF's own; only a number typed on a bill is checked.
        for move in self:
            if move.l10n_pl_ksef_number and move.is_purchase_document() and not move.l10n_pl_ksef_received_date \
                    and not is_valid_ksef_number(move.l10n_pl_ksef_number.strip()):
                raise ValidationError(self.env._(
                    "%(number)s is not a KSeF number: it has 35 characters, NIP-YYYYMMDD-12 hex digits-check digits "
                    "(e.g. 5265877635-20250826-0100001AF629-AF). Copy it from the invoice's QR code or from KSeF.",
                    number=move.l10n_pl_ksef_number))

    def write(self, vals):
        if vals.get('l10n_pl_ksef_number'):
            vals = dict(vals, l10n_pl_ksef_number=vals['l10n_pl_ksef_number'].strip().upper())
        result = super().write(vals)
        if vals.get('l10n_pl_ksef_number'):
            self.filtered(lambda m: m.move_type == 'out_invoice')._l10n_pl_ksef_set_payment_reference()
        return result

    def _l10n_pl_ksef_set_payment_reference(self):
        """Offer the KSeF number as payment reference once KSeF accepted the invoice (company's choice)."""
        for move in self:
            choice = move.company_id.l10n_pl_ksef_payment_reference
            number = move.l10n_pl_ksef_number
            if not number or choice == 'odoo' or number in (move.payment_reference or ''):
                continue
            if choice == 'ksef':
                reference = number
            else:
                reference = ' '.join(filter(None, [move.payment_reference or move.name, number]))
            # Not part of the FA(3) KSeF holds (it is set once KSeF accepted it): the lock allows it.
            move.with_context(l10n_pl_ksef_allow_locked_write=True).payment_reference = reference

    def action_view_l10n_pl_ksef_collective_identifiers(self):
        self.ensure_one()
        identifiers = self.l10n_pl_ksef_collective_identifier_ids
        action = {
            'type': 'ir.actions.act_window',
            'name': self.env._("KSeF collective identifiers"),
            'res_model': 'ksef.collective.identifier',
            'view_mode': 'list,form',
            'domain': [('id', 'in', identifiers.ids)],
        }
        if len(identifiers) == 1:
            action.update(view_mode='form', res_id=identifiers.id)
        return action

    def action_l10n_pl_ksef_collective_identifier(self):
        """List action: one IZ from KSeF for these accepted invoices of one customer (their open amounts), printed."""
        _ = self.env._
        if not MIN_INVOICES <= len(self) <= MAX_INVOICES:
            raise UserError(_("Select %(min)s to %(max)s invoices for one collective identifier (selected: "
                              "%(count)s).", min=MIN_INVOICES, max=MAX_INVOICES, count=len(self)))
        not_accepted = self.filtered(lambda m: m.move_type != 'out_invoice' or m.state != 'posted'
                                     or not m.l10n_pl_ksef_number)
        if not_accepted:
            raise UserError(_("Only posted customer invoices accepted by KSeF (with a KSeF number) can be grouped "
                              "under a collective identifier. Not yet: %(names)s.",
                              names=", ".join(not_accepted.mapped('display_name'))))
        if len(self.company_id) > 1 or len(self.commercial_partner_id) > 1:
            raise UserError(_("A collective identifier groups the invoices of one company to one customer; the "
                              "selection has %(partners)s.", partners=", ".join(self.commercial_partner_id.mapped('name'))))
        if len(self.currency_id) > 1:
            raise UserError(_("Select invoices in one currency: the amounts go to KSeF with their currency."))
        items = [(move, move.amount_residual or move.amount_total, move.currency_id) for move in self]
        identifier = self.env['ksef.collective.identifier']._l10n_pl_ksef_obtain(
            self.company_id, items, direction='inbound', origin='customer', partner=self.commercial_partner_id)
        return identifier.action_print()
