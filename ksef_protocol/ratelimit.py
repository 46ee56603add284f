"""Client-side sliding-window rate limiter mirroring KSeF's limits (digest §13).

KSeF counts requests per (context, client IP) in three sliding windows at once
(last 1 s, 60 s and 60 min) and answers 429 on the first breach, with blocks
that grow on repeated breaches.  Waiting on our side is therefore cheaper than
being throttled.  One limiter instance should be shared by every client that
talks for the same context from the same machine.

The clock and sleep are injectable so tests can check timing without waiting.
"""
import collections
import threading
import time

from .errors import KsefRateLimited

#: Sliding windows in seconds, in the order of ``(per_second, per_minute, per_hour)``.
WINDOWS = (1.0, 60.0, 3600.0)

#: Documented defaults (digest §13 table, also ``x-rate-limits`` in open-api.json).
DEFAULT_LIMITS = {
    "onlineSession": (10, 30, 120),
    "onlineSessionClose": (20, 60, 240),   # own group since API 2.9.0
    "invoiceSend": (10, 30, 180),
    "batchSession": (10, 20, 60),
    "batchSessionClose": (20, 40, 120),    # own group since API 2.9.0
    "collectiveIdentifier": (20, 120, 240),
    "invoiceStatus": (30, 120, 1200),
    "sessionList": (5, 10, 60),
    "sessionInvoiceList": (10, 20, 200),
    "sessionMisc": (10, 120, 1200),
    "invoiceMetadata": (8, 16, 20),
    "invoiceExport": (8, 16, 20),
    "invoiceExportStatus": (10, 60, 600),
    "invoiceDownload": (8, 16, 64),
    "other": (10, 30, 120),
    # Public endpoints (/auth/*, /security/public-key-certificates): 60 req/s per IP only.
    "public": (60, None, None),
}


def _limit(value):
    """A window's limit, or None when KSeF gives none (missing, -1 or not a positive integer)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class RateLimiter:
    """Per-group sliding-window limiter.

    ``acquire(group)`` blocks (through the injected ``sleep``) until a request of
    that group fits in all windows, then records it.  If the needed wait exceeds
    ``max_wait`` seconds it raises :class:`KsefRateLimited` instead, so a cron job
    can reschedule rather than hang for up to an hour.
    """

    def __init__(self, limits=None, *, clock=time.monotonic, sleep=time.sleep, max_wait=60.0, safety_margin=0.05):
        self._limits = dict(DEFAULT_LIMITS)
        if limits:
            self._limits.update(limits)
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        # Extra seconds added to every window: requests reach KSeF with varying latency, so a
        # request sent exactly one window after an earlier one may arrive inside the window.
        self.safety_margin = safety_margin
        self._history = collections.defaultdict(collections.deque)
        self._blocked_until = {}
        self._lock = threading.Lock()

    @property
    def limits(self):
        """Current limits: ``{group: (per_second, per_minute, per_hour)}`` (None = unlimited)."""
        return dict(self._limits)

    def update_from_api(self, payload):
        """Adopt the effective limits returned by ``GET /rate-limits``.

        ``payload`` is ``{group: {"perSecond", "perMinute", "perHour"}}``; unknown
        groups are added, malformed entries ignored. A value of -1 (API 2.9.0: ``anonymous`` and
        ``global`` per minute/hour) means no limit in that window; ``anonymous`` is our ``public`` group.
        """
        for group, values in (payload or {}).items():
            if isinstance(values, dict):
                limits = tuple(_limit(values.get(name)) for name in ("perSecond", "perMinute", "perHour"))
                self._limits["public" if group == "anonymous" else group] = limits

    def _group_limits(self, group):
        return self._limits.get(group) or self._limits["other"]

    def delay_for(self, group):
        """Seconds to wait before a request of ``group`` fits all windows (0.0 if it fits now)."""
        with self._lock:
            return self._delay_locked(group, self._clock())

    def _delay_locked(self, group, now):
        history = self._history[group]
        # Forget requests older than the longest window.
        while history and history[0] <= now - WINDOWS[-1]:
            history.popleft()
        delay = max(0.0, self._blocked_until.get(group, now) - now)
        for window, limit in zip(WINDOWS, self._group_limits(group)):
            if not limit:
                continue
            in_window = [t for t in history if t > now - window - self.safety_margin]
            if len(in_window) >= limit:
                # The oldest request that must leave the window before we may go.
                oldest_blocking = in_window[len(in_window) - limit]
                delay = max(delay, oldest_blocking + window + self.safety_margin - now)
        return delay

    def acquire(self, group):
        """Wait until a ``group`` request is allowed, record it and return the seconds waited."""
        if group is None:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay_locked(group, now)
                if delay <= 0:
                    self._history[group].append(now)
                    return waited
            if waited + delay > self.max_wait:
                raise KsefRateLimited(
                    "Client-side rate limit for KSeF group %r reached; retry in %.1f s." % (group, delay),
                    retry_after=delay)
            self._sleep(delay)
            waited += delay

    def penalize(self, group, seconds):
        """Record a server 429 so the whole group pauses for ``seconds`` (no parallel retries)."""
        if group is None or not seconds:
            return
        with self._lock:
            until = self._clock() + seconds
            self._blocked_until[group] = max(until, self._blocked_until.get(group, until))
