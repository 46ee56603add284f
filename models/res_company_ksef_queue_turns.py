"""Sending for many companies in one database: the queue serves the least recently served company first.

One run of the queue shares its time between companies (see ``RUN_BUDGET_SECONDS``); a company
whose turn came is recorded first, so a company with a long queue goes after the others next time
instead of taking every run.
"""
from odoo import fields, models


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_queue_turn = fields.Integer(
        string="KSeF queue turn", readonly=True, copy=False,
        help="Order in which the KSeF sending queue last served this company: the least recently served "
             "company goes first.")

    def _l10n_pl_ksef_queue_turns(self):
        """These companies, least recently served first (never served: first of all)."""
        return self.sorted(lambda company: (company.l10n_pl_ksef_queue_turn, company.id))

    def _l10n_pl_ksef_take_queue_turn(self):
        """This company is served now: it goes after every other one next time."""
        self.ensure_one()
        self.env['res.company'].flush_model(['l10n_pl_ksef_queue_turn'])
        self.env.cr.execute("SELECT COALESCE(MAX(l10n_pl_ksef_queue_turn), 0) FROM res_company")
        self.sudo().l10n_pl_ksef_queue_turn = self.env.cr.fetchone()[0] + 1
