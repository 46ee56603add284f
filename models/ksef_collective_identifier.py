"""Collective identifiers (IZ) kept in Odoo: obtained for payments and customer statements, or resolved
from bank statements. One IZ names 2-500 invoices of one seller (KSeF API 2.7.0+)."""
import logging
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_repr

from ..ksef_protocol.api_collective import CollectiveInvoice
from ..ksef_protocol.errors import KsefError
from .ksef_collective_identifier_errors import raise_collective_error

_logger = logging.getLogger(__name__)


class KsefCollectiveIdentifier(models.Model):
    _name = 'ksef.collective.identifier'
    _description = "KSeF collective identifier (IZ)"
    _order = 'date_created desc, id desc'
    _check_company_auto = True

    name = fields.Char(string="Collective identifier", required=True, readonly=True, index=True,
                       help="Number KSeF gave to this group of invoices: quote it in the bank transfer that pays them.")
    company_id = fields.Many2one('res.company', required=True, readonly=True, default=lambda self: self.env.company)
    partner_id = fields.Many2one('res.partner', string="Partner", readonly=True,
                                 help="The supplier paid, or the customer who pays.")
    direction = fields.Selection([('outbound', "We pay the seller"), ('inbound', "We are the seller")],
                                 required=True, readonly=True)
    origin = fields.Selection([('payment', "Vendor payment"), ('customer', "Customer invoices"),
                               ('bank', "Bank statement")], required=True, readonly=True,
                              help="Where Odoo met this identifier: obtained for a vendor payment, for customer "
                                   "invoices, or found in a bank statement line and resolved through KSeF.")
    date_created = fields.Datetime(string="Obtained on", readonly=True, default=fields.Datetime.now)
    line_ids = fields.One2many('ksef.collective.identifier.line', 'identifier_id', string="Invoices", readonly=True)
    move_ids = fields.Many2many('account.move', string="Invoices in Odoo", compute='_compute_move_ids')
    payment_ids = fields.One2many('account.payment', 'l10n_pl_ksef_collective_identifier_id', string="Payments",
                                  readonly=True)
    invoice_count = fields.Integer(compute='_compute_move_ids')

    _name_company_unique = models.Constraint(
        'UNIQUE(company_id, name)', "This collective identifier is already recorded for the company.")

    @api.depends('line_ids.move_id')
    def _compute_move_ids(self):
        for record in self:
            record.move_ids = record.line_ids.move_id
            record.invoice_count = len(record.line_ids)

    # ------------------------------------------------------------------
    # Obtaining one
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_obtain(self, company, items, *, direction, origin, partner):
        """The IZ for ``items`` (``[(move, amount or None, currency or None)]``): the one already recorded for
        exactly these invoices and amounts, else KSeF's (looked up first, then generated).

        Raises a ``UserError`` that says what to do when the request cannot be made or KSeF refuses it.
        """
        invoices = []
        for move, amount, currency in items:
            invoices.append(CollectiveInvoice(
                move.l10n_pl_ksef_number,
                Decimal(float_repr(amount, currency.decimal_places)) if amount is not None else None,
                currency.name if amount is not None else None,
                (move.ref or move.name or '')[:512] or None))
        existing = self._l10n_pl_ksef_find_recorded(company, invoices)
        if existing:
            return existing
        client = company._l10n_pl_ksef_get_client()
        try:
            number, _created = client.obtain_collective_identifier(invoices)
        except ValueError as error:
            raise UserError(self.env._("This group of invoices cannot get a collective identifier: %(reason)s",
                                       reason=error)) from error
        except KsefError as error:
            raise_collective_error(self.env, error, company)
        record = self.search([('company_id', '=', company.id), ('name', '=', number)], limit=1)
        if record:
            return record
        by_number = {move.l10n_pl_ksef_number: move for move, _amount, _currency in items}
        return self.sudo().create({
            'name': number,
            'company_id': company.id,
            'partner_id': partner.id,
            'direction': direction,
            'origin': origin,
            'line_ids': [fields.Command.create(self._l10n_pl_ksef_line_vals(company, invoice, by_number))
                         for invoice in invoices],
        }).sudo(False)

    @api.model
    def _l10n_pl_ksef_line_vals(self, company, invoice, moves_by_number):
        currency = self.env['res.currency'].search([('name', '=', invoice.currency)], limit=1) \
            if invoice.currency else self.env['res.currency']
        return {
            'ksef_number': invoice.ksef_number,
            'move_id': moves_by_number.get(invoice.ksef_number, self.env['account.move']).id,
            'amount': float(invoice.amount) if invoice.amount is not None else 0.0,
            'has_amount': invoice.amount is not None,
            'currency_id': (currency or company.currency_id).id,
            'description': invoice.description,
            'details_hidden': invoice.details_hidden,
        }

    @api.model
    def _l10n_pl_ksef_find_recorded(self, company, invoices):
        """An IZ recorded here with exactly ``invoices`` (numbers, amounts, currencies), or an empty set."""
        wanted = sorted(invoices, key=lambda i: i.ksef_number)
        candidates = self.env['ksef.collective.identifier.line'].search([
            ('identifier_id.company_id', '=', company.id), ('ksef_number', '=', wanted[0].ksef_number),
            ('identifier_id.origin', '!=', 'bank'),
        ]).identifier_id
        for record in candidates:
            held = sorted((line._l10n_pl_ksef_as_invoice() for line in record.line_ids), key=lambda i: i.ksef_number)
            if len(held) == len(wanted) and all(a.same_payment(b) for a, b in zip(held, wanted)):
                return record
        return self.browse()

    # ------------------------------------------------------------------
    # Resolving one met on a bank statement
    # ------------------------------------------------------------------
    @api.model
    def _l10n_pl_ksef_resolve(self, company, number):
        """The recorded IZ ``number`` of ``company``, else asked from KSeF and recorded (empty if unknown there).

        :raises ksef_protocol.errors.KsefError: when KSeF cannot be asked.
        """
        record = self.search([('company_id', '=', company.id), ('name', '=', number)], limit=1)
        if record:
            return record
        client = company._l10n_pl_ksef_get_client()
        invoices = list(client.iter_collective_identifier_invoices([number], page_size=500))
        if not invoices:
            return self.browse()
        moves = self.env['account.move'].search([('company_id', '=', company.id),
                                                 ('l10n_pl_ksef_number', 'in', [i.ksef_number for i in invoices])])
        by_number = {move.l10n_pl_ksef_number: move for move in moves}
        seller_is_us = number[:10] == company._l10n_pl_ksef_nip()
        return self.sudo().create({
            'name': number,
            'company_id': company.id,
            'partner_id': moves.partner_id[:1].commercial_partner_id.id,
            'direction': 'inbound' if seller_is_us else 'outbound',
            'origin': 'bank',
            'line_ids': [fields.Command.create(self._l10n_pl_ksef_line_vals(company, invoice, by_number))
                         for invoice in invoices],
        }).sudo(False)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_print(self):
        return self.env.ref('l10n_pl_ksef.action_report_ksef_collective_identifier').report_action(self)

    def action_view_invoices(self):
        self.ensure_one()
        return {
            'type': 'ir.actions.act_window',
            'name': self.env._("Invoices of %(number)s", number=self.name),
            'res_model': 'account.move',
            'view_mode': 'list,form',
            'domain': [('id', 'in', self.line_ids.move_id.ids)],
        }


class KsefCollectiveIdentifierLine(models.Model):
    _name = 'ksef.collective.identifier.line'
    _description = "Invoice of a KSeF collective identifier"
    _order = 'identifier_id, ksef_number'

    identifier_id = fields.Many2one('ksef.collective.identifier', required=True, ondelete='cascade', index=True)
    company_id = fields.Many2one(related='identifier_id.company_id', store=True)
    ksef_number = fields.Char(string="KSeF number", required=True, index=True)
    move_id = fields.Many2one('account.move', string="Invoice", index='btree_not_null', ondelete='set null')
    has_amount = fields.Boolean(string="Amount given")
    amount = fields.Monetary(string="Amount paid", currency_field='currency_id')
    currency_id = fields.Many2one('res.currency')
    description = fields.Char()
    details_hidden = fields.Boolean(string="Details hidden by KSeF",
                                    help="KSeF shows the amount and description only to whoever created the "
                                         "identifier or has a role on the invoice.")

    def _l10n_pl_ksef_as_invoice(self):
        self.ensure_one()
        return CollectiveInvoice(self.ksef_number, Decimal(float_repr(self.amount, self.currency_id.decimal_places))
                                 if self.has_amount else None, self.currency_id.name if self.has_amount else None)
