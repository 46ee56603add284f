"""KSeF's rate limits, remembered in the database across cron runs and worker processes.

KSeF counts requests per context in sliding windows of 1 s, 1 min and 1 h, and lengthens
its blocks on repeated breaches. A limiter that lives only as long as one cron run forgets
what earlier runs sent; this store keeps one row per (environment and context, group).
"""
import contextlib
import json

from odoo import api, fields, models
from odoo.sql_db import Cursor

from ..ksef_protocol.ratelimit import GroupState


class KsefRateLimitState(models.Model):
    _name = 'ksef.rate.limit.state'
    _description = "KSeF rate-limit state"
    _log_access = False

    context_key = fields.Char(required=True, index=True,
                              help="KSeF environment and context (NIP) the requests were made for.")
    group_name = fields.Char(required=True, help="KSeF rate-limit group, e.g. invoiceSend.")
    history = fields.Text(default='[]', help="Times (Unix seconds) of the recent requests of the group.")
    blocked_until = fields.Float(help="Unix time until which KSeF asked us to wait (429 Retry-After).")

    _context_group_unique = models.Constraint('UNIQUE(context_key, group_name)',
                                              "One rate-limit state per KSeF context and group.")

    @api.model
    def _store(self, context_key):
        return DatabaseRateLimitStore(self.env.registry, context_key)


class DatabaseRateLimitStore:
    """A ``ksef_protocol`` rate-limit store on ``ksef_rate_limit_state``.

    Each access runs in its own short transaction, committed at once, with the group's row
    locked: workers that talk for the same context take turns, and nothing is lost when the
    caller's own transaction rolls back.
    """

    def __init__(self, registry, context_key):
        self._registry = registry
        self._context_key = context_key

    @contextlib.contextmanager
    def locked(self, group):
        with self._registry.cursor() as cr:
            # A counter under a row lock: read the latest committed row after waiting for the lock. Odoo's
            # REPEATABLE READ would instead fail with "could not serialize access" when another worker
            # updated the row meanwhile (seen with two workers sending and receiving for one context).
            if isinstance(cr, Cursor):  # a test cursor shares the test's transaction, begun already
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute("""
                INSERT INTO ksef_rate_limit_state (context_key, group_name, history, blocked_until)
                VALUES (%s, %s, '[]', 0) ON CONFLICT (context_key, group_name) DO NOTHING
            """, (self._context_key, group))
            cr.execute("""
                SELECT id, history, blocked_until FROM ksef_rate_limit_state
                WHERE context_key = %s AND group_name = %s FOR UPDATE
            """, (self._context_key, group))
            row_id, history, blocked_until = cr.fetchone()
            state = GroupState(json.loads(history or '[]'), blocked_until or 0.0)
            yield state
            cr.execute("UPDATE ksef_rate_limit_state SET history = %s, blocked_until = %s WHERE id = %s",
                       (json.dumps(state.history), state.blocked_until or 0.0, row_id))
