"""Receiving for many companies in one database: every company gets its turn.

An accounting office runs receiving for hundreds of client companies, each within its own KSeF
context limits. One run serves the companies least recently tried first, stops starting new ones
after a time budget (the cron is triggered again at once for the rest), and a company being
received by another worker (cron or button) is skipped, not waited for. A company whose receiving
fails (outage, missing grant) is tried again only after the others had their turn.

Runs triggered for the rest belong to one round: they serve only the companies not tried since the
round started, and the round ends with the run that reaches the last of them. Otherwise, with more
companies than one run's budget can serve, every run would end on the budget and trigger the next,
serving the companies again and again without end.
"""
import contextlib
import datetime
import logging
import time

import psycopg2

from odoo import fields, models

_logger = logging.getLogger(__name__)

#: Seconds a receiving run keeps starting companies; the rest go to the next run, triggered at once
#: (well inside the 60 s a run may take: Odoo's default cron time limit is 120 s).
RECEIVE_RUN_BUDGET_SECONDS = 40.0
#: Context key: when (``time.time()``) the current receiving run must end; the client-side rate limiter
#: never sleeps past it (it hands over to a run triggered for when the limit frees).
RECEIVE_RUN_DEADLINE = 'l10n_pl_ksef_receive_run_deadline'
#: ir.config_parameter holding when the current receiving round started (empty: no round in progress).
RECEIVE_ROUND_PARAM = 'l10n_pl_ksef.receive_round_start'
#: A round older than this is over anyway (e.g. a run that crashed never ended it).
RECEIVE_ROUND_MAX_AGE = datetime.timedelta(hours=1)
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
        except psycopg2.Error:
            # The transaction is aborted (e.g. another worker updated this company's row): roll it back, or
            # not even the lock could be given back. The session-level lock survives the rollback.
            cr.rollback()
            raise
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", (_RECEIVE_LOCK_NAMESPACE, self.id))

    def _l10n_pl_ksef_receive_turn_failed(self, error):
        """A company's turn ended in a database conflict: the run goes on with the next company.

        Two workers touch the same company row, e.g. the sending queue stores new KSeF tokens of the
        context while receiving imports (``could not serialize access due to concurrent update``).
        Without this, one company's conflict ended the whole run and every company after it waited
        for the next scheduled run (an hour later).
        """
        self.ensure_one()
        _logger.info("KSeF receiving of company %s ended by a database conflict, tried again in the next run: %s",
                     self.id, str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)

    def _l10n_pl_ksef_receiving_round(self):
        """``(started, continued)``: the round in progress (a run triggered for the rest), or a new one."""
        param = self.env['ir.config_parameter'].sudo().get_param(RECEIVE_ROUND_PARAM)
        now = fields.Datetime.now()
        started = fields.Datetime.to_datetime(param) if param else None
        if started and started > now - RECEIVE_ROUND_MAX_AGE:
            return started, True
        return now, False

    def _l10n_pl_ksef_receiving_round_end(self, started, finished):
        """Keep the round for the runs triggered for the rest, or end it once every company had its turn."""
        self.env['ir.config_parameter'].sudo().set_param(
            RECEIVE_ROUND_PARAM, False if finished else fields.Datetime.to_string(started))

    def _l10n_pl_ksef_receiving_served(self, round_started):
        """True when this company had its turn in the round started at ``round_started``."""
        self.ensure_one()
        attempt = self.l10n_pl_ksef_receive_attempt_date
        return bool(attempt) and attempt >= round_started

    def _l10n_pl_ksef_receiving_again(self, round_started):
        """The company asked to carry on (more packages, a rate limit, an outage): its turn again in this round."""
        self.ensure_one()
        self.sudo().l10n_pl_ksef_receive_attempt_date = round_started - datetime.timedelta(seconds=1)

    @staticmethod
    def _l10n_pl_ksef_receiving_deadline():
        # Wall-clock time: the shared rate limiter's clock (its history is compared across processes).
        return time.time() + RECEIVE_RUN_BUDGET_SECONDS
