"""KSeF's rate limits are kept across cron runs and worker processes (state in the database)."""
import contextlib

from odoo.tests import tagged

from ..ksef_protocol import RateLimiter
from ..ksef_protocol.errors import KsefRateLimited
from .common import KsefEmulatorCase


@tagged('post_install', '-at_install', 'l10n_pl_ksef')
class TestSendRateLimits(KsefEmulatorCase):

    def test_a_later_run_remembers_what_earlier_runs_sent(self):
        first_run = self.company._l10n_pl_ksef_get_client(authenticated=False)
        for _ in range(5):  # sessionList allows 5 requests per second
            first_run.limiter.acquire('sessionList')
        later_run = self.company._l10n_pl_ksef_get_client(authenticated=False)
        self.assertGreater(later_run.limiter.delay_for('sessionList'), 0.5,
                           "a new client of the same context must wait for the 1-second window")
        self.assertEqual(RateLimiter().delay_for('sessionList'), 0.0,
                         "an in-memory limiter (the old behaviour) would have forgotten them")
        other_company = self.setup_other_company(name="Druga Sp. z o.o.")['company']
        other_company.vat = 'PL5265877635'
        other_company.l10n_pl_ksef_environment = self.company.l10n_pl_ksef_environment
        other_company.l10n_pl_ksef_custom_url = self.company.l10n_pl_ksef_custom_url
        self.assertEqual(other_company._l10n_pl_ksef_rate_limiter().delay_for('sessionList'), 0.0,
                         "limits are counted per KSeF context")

    def test_limits_survive_the_callers_rollback(self):
        with contextlib.suppress(ZeroDivisionError), self.env.cr.savepoint():
            limiter = self.company._l10n_pl_ksef_rate_limiter()
            for _ in range(5):
                limiter.acquire('sessionList')
            1 / 0  # noqa: B018 the run fails after its requests reached KSeF
        self.assertGreater(self.company._l10n_pl_ksef_rate_limiter().delay_for('sessionList'), 0.5,
                           "requests KSeF has counted stay counted when our transaction rolls back")

    def test_a_429_pauses_every_later_client_of_the_context(self):
        client = self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.emulator.admin('/faults', {'pathPattern': '/rate-limits$', 'kind': 'status', 'status': 429,
                                        'retryAfter': 40, 'count': 1})
        with self.assertRaises(KsefRateLimited):
            client.get_rate_limits()  # 40 s is longer than a worker may sleep: the run gives up
        next_run = self.company._l10n_pl_ksef_get_client(authenticated=False)
        self.assertGreater(next_run.limiter.delay_for('other'), 30.0,
                           "the next run must not call KSeF before Retry-After has passed")
        # Committed by the limiter's own transaction: read it as another worker would, in a new one.
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT max(blocked_until) FROM ksef_rate_limit_state WHERE group_name = 'other'")
            self.assertGreater(cr.fetchone()[0] or 0, 0, "the block is stored in the database")

    def test_the_limits_ksef_sets_for_the_context_are_the_ones_kept(self):
        client = self.company._l10n_pl_ksef_get_client(authenticated=True)
        self.assertEqual(client.limiter._group_limits('invoiceSend'), (10, 30, 180), "production's by default")
        self.assertEqual(self.company.l10n_pl_ksef_rate_limits['invoiceSend']['perHour'], 180,
                         "read from KSeF with the token")
        # A TE user raises the limits of the context (limity-api.md: POST /testdata/rate-limits).
        profile = {group: values for group, values in self.company.l10n_pl_ksef_rate_limits.items()
                   if group not in ('anonymous', 'global', 'onlineSessionClose', 'batchSessionClose')}
        profile['invoiceSend'] = {'perSecond': 20, 'perMinute': 300, 'perHour': 1800}
        client._request('POST', '/testdata/rate-limits', json={'rateLimits': profile})
        self.assertEqual(self.company._l10n_pl_ksef_get_client().limiter._group_limits('invoiceSend'),
                         (10, 30, 180), "read once per token, not on every run")
        self.company._l10n_pl_ksef_forget_access_token()
        renewed = self.company._l10n_pl_ksef_get_client()
        self.assertEqual(renewed.limiter._group_limits('invoiceSend'), (20, 300, 1800))
        self.assertEqual(self.company._l10n_pl_ksef_get_client().limiter._group_limits('invoiceSend'),
                         (20, 300, 1800), "a later run with the stored token keeps them")
