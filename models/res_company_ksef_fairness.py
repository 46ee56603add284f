"""Receiving for many companies in one database: every company gets its turn.

An accounting office runs receiving for hundreds of client companies, each within its own KSeF
context limits. One run serves the companies least recently tried first, stops starting new ones
after a time budget (the cron is triggered again at once for the rest), and a company being
received by another worker (cron or button) is skipped, not waited for. A company whose receiving
fails (outage, missing grant) is tried again only after the others had their turn.
"""
import contextlib
import time

from odoo import fields, models

#: Seconds a receiving run keeps starting companies; the rest go to the next run, triggered at once
#: (well inside the 60 s a run may take: Odoo's default cron time limit is 120 s).
RECEIVE_RUN_BUDGET_SECONDS = 40.0
#: pg advisory lock namespace of receiving (one worker per company at a time).
_RECEIVE_LOCK_NAMESPACE = 0x4B534546  # "KSEF"


class ResCompany(models.Model):
    _inherit = 'res.company'

    l10n_pl_ksef_receive_attempt_date = fields.Datetime(
        string="Last KSeF receiving attempt", readonly=True, copy=False,
        help="When receiving was last tried for this company (success or not): the least recently tried "
             "company is served first.")

    def _l10n_pl_ksef_receiving_turns(self):
        """Companies that receive, least recently tried first (never tried: first of all)."""
        return self.sudo().search([('l10n_pl_ksef_receive_enabled', '=', True)],
                                  order='l10n_pl_ksef_receive_attempt_date asc nulls first, id')

    @contextlib.contextmanager
    def _l10n_pl_ksef_receiving_turn(self):
        """Yield True while this worker holds the company's receiving turn, False when another worker has it.

        A session-level advisory lock: it survives the commits between receiving steps and is given
        back at the end (or when a crashed worker's connection closes).
        """
        self.ensure_one()
        cr = self.env.cr
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (_RECEIVE_LOCK_NAMESPACE, self.id))
        if not cr.fetchone()[0]:
            yield False
            return
        try:
            # Recorded first: a company that fails does not come first again in the next run.
            self.sudo().l10n_pl_ksef_receive_attempt_date = fields.Datetime.now()
            yield True
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", (_RECEIVE_LOCK_NAMESPACE, self.id))

    @staticmethod
    def _l10n_pl_ksef_receiving_deadline():
        return time.monotonic() + RECEIVE_RUN_BUDGET_SECONDS
